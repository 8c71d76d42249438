using LlmRouter.Common.Configuration;

namespace LlmRouter.Node.Hosting;

/// <summary>What starts one node: the mesh file, the node's id in it, and how to log.</summary>
internal sealed record NodeLaunch(MeshConfig Mesh, string NodeId, bool JsonLogs)
{
    /// <summary>Overrides the listen address (tests listen on port 0).</summary>
    public Uri? ListenOverride { get; init; }

    /// <summary>Overrides the HTTP ingress address (tests pick a free port).</summary>
    public Uri? HttpListenOverride { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The source of chance of everything in the node (tests fix it).</summary>
    public Func<double> Random { get; init; } = Common.Hosting.Chance.System;

    /// <summary>How the process's signals stop the host; null keeps the default (tests stop hosts themselves).</summary>
    public IHostLifetime? Lifetime { get; init; }

    /// <summary>Overrides the Prometheus endpoint's address (tests pick a free port).</summary>
    public Uri? MetricsListenOverride { get; init; }

    /// <summary>Least severe log level written: the --log-level flag, or null for the mesh file's (telemetry.log_level).</summary>
    public Serilog.Events.LogEventLevel? MinimumLogLevel { get; init; }

    /// <summary>Where API keys come from; the process environment unless a test says otherwise.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}
