using Google.Protobuf;
using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>Applying updates: alive, suspect, dead, models and load, each checked against its signer.</summary>
public sealed partial class SwimMembership
{
    private SignedUpdate SignAlive() => _signer.Sign(new Update
    {
        Alive = new Alive
        {
            Member = _self.Id,
            Incarnation = _self.Incarnation,
            Address = _self.Address,
            Pool = _self.Pool,
            Role = _self.Role,
            Certificate = ByteString.CopyFrom(_certificate.Span),
        },
    });

    private void Reject(RefusalReason kind, string reason)
    {
        Statistics.Refused(kind);
        Statistics.LastRejection = reason;
        Rejected?.Invoke(reason);
    }

    /// <summary>
    /// Applies one gossiped update. Each kind is first checked for news (a known member, a newer version or
    /// incarnation), which is cheap; only news has its signature checked (gossip retransmits every update
    /// several times, so most arrivals are duplicates), and then its content against <see cref="RecordRules"/>.
    /// </summary>
    private void Apply(SignedUpdate signed)
    {
        Update update;
        try
        {
            update = Update.Parser.ParseFrom(signed.Update);
        }
        catch (InvalidProtocolBufferException ex)
        {
            Reject(RefusalReason.Malformed, $"malformed update from '{signed.Signer}': {ex.Message}");
            return;
        }

        switch (update.KindCase)
        {
            case Update.KindOneofCase.Alive:
                ApplyAlive(signed, update.Alive);
                break;
            case Update.KindOneofCase.Suspect:
                ReceiveSuspect(signed, update.Suspect);
                break;
            case Update.KindOneofCase.Dead:
                ReceiveDead(signed, update.Dead);
                break;
            case Update.KindOneofCase.Models:
                ReceiveModels(signed, update.Models);
                break;
            case Update.KindOneofCase.Load:
                ReceiveLoad(signed, update.Load);
                break;
            case Update.KindOneofCase.Routes:
                ReceiveRoutes(signed, update.Routes);
                break;
            case Update.KindOneofCase.Checkpoint:
                ReceiveCheckpoint(signed, update.Checkpoint);
                break;
            case Update.KindOneofCase.Usage:
                ReceiveUsage(signed, update.Usage);
                break;
        }
    }

    /// <summary>An update must be signed by the member it names as its origin, with that member's key.</summary>
    private bool Verified(SignedUpdate signed, string origin)
    {
        if (!string.Equals(signed.Signer, origin, StringComparison.Ordinal))
        {
            Reject(RefusalReason.ForgedOrigin, $"update originated by '{origin}' was signed by '{signed.Signer}'");
            return false;
        }

        if (!_members.TryGetValue(origin, out var member) || member.Key is null)
        {
            // Not known yet: its alive update (with its certificate) comes first through push-pull. This
            // member's own updates, relayed back to it, end here too: it knows its own state best.
            return false;
        }

        Statistics.SignaturesVerified++;
        if (!_signer.Verify(signed, member.Key))
        {
            Reject(RefusalReason.BadSignature, $"bad signature on an update from '{origin}'");
            return false;
        }

        return true;
    }

