using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.Common.Identity;
using LlmRouter.Simulation;
using LlmRouter.V1;

namespace LlmRouter.Tests.Gossip;

/// <summary>
/// A member of the pool that lies: it has a valid identity and signs what it sends with its own key, but
/// what it signs describes other members, accuses them at incarnations they never reached, or replays and
/// alters records. Every test runs twice, with the simulator's signer and with real ECDSA signatures from
/// certificates of a mesh CA, on the deterministic simulator.
/// </summary>
public sealed class LyingMemberTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);

    public static TheoryData<bool> Signatures => new() { false, true };

    [Theory]
    [MemberData(nameof(Signatures))]
    public void ModelRecord_NamingAnotherMemberOrPool_IsRefusedByEveryMemberAndNeverSpread(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 21);

        pool.Tell(pool.Members[0], Models(pool, version: 1, new ModelInfo { Id = "stolen", Node = "m1", Pool = pool.Network.Pool }));
        pool.Tell(pool.Members[0], Models(pool, version: 2, new ModelInfo { Id = "elsewhere", Node = "liar", Pool = "pool-b" }));
        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(5));

        Assert.All(pool.Members, m => Assert.Null(m.Membership.Find("liar")!.Models));
        Assert.Contains("describes model 'elsewhere' of node 'liar' in pool 'pool-b'", pool.Members[0].Membership.Statistics.LastRejection);
        Assert.Equal(2, pool.Members[0].Membership.Statistics.UpdatesRejected);
        Assert.All(pool.Members.Skip(1), m => Assert.Equal(0, m.Membership.Statistics.UpdatesRejected));

        // The same liar's record about itself is taken and spread: the refusal is about what it says.
        pool.Tell(pool.Members[0], Models(pool, version: 3, new ModelInfo { Id = "own", Node = "liar", Pool = pool.Network.Pool }));
        var spread = pool.Network.Clock.RunUntil(
            () => pool.Members.All(m => m.Membership.Find("liar")!.Models?.Models.Single().Id == "own"), TimeSpan.FromSeconds(5), Step);
        Assert.NotNull(spread);
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void Records_WithValuesOutOfBounds_AreRefused_SoNoMemberWinsEveryRankingByDecree(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 28);
        var load = new LoadRecord { Member = "liar", Sequence = 1, TtlMs = 5000 };
        load.Backends.Add(new BackendLoad { Backend = "b", ErrorRate = double.NaN });

        pool.Tell(pool.Members[0], Models(pool, version: 1, new ModelInfo { Id = "best", Node = "liar", Pool = pool.Network.Pool, Quality = 1e9 }));
        pool.Tell(pool.Members[0], Models(pool, version: 2,
            new ModelInfo { Id = "free", Node = "liar", Pool = pool.Network.Pool, Quality = 0.5, Price = new Price { InputPerMillion = -1 } }));
        pool.Tell(pool.Members[0], new Update { Load = load });
        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(3));

        Assert.Null(pool.Members[0].Membership.Find("liar")!.Models);
        Assert.Null(pool.Members[0].Membership.Find("liar")!.Load);
        Assert.Equal(3, pool.Members[0].Membership.Statistics.UpdatesRejected);
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void RouteRecord_NamingAnotherNodeOrLeadingBackIntoThePool_IsRefused(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 22, liarRole: MemberRole.Integrator);

        pool.Tell(pool.Members[0], Routes(pool, version: 1, Route("m1", pool.Network.Pool, "pool-b")));
        pool.Tell(pool.Members[0], Routes(pool, version: 2, Route("liar", pool.Network.Pool, "pool-b", pool.Network.Pool)));
        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(5));

        Assert.All(pool.Members, m => Assert.Null(m.Membership.Find("liar")!.Routes));
        Assert.Equal(2, pool.Members[0].Membership.Statistics.UpdatesRejected);
        Assert.Contains("never the pool it is advertised into", pool.Members[0].Membership.Statistics.LastRejection);

        pool.Tell(pool.Members[0], Routes(pool, version: 3, Route("liar", pool.Network.Pool, "pool-b")));
        var spread = pool.Network.Clock.RunUntil(() => pool.Members.All(m => m.Membership.Find("liar")!.Routes is not null), TimeSpan.FromSeconds(5), Step);
        Assert.NotNull(spread);
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void Accusation_BeyondTheAccusedsSignedIncarnation_IsRefused_AndTheAccusedStaysAliveWithoutWrapping(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 23);
        var accused = pool.Members[1];
        var before = accused.Membership.Incarnation;

        foreach (var member in pool.Members)
        {
            pool.Tell(member, pool.SignAsLiar(new Update { Suspect = new Suspect { Member = "m1", Incarnation = ulong.MaxValue, From = "liar" } }));
            pool.Tell(member, pool.SignAsLiar(new Update { Dead = new Dead { Member = "m1", Incarnation = ulong.MaxValue, From = "liar" } }));
        }

        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(60));

        Assert.Equal(before, accused.Membership.Incarnation);
        Assert.All(pool.Members, m => Assert.Equal(MemberStatus.Alive, m.StatusOf("m1")));
        Assert.All(pool.Members, m => Assert.Equal(before, m.Membership.Find("m1")!.Incarnation));
        Assert.All(pool.Members, m => Assert.Equal(2, m.Membership.Statistics.UpdatesRejected));
        Assert.Contains($"is ahead of the incarnation 'm1' signed last ({before})", pool.Members[0].Membership.Statistics.LastRejection);
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void Accusation_AtTheAccusedsOwnIncarnation_IsTakenAndRefuted(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 24);
        var before = pool.Members[1].Membership.Incarnation;

        foreach (var member in pool.Members)
        {
            pool.Tell(member, pool.SignAsLiar(new Update { Dead = new Dead { Member = "m1", Incarnation = before, From = "liar" } }));
        }

        var refuted = pool.Network.Clock.RunUntil(
            () => pool.Members.All(m => m.StatusOf("m1") == MemberStatus.Alive && m.Membership.Find("m1")!.Incarnation == before + 1),
            TimeSpan.FromSeconds(10),
            Step);

        Assert.NotNull(refuted);
        Assert.All(pool.Members, m => Assert.Equal(0, m.Membership.Statistics.UpdatesRejected));
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void AliveOfAnotherMember_ForgedAtTheLargestIncarnation_IsRefusedByItAndByEveryOther(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 25);
        var before = pool.Members[1].Membership.Incarnation;
        var forged = pool.SignAsLiar(new Update
        {
            Alive = new Alive { Member = "m1", Incarnation = ulong.MaxValue, Address = "sim://liar", Pool = pool.Network.Pool, Role = MemberRole.Node },
        });
        forged.Signer = "m1";

        foreach (var member in pool.Members)
        {
            pool.Tell(member, forged);
        }

        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(10));

        Assert.Equal(before, pool.Members[1].Membership.Incarnation);
        Assert.All(pool.Members, m => Assert.Equal("sim://m1", m.Membership.Find("m1")!.Address));
        Assert.All(pool.Members, m => Assert.Equal(1, m.Membership.Statistics.UpdatesRejected));
    }

    [Theory]
    [MemberData(nameof(Signatures))]
    public void Record_ReplayedByAnotherMember_ChangesNothing(bool realSignatures)
    {
        using var pool = LiarPool.Start(realSignatures, seed: 26);
        var owner = pool.Members[2];
        var first = pool.Sign(owner, Models(owner, version: 1, quality: 0.5));
        pool.Tell(pool.Members[0], first);
        pool.Tell(pool.Members[0], pool.Sign(owner, Models(owner, version: 2, quality: 0.6)));
        pool.Network.Clock.RunUntil(() => pool.Members[0].Membership.Find("m2")!.Models?.Version == 2, TimeSpan.FromSeconds(5), Step);

        pool.Tell(pool.Members[0], first);
        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(5));

        Assert.All(pool.Members.Where(m => m != owner), m =>
            Assert.Equal((2ul, 0.6), (m.Membership.Find("m2")!.Models!.Version, m.Membership.Find("m2")!.Models!.Models[0].Quality)));
    }

    /// <summary>Real signatures only: the simulator's signer does not cover the content (it stands in for the cost, not the cryptography).</summary>
    [Fact]
    public void Record_AlteredUnderItsSignature_IsRefused()
    {
        using var pool = LiarPool.Start(realSignatures: true, seed: 27);
        var owner = pool.Members[2];
        var signed = pool.Sign(owner, Models(owner, version: 1, quality: 0.5));
        pool.Tell(pool.Members[0], signed);
        pool.Network.Clock.RunUntil(() => pool.Members[0].Membership.Find("m2")!.Models is not null, TimeSpan.FromSeconds(5), Step);

        var altered = Update.Parser.ParseFrom(signed.Update);
        altered.Models.Version = 2;
        altered.Models.Models[0].Quality = 1.0;
        pool.Tell(pool.Members[0], new SignedUpdate { Update = altered.ToByteString(), Signer = signed.Signer, Signature = signed.Signature });
        pool.Network.Clock.RunFor(TimeSpan.FromSeconds(5));

        Assert.All(pool.Members.Where(m => m != owner), m =>
            Assert.Equal((1ul, 0.5), (m.Membership.Find("m2")!.Models!.Version, m.Membership.Find("m2")!.Models!.Models[0].Quality)));
        Assert.Equal("bad signature on an update from 'm2'", pool.Members[0].Membership.Statistics.LastRejection);
    }

    private static Update Models(LiarPool pool, ulong version, ModelInfo model)
    {
        var record = new ModelRecord { Member = "liar", Version = version };
        record.Models.Add(model);
        return new Update { Models = record };
    }

    private static Update Models(SimulatedMember owner, ulong version, double quality)
    {
        var record = new ModelRecord { Member = owner.Id, Version = version };
        record.Models.Add(new ModelInfo { Id = "model", Node = owner.Id, Pool = "pool", Quality = quality });
        return new Update { Models = record };
    }

    private static Update Routes(LiarPool pool, ulong version, ModelRoute route)
    {
        var record = new RouteRecord { Member = "liar", Version = version, TtlMs = 60_000 };
        record.Routes.Add(route);
        return new Update { Routes = record };
    }

    private static ModelRoute Route(string node, string pool, params string[] path)
    {
        var route = new ModelRoute { Model = new ModelInfo { Id = "far", Node = node, Pool = pool }, FreeCapacity = 4 };
        route.Pools.Add(path);
        return route;
    }

    /// <summary>Four honest members and a liar, converged; signers kept so tests can sign as any of them.</summary>
    private sealed class LiarPool : IDisposable
    {
        private readonly Dictionary<string, IUpdateSigner> _signers = new(StringComparer.Ordinal);
        private readonly List<X509Certificate2> _certificates = [];

        private LiarPool(SimulatedNetwork network) => Network = network;

        public SimulatedNetwork Network { get; }

        public List<SimulatedMember> Members { get; } = [];

        public SimulatedMember Liar { get; private set; } = null!;

        public static LiarPool Start(bool realSignatures, int seed, MemberRole liarRole = MemberRole.Node)
        {
            var pool = new LiarPool(new SimulatedNetwork(seed, MembershipOptions.Lan));
            var authority = realSignatures ? CertificateAuthority.CreateRoot(pool.Network.Mesh, TimeProvider.System.GetUtcNow(), TimeSpan.FromDays(1)) : null;
            if (authority is not null)
            {
                pool._certificates.Add(authority);
            }

            SimulatedMember Add(string id, MemberRole role)
            {
                IUpdateSigner signer = new InsecureSigner(id);
                ReadOnlyMemory<byte> certificate = default;
                if (authority is not null)
                {
                    var identity = new MeshIdentity(pool.Network.Mesh, pool.Network.Pool, role == MemberRole.Integrator ? MeshRole.Integrator : MeshRole.Node, id);
                    var issued = CertificateAuthority.Issue(authority, identity, ["127.0.0.1"], TimeProvider.System.GetUtcNow(), TimeSpan.FromHours(1));
                    pool._certificates.Add(issued);
                    signer = new CertificateUpdateSigner(issued, authority, pool.Network.Mesh);
                    certificate = issued.RawData;
                }

                pool._signers[id] = signer;
                var member = pool.Network.Add(id, signer, role, certificate);
                member.Start();
                return member;
            }

            for (var i = 0; i < 4; i++)
            {
                pool.Members.Add(Add($"m{i}", MemberRole.Node));
            }

            pool.Liar = Add("liar", liarRole);
            foreach (var member in pool.Members.Skip(1).Append(pool.Liar))
            {
                member.Membership.Join([pool.Members[0].Address]);
            }

            var everyone = pool.Members.Append(pool.Liar).ToList();
            var converged = pool.Network.Clock.RunUntil(
                () => everyone.All(o => everyone.All(m => o.StatusOf(m.Id) == MemberStatus.Alive)), TimeSpan.FromSeconds(10), Step);
            Assert.True(converged is not null, "the pool did not converge");
            return pool;
        }

        public SignedUpdate SignAsLiar(Update update) => _signers["liar"].Sign(update);

        public SignedUpdate Sign(SimulatedMember member, Update update) => _signers[member.Id].Sign(update);

        public void Tell(SimulatedMember member, Update update) => Tell(member, SignAsLiar(update));

        public void Tell(SimulatedMember member, SignedUpdate update) => Liar.Gossip(member, update);

        public void Dispose()
        {
            foreach (var certificate in _certificates)
            {
                certificate.Dispose();
            }
        }
    }
}
