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

    private void Reject(string reason)
    {
        Statistics.UpdatesRejected++;
        Statistics.LastRejection = reason;
        Rejected?.Invoke(reason);
    }

    private void Apply(SignedUpdate signed)
    {
        Update update;
        try
        {
            update = Update.Parser.ParseFrom(signed.Update);
        }
        catch (InvalidProtocolBufferException ex)
        {
            Reject($"malformed update from '{signed.Signer}': {ex.Message}");
            return;
        }

        switch (update.KindCase)
        {
            case Update.KindOneofCase.Alive:
                ApplyAlive(signed, update.Alive);
                break;
            case Update.KindOneofCase.Suspect when Verified(signed, update.Suspect.From):
                ApplySuspect(signed, update.Suspect);
                break;
            case Update.KindOneofCase.Dead when Verified(signed, update.Dead.From):
                ApplyDead(signed, update.Dead);
                break;
            case Update.KindOneofCase.Models when Verified(signed, update.Models.Member):
                ApplyModels(signed, update.Models);
                break;
            case Update.KindOneofCase.Load when Verified(signed, update.Load.Member):
                ApplyLoad(signed, update.Load);
                break;
            case Update.KindOneofCase.Routes when Verified(signed, update.Routes.Member):
                ApplyRoutes(signed, update.Routes);
                break;
        }
    }

    /// <summary>An update must be signed by the member it names as its origin, with that member's key.</summary>
    private bool Verified(SignedUpdate signed, string origin)
    {
        if (!string.Equals(signed.Signer, origin, StringComparison.Ordinal))
        {
            Reject($"update originated by '{origin}' was signed by '{signed.Signer}'");
            return false;
        }

        if (!_members.TryGetValue(origin, out var member) || member.Key is null)
        {
            // Not known yet: its alive update (with its certificate) comes first through push-pull.
            return false;
        }

        if (member != _self && !_signer.Verify(signed, member.Key))
        {
            Reject($"bad signature on an update from '{origin}'");
            return false;
        }

        return true;
    }

    private void ApplyAlive(SignedUpdate signed, Alive alive)
    {
        if (!string.Equals(signed.Signer, alive.Member, StringComparison.Ordinal))
        {
            Reject($"alive update about '{alive.Member}' signed by '{signed.Signer}'");
            return;
        }

        if (string.Equals(alive.Member, _self.Id, StringComparison.Ordinal))
        {
            // News of an earlier life of this member (a restart): refute it with a higher incarnation.
            if (alive.Incarnation >= _self.Incarnation && !signed.Update.Equals(_self.Alive!.Update) && !_leaving)
            {
                Refute(alive.Incarnation);
            }

            return;
        }

        _members.TryGetValue(alive.Member, out var entry);
        if (entry is not null && alive.Incarnation <= entry.Incarnation)
        {
            return;
        }

        if (!string.Equals(alive.Pool, _local.Pool, StringComparison.Ordinal))
        {
            Reject($"member '{alive.Member}' of pool '{alive.Pool}' refused in pool '{_local.Pool}'");
            return;
        }

        var key = _signer.VerifyAlive(signed, alive, out var reason);
        if (key is null)
        {
            Reject($"alive update of '{alive.Member}' refused: {reason}");
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
        entry.Alive = signed;
        entry.Key = key;
        entry.StatusUpdate = null;
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
        entry.SuspicionTimer = _scheduler.Schedule(remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, () =>
        {
            if (_running && entry.Status == MemberStatus.Suspect && entry.Incarnation == incarnation && entry.Suspicion == suspicion)
            {
                var dead = _signer.Sign(new Update { Dead = new Dead { Member = entry.Id, Incarnation = incarnation, From = _self.Id } });
                ApplyDead(dead, Update.Parser.ParseFrom(dead.Update).Dead);
            }
        });
    }

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
        entry.Incarnation = dead.Incarnation;
        entry.StatusUpdate = signed;
        entry.StatusChanged = _scheduler.Now;
        entry.Load = null;
        entry.Routes = null;
        _queue.Enqueue(Key(entry.Id), signed);
        Raise(left ? MemberEventKind.Left : MemberEventKind.Dead, entry);
    }

    private void ApplyModels(SignedUpdate signed, ModelRecord models)
    {
        var entry = _members[models.Member];
        if (entry == _self || (entry.Models is { } known && models.Version <= known.Version))
        {
            return;
        }

        entry.Models = models;
        entry.SignedModels = signed;
        _queue.Enqueue(ModelsKey(entry.Id), signed);
        Raise(MemberEventKind.ModelsChanged, entry);
    }

    private void ApplyLoad(SignedUpdate signed, LoadRecord load)
    {
        var entry = _members[load.Member];
        if (entry == _self || entry.IsDown || (entry.Load is { } known && load.Sequence <= known.Sequence))
        {
            return;
        }

        entry.Load = load;
        entry.LoadReceived = _scheduler.Now;
        _queue.Enqueue(LoadKey(entry.Id), signed);
    }

    private void ApplyRoutes(SignedUpdate signed, RouteRecord routes)
    {
        var entry = _members[routes.Member];
        if (entry.Role != MemberRole.Integrator)
        {
            Reject($"member '{routes.Member}' is not an integrator and may not advertise routes");
            return;
        }

        if (entry == _self || entry.IsDown || (entry.Routes is { } known && routes.Version <= known.Version))
        {
            return;
        }

        entry.Routes = routes;
        entry.SignedRoutes = signed;
        entry.RoutesReceived = _scheduler.Now;
        _queue.Enqueue(RoutesKey(entry.Id), signed);
    }

    /// <summary>Refutes news of this member's suspicion or death with a higher incarnation.</summary>
    private void Refute(ulong accused)
    {
        _self.Incarnation = Math.Max(_self.Incarnation, accused) + 1;
        _self.Alive = SignAlive();
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