    private void ApplyAlive(SignedUpdate signed, Alive alive)
    {
        if (!string.Equals(signed.Signer, alive.Member, StringComparison.Ordinal))
        {
            Reject(RefusalReason.ForgedOrigin, $"alive update about '{alive.Member}' signed by '{signed.Signer}'");
            return;
        }

        if (string.Equals(alive.Member, _self.Id, StringComparison.Ordinal))
        {
            // News of an earlier life of this member (a restart): refute it with a higher incarnation, once
            // its certificate and signature prove that this member really signed that incarnation.
            if (_leaving || alive.Incarnation < _self.Incarnation || signed.Update.Equals(_self.Alive!.Update))
            {
                return;
            }

            Statistics.SignaturesVerified++;
            if (_signer.VerifyAlive(signed, alive, out var own) is null)
            {
                Reject(RefusalReason.ImpersonatesSelf, $"alive update about this member '{alive.Member}' refused: {own}");
                return;
            }

            Refute(alive.Incarnation);
            return;
        }

        _members.TryGetValue(alive.Member, out var entry);
        if (entry is not null && alive.Incarnation <= entry.Incarnation)
        {
            return;
        }

        if (!string.Equals(alive.Pool, _local.Pool, StringComparison.Ordinal))
        {
            Reject(RefusalReason.ForeignPool, $"member '{alive.Member}' of pool '{alive.Pool}' refused in pool '{_local.Pool}'");
            return;
        }

        Statistics.SignaturesVerified++;
        var key = _signer.VerifyAlive(signed, alive, out var reason);
        if (key is null)
        {
            Reject(RefusalReason.Certificate, $"alive update of '{alive.Member}' refused: {reason}");
            return;
        }

        var joined = entry is null;
        if (entry is null)
        {
            entry = new MemberEntry(alive.Member);
            _members[alive.Member] = entry;
            InsertIntoProbeOrder(alive.Member);
        }

        var wasDown = entry.Status != MemberStatus.Alive;
        entry.EndSuspicion();
        entry.Address = alive.Address;
        entry.Pool = alive.Pool;
        entry.Role = alive.Role;
        entry.Incarnation = alive.Incarnation;
        // Usage numbers are per life: a new life's start from its own clock (from 0 in the simulator, or below the old
        // ones after a clock that went back), and relayed origins may number fast; the old life's mean nothing now.
        entry.UsageSequences.Clear();
        entry.Alive = signed;
        entry.Key = key;
        entry.StatusUpdate = null;
        _visibleChange = true;
        if (joined || wasDown)
        {
            entry.Status = MemberStatus.Alive;
            entry.StatusChanged = _scheduler.Now;
        }

        _queue.Enqueue(Key(entry.Id), signed);
        if (joined || wasDown)
        {
            Raise(joined ? MemberEventKind.Joined : MemberEventKind.Alive, entry);
        }
    }

    /// <summary>
    /// A gossiped suspicion: dropped unless it is news (a known member, not down, at its incarnation, from a
    /// member whose confirmation would count), then verified, then bounded: an accusation may name at most
    /// the incarnation the accused itself signed last, so no member can push another past its own reach.
    /// </summary>
    private void ReceiveSuspect(SignedUpdate signed, Suspect suspect)
    {
        if (!_members.TryGetValue(suspect.Member, out var entry) || entry.IsDown || suspect.Incarnation < entry.Incarnation
            || (entry.Status == MemberStatus.Suspect && suspect.Incarnation == entry.Incarnation && !entry.Suspicion!.Counts(suspect.From)))
        {
            return;
        }

        if (Accepted(signed, entry, suspect.From) && WithinSignedIncarnation(entry, suspect.Incarnation, "suspect", suspect.From))
        {
            ApplySuspect(signed, suspect);
        }
    }

    /// <summary>A gossiped death or leave, checked as <see cref="ReceiveSuspect"/> is; a member's own leave names its own incarnation.</summary>
    private void ReceiveDead(SignedUpdate signed, Dead dead)
    {
        if (!_members.TryGetValue(dead.Member, out var entry) || entry.IsDown || dead.Incarnation < entry.Incarnation)
        {
            return;
        }

        var left = string.Equals(dead.From, dead.Member, StringComparison.Ordinal);
        if (Accepted(signed, entry, dead.From) && (left || WithinSignedIncarnation(entry, dead.Incarnation, "dead", dead.From)))
        {
            ApplyDead(signed, dead);
        }
    }

