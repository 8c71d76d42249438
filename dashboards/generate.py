#!/usr/bin/env python3
"""Writes the Grafana dashboards of this directory (mesh-overview, node, model, borders) from one list of
panels, so their layout, data source variable and queries stay alike. Edit here, run it, commit both;
tests/LlmRouter.Tests/Telemetry/PrometheusMeshTests.cs runs every query against a real Prometheus."""
import json
import os

def panel(i, title, exprs, unit="short", kind="timeseries", w=12, h=8, desc=""):
    x = (i % 2) * 12 if w == 12 else 0
    y = (i // 2) * 8
    p = {"id": i + 1, "type": kind, "title": title, "description": desc,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"refId": chr(65 + j), "expr": e, "legendFormat": l,
                      "datasource": {"type": "prometheus", "uid": "${datasource}"}} for j, (e, l) in enumerate(exprs)]}
    return p

def var(name, query, label):
    return {"name": name, "label": label, "type": "query", "query": {"query": query, "refId": name},
            "definition": query, "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "includeAll": False, "multi": False, "refresh": 2}

ds = {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus"}

def dashboard(uid, title, desc, panels, variables=()):
    return {"uid": uid, "title": title, "description": desc, "tags": ["llmrouter"], "schemaVersion": 39, "version": 1,
            "editable": True, "time": {"from": "now-1h", "to": "now"}, "refresh": "10s",
            "templating": {"list": [ds] + list(variables)},
            "panels": [panel(i, *p) for i, p in enumerate(panels)]}

R = "$__rate_interval"
overview = dashboard("llmrouter-mesh", "LlmRouter: mesh overview",
  "Every node and integrator of the mesh: requests entering it, how they ended, time to first token, tokens, cost, failovers and members.", [
  ("Requests entering the mesh, by outcome", [(f'sum by (llmrouter_outcome) (rate(llmrouter_requests_total{{llmrouter_hop="entry"}}[{R}]))', "{{llmrouter_outcome}}")], "reqps"),
  ("Failed requests entering the mesh, by status", [(f'sum by (llmrouter_status) (rate(llmrouter_requests_total{{llmrouter_hop="entry",llmrouter_outcome="failed"}}[{R}]))', "{{llmrouter_status}}")], "reqps"),
  ("Time to first token at the backends (p50, p99)", [
     (f'histogram_quantile(0.5, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket[{R}])))', "p50"),
     (f'histogram_quantile(0.99, sum by (le) (rate(gen_ai_server_time_to_first_token_seconds_bucket[{R}])))', "p99")], "s"),
  ("Request duration at the entry (p50, p99)", [
     (f'histogram_quantile(0.5, sum by (le) (rate(llmrouter_request_duration_seconds_bucket{{llmrouter_hop="entry"}}[{R}])))', "p50"),
     (f'histogram_quantile(0.99, sum by (le) (rate(llmrouter_request_duration_seconds_bucket{{llmrouter_hop="entry"}}[{R}])))', "p99")], "s"),
  ("Tokens per second, by type", [(f'sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum[{R}]))', "{{gen_ai_token_type}}")], "short"),
  ("Cost per hour, by model", [(f'sum by (gen_ai_request_model) (rate(llmrouter_cost_usd_total[{R}])) * 3600', "{{gen_ai_request_model}}")], "currencyUSD"),
  ("Failovers and continuations per second", [
     (f'sum(rate(llmrouter_failovers_total[{R}]))', "failovers"),
     (f'sum(rate(llmrouter_continuations_total[{R}]))', "continuations")], "ops"),
  ("Where entry nodes sent requests", [(f'sum by (llmrouter_route) (rate(llmrouter_route_decisions_total{{llmrouter_hop="entry"}}[{R}]))', "{{llmrouter_route}}")], "reqps"),
  ("Members alive per pool (the fewest any process sees)", [('min by (llmrouter_pool) (llmrouter_members{llmrouter_member_state="alive"})', "{{llmrouter_pool}}")], "short"),
  ("Members suspect or dead, by the process that sees them", [('sum by (llmrouter_node, llmrouter_pool) (llmrouter_members{llmrouter_member_state=~"suspect|dead"})', "{{llmrouter_node}} in {{llmrouter_pool}}")], "short"),
])

node = dashboard("llmrouter-node", "LlmRouter: node",
  "One node or integrator: its requests, what it adds, its backends' admission, its attempts and its membership.", [
  ("Requests, by hop and outcome", [(f'sum by (llmrouter_hop, llmrouter_outcome) (rate(llmrouter_requests_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_hop}} {{llmrouter_outcome}}")], "reqps"),
  ("Time this hop adds to the first token (p50, p99)", [
     (f'histogram_quantile(0.5, sum by (le, llmrouter_hop_kind) (rate(llmrouter_hop_added_time_seconds_bucket{{llmrouter_node="$node"}}[{R}])))', "p50 {{llmrouter_hop_kind}}"),
     (f'histogram_quantile(0.99, sum by (le, llmrouter_hop_kind) (rate(llmrouter_hop_added_time_seconds_bucket{{llmrouter_node="$node"}}[{R}])))', "p99 {{llmrouter_hop_kind}}")], "s"),
  ("Attempts, by target and result", [(f'sum by (llmrouter_target, llmrouter_attempt_result) (rate(llmrouter_attempts_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_target}} {{llmrouter_attempt_result}}")], "ops"),
  ("Candidates left out, by reason", [(f'sum by (llmrouter_reason) (rate(llmrouter_candidates_excluded_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_reason}}")], "ops"),
  ("Backend slots in use and queued", [
     ('sum by (llmrouter_backend) (llmrouter_admission_in_flight{llmrouter_node="$node"})', "in flight {{llmrouter_backend}}"),
     ('sum by (llmrouter_backend) (llmrouter_admission_queued{llmrouter_node="$node"})', "queued {{llmrouter_backend}}")], "short"),
  ("Wait for a backend slot (p99), refusals", [
     (f'histogram_quantile(0.99, sum by (le, llmrouter_backend) (rate(llmrouter_admission_wait_seconds_bucket{{llmrouter_node="$node"}}[{R}])))', "p99 wait {{llmrouter_backend}}"),
     (f'sum by (llmrouter_backend) (rate(llmrouter_admission_refused_total{{llmrouter_node="$node"}}[{R}]))', "refused {{llmrouter_backend}}")], "s"),
  ("Gossip messages, by pool and direction", [(f'sum by (llmrouter_pool, llmrouter_direction) (rate(llmrouter_gossip_messages_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_pool}} {{llmrouter_direction}}")], "ops"),
  ("Gossip bytes, by pool and direction", [(f'sum by (llmrouter_pool, llmrouter_direction) (rate(llmrouter_gossip_bytes_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_pool}} {{llmrouter_direction}}")], "Bps"),
  ("Suspicions, refutations, deaths, push-pulls", [
     (f'sum(rate(llmrouter_membership_suspicions_total{{llmrouter_node="$node"}}[{R}]))', "suspicions"),
     (f'sum(rate(llmrouter_membership_refutations_total{{llmrouter_node="$node"}}[{R}]))', "refutations"),
     (f'sum(rate(llmrouter_membership_deaths_total{{llmrouter_node="$node"}}[{R}]))', "deaths"),
     (f'sum(rate(llmrouter_gossip_push_pulls_total{{llmrouter_node="$node"}}[{R}]))', "push-pulls")], "ops"),
  ("Refused updates, by reason", [(f'sum by (llmrouter_reason) (rate(llmrouter_gossip_refused_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_reason}}")], "ops"),
  ("Breakers: copies cooling down, and changes", [
     ('sum by (llmrouter_copy) (llmrouter_breaker_cooling{llmrouter_node="$node"})', "cooling {{llmrouter_copy}}"),
     (f'sum by (llmrouter_copy, llmrouter_breaker_state) (increase(llmrouter_breaker_transitions_total{{llmrouter_node="$node"}}[{R}]))', "{{llmrouter_breaker_state}} {{llmrouter_copy}}")], "short"),
], [var("node", "label_values(llmrouter_requests_total, llmrouter_node)", "Node")])

model = dashboard("llmrouter-model", "LlmRouter: model",
  "One model across every backend that serves it: latency, time to first token, time per output token, tokens, cost and failed calls.", [
  ("Backend call duration (p50, p99), by backend", [
     (f'histogram_quantile(0.5, sum by (le, llmrouter_backend) (rate(gen_ai_server_request_duration_seconds_bucket{{gen_ai_request_model="$model"}}[{R}])))', "p50 {{llmrouter_backend}}"),
     (f'histogram_quantile(0.99, sum by (le, llmrouter_backend) (rate(gen_ai_server_request_duration_seconds_bucket{{gen_ai_request_model="$model"}}[{R}])))', "p99 {{llmrouter_backend}}")], "s"),
  ("Time to first token (p50, p99), by backend", [
     (f'histogram_quantile(0.5, sum by (le, llmrouter_backend) (rate(gen_ai_server_time_to_first_token_seconds_bucket{{gen_ai_request_model="$model"}}[{R}])))', "p50 {{llmrouter_backend}}"),
     (f'histogram_quantile(0.99, sum by (le, llmrouter_backend) (rate(gen_ai_server_time_to_first_token_seconds_bucket{{gen_ai_request_model="$model"}}[{R}])))', "p99 {{llmrouter_backend}}")], "s"),
  ("Time per output token (p50), by backend", [(f'histogram_quantile(0.5, sum by (le, llmrouter_backend) (rate(gen_ai_server_time_per_output_token_seconds_bucket{{gen_ai_request_model="$model"}}[{R}])))', "{{llmrouter_backend}}")], "s"),
  ("Tokens per second, by type", [(f'sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{{gen_ai_request_model="$model"}}[{R}]))', "{{gen_ai_token_type}}")], "short"),
  ("Cost per hour, by backend", [(f'sum by (llmrouter_backend) (rate(llmrouter_cost_usd_total{{gen_ai_request_model="$model"}}[{R}])) * 3600', "{{llmrouter_backend}}")], "currencyUSD"),
  ("Failed backend calls, by backend and status", [(f'sum by (llmrouter_backend, error_type) (rate(gen_ai_server_request_duration_seconds_count{{gen_ai_request_model="$model",error_type!=""}}[{R}]))', "{{llmrouter_backend}} {{error_type}}")], "ops"),
], [var("model", "label_values(gen_ai_server_request_duration_seconds_count, gen_ai_request_model)", "Model")])

borders = dashboard("llmrouter-borders", "LlmRouter: borders",
  "Integrators and the pools they join: routes advertised into each pool, route changes, the requests they carry and the time they add.", [
  ("Routes advertised into each pool, by integrator", [('sum by (llmrouter_node, llmrouter_pool) (llmrouter_border_routes)', "{{llmrouter_node}} into {{llmrouter_pool}}")], "short"),
  ("Routes advertised and withdrawn", [(f'sum by (llmrouter_pool, llmrouter_change) (increase(llmrouter_border_route_changes_total[{R}]))', "{{llmrouter_pool}} {{llmrouter_change}}")], "short"),
  ("Requests sent through an integrator, by entry node", [(f'sum by (llmrouter_node) (rate(llmrouter_route_decisions_total{{llmrouter_route="integrator",llmrouter_hop="entry"}}[{R}]))', "{{llmrouter_node}}")], "reqps"),
  ("Requests carried by integrators, by outcome", [(f'sum by (llmrouter_node, llmrouter_outcome) (rate(llmrouter_requests_total{{llmrouter_hop="forwarded"}}[{R}]) and on (llmrouter_node) (count by (llmrouter_node) (llmrouter_border_routes)))', "{{llmrouter_node}} {{llmrouter_outcome}}")], "reqps"),
  ("Time integrators add to the first token (p99)", [(f'histogram_quantile(0.99, sum by (le, llmrouter_node) (rate(llmrouter_hop_added_time_seconds_bucket[{R}]) and on (llmrouter_node) (count by (llmrouter_node) (llmrouter_border_routes))))', "{{llmrouter_node}}")], "s"),
  ("Members alive in each pool, as integrators see them", [('sum by (llmrouter_node, llmrouter_pool) (llmrouter_members{llmrouter_member_state="alive"} and on (llmrouter_node) (count by (llmrouter_node) (llmrouter_border_routes)))', "{{llmrouter_node}}: {{llmrouter_pool}}")], "short"),
])

for name, d in [("mesh-overview", overview), ("node", node), ("model", model), ("borders", borders)]:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
