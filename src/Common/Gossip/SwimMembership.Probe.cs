using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>Failure detection (probes, indirect probes) and dissemination (gossip, push-pull).</summary>
public sealed partial class SwimMembership
{
    private readonly List<string> _probeOrder = [];
    private readonly Dictionary<ulong, PendingProbe> _probes = [];
    private int _probeIndex;
    private ulong _sequence;

    private void InsertIntoProbeOrder(string member) => _probeOrder.Insert(_random.Next(_probeOrder.Count + 1), member);

    /// <summary>Shuffled round-robin: every member is probed once per round, in a new order each round.</summary>
    private void ProbeTick()
    {
        for (var checkedCount = 0; checkedCount <= _probeOrder.Count; checkedCount++)
        {
            if (_probeIndex >= _probeOrder.Count)
            {
                _probeOrder.RemoveAll(id => !_members.ContainsKey(id));
                Shuffle(_probeOrder);
                _probeIndex = 0;
                if (_probeOrder.Count == 0)
                {
                    return;
                }
            }

            var id = _probeOrder[_probeIndex++];
            if (_members.TryGetValue(id, out var entry) && entry != _self && !entry.IsDown)
            {
                Probe(entry);
                return;
            }
        }
    }

    private void Shuffle(List<string> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = _random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private void Probe(MemberEntry target)
    {
        var probe = new PendingProbe(++_sequence, target.Id, target.Incarnation);
        _probes[probe.Sequence] = probe;
        var timeout = _awareness.Scale(_options.ProbeTimeout);
        var interval = _awareness.Scale(_options.ProbeInterval);

        var request = new PingRequest { Header = Header(withUpdates: false), Target = target.Id, Sequence = probe.Sequence };
        if (target.Status == MemberStatus.Suspect && target.StatusUpdate is { } suspicion)
        {
            // Lifeguard's buddy system: tell a suspect at once, so it can refute before it is declared dead.
            request.Header.Updates.Add(suspicion);
        }

        request.Header.Updates.Add(_queue.Take(_options.MaxPiggybackBytes - request.Header.CalculateSize(), RetransmitLimit));
        Send(new MemberAddress(target.Id, target.Address), request, timeout, reply =>
        {
            if (reply is PingResponse response && response.Sequence == probe.Sequence)
            {
                AcceptHeader(response.Header, target.Id);
                Acked(probe);
            }
        });
        probe.Timers.Add(Schedule(timeout, () => ProbeIndirectly(probe, target, interval - timeout)));
        probe.Timers.Add(Schedule(interval, () => ProbeFailed(probe)));
    }

    private void ProbeIndirectly(PendingProbe probe, MemberEntry target, TimeSpan remaining)
    {
        if (probe.Done)
        {
            return;
        }

        foreach (var helper in PickRandom(_options.IndirectChecks, e => e.Status == MemberStatus.Alive && e.Id != target.Id))
        {
            probe.ExpectedNacks++;
            var request = new IndirectPingRequest
            {
                Header = Header(withUpdates: true),
                Target = target.Id,
                TargetAddress = target.Address,
                Sequence = probe.Sequence,
                TimeoutMs = (uint)Math.Max(1, remaining.TotalMilliseconds),
            };
            Send(new MemberAddress(helper.Id, helper.Address), request, remaining, reply =>
            {
                if (reply is not IndirectPingResponse response || probe.Done)
                {
                    return;
                }

                AcceptHeader(response.Header, helper.Id);
                if (response.Acked)
                {
                    Acked(probe);
                }
                else
                {
                    probe.Nacks++;
                }
            });
        }
    }

    private void Acked(PendingProbe probe)
    {
        if (probe.Done)
        {
            return;
        }

        Finish(probe);
        _awareness.Apply(-1);
    }

    /// <summary>No ack within the probe interval: suspect the member, and account for missed nacks (Lifeguard).</summary>
    private void ProbeFailed(PendingProbe probe)
    {
        if (probe.Done)
        {
            return;
        }

        Finish(probe);
        // Helpers that answered with neither ack nor nack suggest our own network or process is the slow one.
        _awareness.Apply(probe.ExpectedNacks > 0 ? probe.ExpectedNacks - probe.Nacks : 1);
        // A failed probe of a member already suspected is an independent confirmation (Lifeguard): it
        // shortens the suspicion timeout here and, gossiped, at every member that counts it.
        if (_members.TryGetValue(probe.Target, out var entry) && entry.Status is MemberStatus.Alive or MemberStatus.Suspect && entry.Incarnation == probe.Incarnation)
        {
            var suspect = new Suspect { Member = entry.Id, Incarnation = entry.Incarnation, From = _self.Id };
            ApplySuspect(_signer.Sign(new Update { Suspect = suspect }), suspect);
        }
    }

    private void Finish(PendingProbe probe)
    {
        probe.Cancel();
        _probes.Remove(probe.Sequence);
    }

    /// <summary>Probes a member for another (ping-req): ack if it answers, nack if it does not in time.</summary>
    private void ProbeFor(IndirectPingRequest indirect, Action<Google.Protobuf.IMessage> reply)
    {
        // Answer before the requester gives up, so a nack still arrives in time (memberlist uses 80%).
        var timeout = TimeSpan.FromMilliseconds(indirect.TimeoutMs * 0.8);
        var request = new PingRequest { Header = Header(withUpdates: true), Target = indirect.Target, Sequence = ++_sequence };
        Send(new MemberAddress(indirect.Target, indirect.TargetAddress), request, timeout, response =>
        {
            var acked = response is PingResponse ping && ping.Sequence == request.Sequence;
            if (acked)
            {
                AcceptHeader(((PingResponse)response!).Header, indirect.Target);
            }

            reply(new IndirectPingResponse { Header = Header(withUpdates: false), Sequence = indirect.Sequence, Acked = acked });
        });
    }

    /// <summary>Sends pending updates to a few random members, including recently dead ones.</summary>
    private void GossipTick()
    {
        if (_queue.Count == 0)
        {
            return;
        }

        var now = _scheduler.Now;
        foreach (var member in PickRandom(_options.GossipFanout, e => !e.IsDown || now - e.StatusChanged < _options.GossipToTheDeadTime))
        {
            var header = Header(withUpdates: true);
            if (header.Updates.Count == 0)
            {
                return;
            }

            Send(new MemberAddress(member.Id, member.Address), new GossipRequest { Header = header }, _options.ProbeTimeout, _ => { });
        }
    }

    /// <summary>Full state exchange with one random live member; the interval grows with the pool as in memberlist.</summary>
    private void PushPullTick()
    {
        var members = _members.Count;
        // memberlist's pushPullScale: beyond 32 members, stretch the interval by log2(N) - log2(32) + 1.
        if (members > 32 && _random.NextDouble() > 1.0 / (Math.Ceiling(Math.Log2(members) - Math.Log2(32)) + 1))
        {
            return;
        }

        PushPullWithRandomMember();
    }

    /// <summary>
    /// A member accused of being suspect or dead was probably stalled or cut off and missed the gossip of
    /// that time, which has stopped retransmitting by now; one full state exchange catches it up at once
    /// instead of at the next push-pull tick (up to 30 s later). At most once per probe interval.
    /// </summary>
    private void CatchUpAfterAccusation()
    {
        if (_lastCatchUp is { } last && _scheduler.Now - last < _options.ProbeInterval)
        {
            return;
        }

        _lastCatchUp = _scheduler.Now;
        PushPullWithRandomMember();
    }

    private void PushPullWithRandomMember()
    {
        foreach (var member in PickRandom(1, e => e.Status == MemberStatus.Alive))
        {
            // Digests first; full records only where the views differ, in both directions.
            var request = new PushPullRequest { Header = Header(withUpdates: false) };
            Statistics.PushPulls++;
            request.Digests.Add(LocalDigests());
            var target = new MemberAddress(member.Id, member.Address);
            Send(target, request, _options.ProbeInterval * 5, reply =>
            {
                if (reply is not PushPullResponse response)
                {
                    return;
                }

                AcceptHeader(response.Header, member.Id);
                Merge(response.Members);
                if (response.Wanted.Count > 0)
                {
                    var wanted = new PushPullRequest { Header = Header(withUpdates: false) };
                    wanted.Members.Add(StatesOf(response.Wanted));
                    Send(target, wanted, _options.ProbeInterval * 5, _ => { });
                }
            });
        }
    }

    private sealed class PendingProbe(ulong sequence, string target, ulong incarnation)
    {
        public ulong Sequence { get; } = sequence;

        public string Target { get; } = target;

        public ulong Incarnation { get; } = incarnation;

        public List<IDisposable> Timers { get; } = [];

        public int ExpectedNacks { get; set; }

        public int Nacks { get; set; }

        public bool Done { get; private set; }

        public void Cancel()
        {
            Done = true;
            foreach (var timer in Timers)
            {
                timer.Dispose();
            }
        }
    }
}