    /// <summary>
    /// Whether an accusation is taken: signed by its accuser, except an accusation of this member by a member
    /// it has not heard of yet (one that joined while it was stalled, say). That one cannot be verified, but
    /// the accused refutes it at once all the same: a refutation only moves its own incarnation one up (the
    /// accusation may not name more than its own), while waiting to learn of the accuser at the next state
    /// exchange would let the pool declare it dead meanwhile.
    /// </summary>
    private bool Accepted(SignedUpdate signed, MemberEntry accused, string accuser) =>
        (accused == _self && !_members.ContainsKey(accuser)) || Verified(signed, accuser);

    /// <summary>Refuses an accusation at an incarnation the accused never signed (one it could not refute without wrapping).</summary>
    private bool WithinSignedIncarnation(MemberEntry accused, ulong incarnation, string kind, string from)
    {
        if (incarnation <= accused.Incarnation)
        {
            return true;
        }

        Reject(RefusalReason.AccusationAhead, $"{kind} accusation of '{accused.Id}' by '{from}' at incarnation {incarnation} is ahead of the incarnation '{accused.Id}' signed last ({accused.Incarnation})");
        return false;
    }

    /// <summary>Applies a suspicion that is news and verified (or made here: a failed probe, a remote view merged).</summary>
    private void ApplySuspect(SignedUpdate signed, Suspect suspect)
    {
        if (!_members.TryGetValue(suspect.Member, out var entry) || suspect.Incarnation < entry.Incarnation || entry.IsDown)
        {
            return;
        }

        if (entry == _self)
        {
            // Only the subject can refute; a suspected member is probably slow, so it also backs off.
            Refute(suspect.Incarnation);
            _awareness.Apply(1);
            CatchUpAfterAccusation();
            return;
        }

        if (entry.Status == MemberStatus.Suspect && suspect.Incarnation == entry.Incarnation)
        {
            if (entry.Suspicion!.Confirm(suspect.From))
            {
                // An independent confirmation shortens the timeout and is worth spreading.
                _queue.Enqueue(Key(entry.Id) + ":suspect:" + suspect.From, signed);
                ArmSuspicionTimer(entry);
            }

            return;
        }

        entry.Status = MemberStatus.Suspect;
        Statistics.Suspicions++;
        entry.Incarnation = suspect.Incarnation;
        entry.StatusUpdate = signed;
        entry.StatusChanged = _scheduler.Now;
        _queue.Enqueue(Key(entry.Id), signed);

        var members = _members.Count;
        var expected = _options.SuspicionMultiplier - 2;
        if (members - 2 < expected)
        {
            expected = 0;
        }

        var minimum = _options.SuspicionMinimum(members);
        entry.EndSuspicion();
        entry.Suspicion = new Suspicion(suspect.From, expected, minimum, minimum * _options.SuspicionMaxTimeoutMultiplier, _scheduler.Now);
        ArmSuspicionTimer(entry);
        Raise(MemberEventKind.Suspected, entry);
    }

    private void ArmSuspicionTimer(MemberEntry entry)
    {
        var suspicion = entry.Suspicion!;
        var remaining = suspicion.Timeout - (_scheduler.Now - suspicion.Started);
        var incarnation = entry.Incarnation;
        entry.SuspicionTimer?.Dispose();
        entry.SuspicionTimer = Schedule(remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, () =>
        {
            if (_running && entry.Status == MemberStatus.Suspect && entry.Incarnation == incarnation && entry.Suspicion == suspicion)
            {
                var dead = _signer.Sign(new Update { Dead = new Dead { Member = entry.Id, Incarnation = incarnation, From = _self.Id } });
                ApplyDead(dead, Update.Parser.ParseFrom(dead.Update).Dead);
            }
        });
    }

    /// <summary>Applies a death or leave that is news and verified (or declared here when a suspicion timed out).</summary>
    private void ApplyDead(SignedUpdate signed, Dead dead)
    {
        if (!_members.TryGetValue(dead.Member, out var entry) || dead.Incarnation < entry.Incarnation || entry.IsDown)
        {
            return;
        }

        if (entry == _self)
        {
            if (!_leaving)
            {
                Refute(dead.Incarnation);
                CatchUpAfterAccusation();
            }

            return;
        }

        var left = string.Equals(dead.From, dead.Member, StringComparison.Ordinal);
        entry.EndSuspicion();
        entry.Status = left ? MemberStatus.Left : MemberStatus.Dead;
        Statistics.Deaths += left ? 0 : 1;
        entry.Incarnation = dead.Incarnation;
        entry.StatusUpdate = signed;
        entry.StatusChanged = _scheduler.Now;
        entry.Load = null;
        entry.Routes = null;
        _queue.Enqueue(Key(entry.Id), signed);
        Raise(left ? MemberEventKind.Left : MemberEventKind.Dead, entry);
    }

    private bool IsSelf(string member) => string.Equals(member, _self.Id, StringComparison.Ordinal);

    /// <summary>
    /// Whether a record of this member that came back to it is an earlier life's numbered at or past this life's
    /// <paramref name="counter"/> (a peer still holds it, and will refuse this life's records numbered below it): one
    /// this member signed, checked with its own key, so no one else can push its numbers up. An earlier life under
    /// another certificate cannot be checked; its records lose to this life's clock-based numbers all the same, unless
    /// the clock went back. <paramref name="current"/> is this life's record at <paramref name="counter"/>, whose own echoes
    /// are not news; without one (load, renewed every second; no models yet) a record at the counter is outnumbered by
    /// the next one anyway. Either way this member's echoes of its own records cost no verification.
    /// </summary>
    private bool OutnumbersThisLife(SignedUpdate signed, ulong number, ulong counter, SignedUpdate? current)
    {
        if (number < counter || (number == counter && (current is null || signed.Equals(current))) || number == ulong.MaxValue)
        {
            return false;
        }

        _ownKey ??= _signer.VerifyAlive(_self.Alive!, Update.Parser.ParseFrom(_self.Alive!.Update).Alive, out _);
        Statistics.SignaturesVerified++;
        return _ownKey is not null && _signer.Verify(signed, _ownKey);
    }

    private void ReceiveModels(SignedUpdate signed, ModelRecord models)
    {
        if (IsSelf(models.Member) && OutnumbersThisLife(signed, models.Version, _modelVersion, _self.SignedModels))
        {
            // Models go out only when they change: this life's go out again now, numbered past the earlier life's.
            _modelVersion = models.Version;
            if (_self.Models is { } current)
            {
                AnnounceModels(current.Models);
            }
        }

        if (!_members.TryGetValue(models.Member, out var entry) || entry == _self || (entry.Models is { } known && models.Version <= known.Version))
        {
            return;
        }

        if (!Verified(signed, models.Member) || Refused(RecordRules.Models(models, entry.Id, entry.Pool)))
        {
            return;
        }

        entry.Models = models;
        entry.SignedModels = signed;
        _queue.Enqueue(ModelsKey(entry.Id), signed);
        Raise(MemberEventKind.ModelsChanged, entry);
    }

    private void ReceiveLoad(SignedUpdate signed, LoadRecord load)
    {
        if (IsSelf(load.Member) && OutnumbersThisLife(signed, load.Sequence, _loadSequence, null))
        {
            // The next load record (within a second) goes out past it.
            _loadSequence = load.Sequence;
        }

        if (!_members.TryGetValue(load.Member, out var entry) || entry == _self || entry.IsDown || (entry.Load is { } known && load.Sequence <= known.Sequence))
        {
            return;
        }

        if (!Verified(signed, load.Member) || Refused(RecordRules.Load(load, entry.Id)))
        {
            return;
        }

        entry.Load = load;
        entry.LoadReceived = _scheduler.Now;
        _visibleChange = true;
        _queue.Enqueue(LoadKey(entry.Id), signed);
    }

    private void ReceiveRoutes(SignedUpdate signed, RouteRecord routes)
    {
        if (IsSelf(routes.Member) && OutnumbersThisLife(signed, routes.Version, _routeVersion, _self.SignedRoutes))
        {
            _routeVersion = routes.Version;
            if (_self.Routes is { } current)
            {
                AnnounceRoutes(current.Routes, TimeSpan.FromMilliseconds(current.TtlMs));
            }
        }

        if (!_members.TryGetValue(routes.Member, out var entry) || entry == _self || entry.IsDown || (entry.Routes is { } known && routes.Version <= known.Version))
        {
            return;
        }

        if (!Verified(signed, routes.Member))
        {
            return;
        }

        if (entry.Role != MemberRole.Integrator)
        {
            Reject(RefusalReason.RecordRules, $"member '{routes.Member}' is not an integrator and may not advertise routes");
            return;
        }

        if (Refused(RecordRules.Routes(routes, entry.Id, entry.Pool)))
        {
            return;
        }

        entry.Routes = routes;
        entry.SignedRoutes = signed;
        entry.RoutesReceived = _scheduler.Now;
        _visibleChange = true;
        _queue.Enqueue(RoutesKey(entry.Id), signed);
    }

    /// <summary>A usage record: news per member and origin (a higher sequence), verified, checked, handed to the ledger and spread on.</summary>
    private void ReceiveUsage(SignedUpdate signed, UsageRecord usage)
    {
        if (!_members.TryGetValue(usage.Member, out var entry) || entry == _self || entry.IsDown
            || (entry.UsageSequences.TryGetValue(usage.Origin, out var known) && usage.Sequence <= known))
        {
            return;
        }

        if (!Verified(signed, usage.Member) || Refused(RecordRules.Usage(usage, entry.Id, entry.Role)))
        {
            return;
        }

        entry.UsageSequences[usage.Origin] = usage.Sequence;
        _queue.Enqueue(UsageKey(entry.Id, usage.Origin), signed);
        UsageReceived?.Invoke(usage, entry.Role);
    }

    /// <summary>A route log checkpoint: news when later than the last one heard of its member, verified, checked, kept (the host's store) and spread on.</summary>
    private void ReceiveCheckpoint(SignedUpdate signed, RouteLogCheckpoint checkpoint)
    {
        if (!_members.TryGetValue(checkpoint.Member, out var entry) || entry == _self || checkpoint.TimeMs <= entry.CheckpointTime)
        {
            return;
        }

        if (!Verified(signed, checkpoint.Member) || Refused(RecordRules.Checkpoint(checkpoint, entry.Id)))
        {
            return;
        }

        entry.CheckpointTime = checkpoint.TimeMs;
        _queue.Enqueue(CheckpointKey(entry.Id), signed);
        CheckpointReceived?.Invoke(checkpoint);
    }

    /// <summary>Refuses a record whose content breaks <see cref="RecordRules"/>; true when it was refused.</summary>
    private bool Refused(string? problem)
    {
        if (problem is null)
        {
            return false;
        }

        Reject(RefusalReason.RecordRules, problem);
        return true;
    }

    /// <summary>Refutes news of this member's suspicion or death with a higher incarnation (never wrapping around).</summary>
    private void Refute(ulong accused)
    {
        var current = Math.Max(_self.Incarnation, accused);
        if (current == ulong.MaxValue)
        {
            Reject(RefusalReason.CannotRefute, $"cannot refute: incarnation {current} is the largest there is");
            return;
        }

        _self.Incarnation = current + 1;
        Statistics.Refutations++;
        _self.Alive = SignAlive();
        _visibleChange = true;
        _queue.Enqueue(Key(_self.Id), _self.Alive);
    }

    /// <summary>This member's view of every member, for join.</summary>
    private IEnumerable<MemberState> LocalStates() => _members.Values.Select(State);

    private IEnumerable<MemberState> StatesOf(IEnumerable<string> members) =>
        members.Select(id => _members.GetValueOrDefault(id)).OfType<MemberEntry>().Select(State);

    private static MemberState State(MemberEntry entry)
    {
        var state = new MemberState { Alive = entry.Alive, Status = entry.Status };
        if (entry.StatusUpdate is { } status)
        {
            state.StatusUpdate = status;
        }

        if (entry.SignedModels is { } models)
        {
            state.Models = models;
        }

        if (entry.SignedRoutes is { } routes)
        {
            state.Routes = routes;
        }

        return state;
    }

    /// <summary>This member's view as digests, for the first step of push-pull.</summary>
    private IEnumerable<MemberDigest> LocalDigests() => _members.Values.Select(entry => new MemberDigest
    {
        Member = entry.Id,
        Incarnation = entry.Incarnation,
        Status = entry.Status,
        ModelsVersion = entry.Models?.Version ?? 0,
        RoutesVersion = entry.Routes?.Version ?? 0,
    });

    /// <summary>
    /// Answers a peer's digests: full states where this view is newer or the peer lacks the member, and the
    /// ids of members where the peer's view is newer or unknown here.
    /// </summary>
    private PushPullResponse Compare(IEnumerable<MemberDigest> digests)
    {
        var response = new PushPullResponse { Header = Header(withUpdates: false) };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var digest in digests)
        {
            seen.Add(digest.Member);
            if (!_members.TryGetValue(digest.Member, out var entry))
            {
                response.Wanted.Add(digest.Member);
                continue;
            }

            var order = Order(entry.Incarnation, entry.Status).CompareTo(Order(digest.Incarnation, digest.Status));
            var models = (entry.Models?.Version ?? 0).CompareTo(digest.ModelsVersion);
            var routes = (entry.Routes?.Version ?? 0).CompareTo(digest.RoutesVersion);
            if (order > 0 || models > 0 || routes > 0)
            {
                response.Members.Add(State(entry));
            }

            if (order < 0 || models < 0 || routes < 0)
            {
                response.Wanted.Add(digest.Member);
            }
        }

        response.Members.Add(_members.Values.Where(e => !seen.Contains(e.Id)).Select(State));
        return response;
    }

    /// <summary>Which of two views of a member is newer: higher incarnation, then suspect over alive, dead over suspect.</summary>
    private static (ulong Incarnation, int Severity) Order(ulong incarnation, MemberStatus status) =>
        (incarnation, status switch
        {
            MemberStatus.Alive => 0,
            MemberStatus.Suspect => 1,
            _ => 2,
        });

    /// <summary>
    /// Merges a remote view (memberlist's mergeState): alive updates apply as they are; a remote suspect or
    /// dead becomes a local suspicion, so no member is declared dead on another's word alone; a left member
    /// applies the member's own signed leave.
    /// </summary>
    private void Merge(IEnumerable<MemberState> states)
    {
        foreach (var state in states)
        {
            if (state.Alive is null)
            {
                continue;
            }

            Apply(state.Alive);
            if (state.Models is not null)
            {
                Apply(state.Models);
            }

            if (state.Routes is not null)
            {
                Apply(state.Routes);
            }

            var member = Update.Parser.ParseFrom(state.Alive.Update).Alive?.Member;
            if (member is null || !_members.TryGetValue(member, out var entry))
            {
                continue;
            }

            switch (state.Status)
            {
                case MemberStatus.Suspect or MemberStatus.Dead:
                    var suspect = new Suspect { Member = member, Incarnation = entry.Incarnation, From = _self.Id };
                    ApplySuspect(_signer.Sign(new Update { Suspect = suspect }), suspect);
                    break;
                case MemberStatus.Left when state.StatusUpdate is not null:
                    Apply(state.StatusUpdate);
                    break;
            }
        }
    }

    /// <summary>Forgets dead and left members once they have been gossiped about long enough.</summary>
    private void Reap()
    {
        foreach (var entry in _members.Values.Where(e => e != _self && e.IsDown && _scheduler.Now - e.StatusChanged > _options.GossipToTheDeadTime).ToList())
        {
            _members.Remove(entry.Id);
            Raise(MemberEventKind.Reaped, entry);
        }
    }
}
