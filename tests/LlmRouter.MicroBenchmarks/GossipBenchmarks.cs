using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using LlmRouter.Common.Gossip;
using LlmRouter.Simulation;
using LlmRouter.V1;

namespace LlmRouter.MicroBenchmarks;

/// <summary>
/// One member of a pool of 100 receiving one gossip message (<see cref="SwimMembership.Receive"/>) that
/// carries one signed update, newer than what it knows, so the update is applied every time: a load record
/// (four backends), or an alive update with a higher incarnation. With the simulator's signer (no
/// cryptography) and with ECDSA P-256 signatures checked as a node checks them.
/// </summary>
[MemoryDiagnoser]
public class GossipBenchmarks
{
    private const int PoolSize = 100;
    private const string Mesh = "bench";
    private const string Pool = "pool-a";

    // Sequence numbers and incarnations start here, so their varint is five bytes for 2^35 - 2^28 updates:
    // each invocation rewrites them in place in the signed bytes, without re-serialising the update.
    private const ulong FirstNumber = 1UL << 28;

    private static readonly Action<IMessage> Ignore = _ => { };

    private SwimMembership _receiver = null!;
    private NumberedUpdate _load = null!;
    private NumberedUpdate _alive = null!;

    [Params("insecure", "ecdsa")]
    public string Signatures { get; set; } = "insecure";

    [GlobalSetup]
    public void Setup()
    {
        var signers = Enumerable.Range(0, PoolSize).ToDictionary(i => $"m{i:D3}", i => Signer($"m{i:D3}"));
        var receiver = new LocalMember("m000", "https://m000:7000", Pool, MemberRole.Node);
        _receiver = new SwimMembership(receiver, Mesh, MembershipOptions.Lan, new NoTransport(), new StillClock(), signers["m000"], new Random(1));

        // Every other member joins with an alive update (incarnation 1) and publishes its models.
        var joins = new GossipRequest { Header = new MeshHeader { Mesh = Mesh, Pool = Pool, Sender = "m001" } };
        foreach (var (id, signer) in signers.Where(s => s.Key != "m000"))
        {
            joins.Header.Updates.Add(signer.Sign(new Update { Alive = AliveOf(id, 1) }));
            var models = new ModelRecord { Member = id, Version = 1 };
            models.Models.Add(Enumerable.Range(0, 4).Select(m => new ModelInfo { Id = $"model-{m}", Node = id, Pool = Pool, Backend = $"b{m}", Kind = ModelKind.Chat }));
            joins.Header.Updates.Add(signer.Sign(new Update { Models = models }));
        }

        _receiver.Receive("m001", joins, Ignore);
        if (_receiver.Members.Count(m => m.Status == MemberStatus.Alive) != PoolSize)
        {
            throw new InvalidOperationException($"the receiver knows {_receiver.Count} members, not {PoolSize}");
        }

        var subject = "m042";
        _load = new NumberedUpdate(signers[subject], subject, n => new Update { Load = LoadOf(subject, n) }, n => n.Load.Sequence);
        _alive = new NumberedUpdate(signers[subject], subject, n => new Update { Alive = AliveOf(subject, n) }, n => n.Alive.Incarnation, signedInAdvance: false);
    }

    /// <summary>A load record of four backends, newer than the last: parsed, verified, stored, queued for gossip.</summary>
    [Benchmark(Baseline = true)]
    public void ApplyLoadUpdate() => _receiver.Receive("m042", _load.Next(), Ignore);

    /// <summary>An alive update with a higher incarnation (a refutation): parsed, verified, stored, queued for gossip (with ECDSA: signed first).</summary>
    [Benchmark]
    public void ApplyAliveUpdate() => _receiver.Receive("m042", _alive.Next(), Ignore);

    private IUpdateSigner Signer(string id) => Signatures == "ecdsa" ? new EcdsaSigner(id) : new InsecureSigner(id);

    private static Alive AliveOf(string id, ulong incarnation) =>
        new() { Member = id, Incarnation = incarnation, Address = $"https://{id}:7000", Pool = Pool, Role = MemberRole.Node };

    private static LoadRecord LoadOf(string id, ulong sequence)
    {
        var load = new LoadRecord
        {
            Member = id,
            Sequence = sequence,
            IssuedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)),
            TtlMs = 5000,
        };
        load.Backends.Add(Enumerable.Range(0, 4).Select(b => new BackendLoad
        {
            Backend = $"b{b}",
            InFlight = 2,
            Queued = 1,
            MaxConcurrency = 4,
            TimeToFirstTokenMs = 120,
            TokensPerSecond = 45,
            WarmModels = { $"model-{b}" },
        }));
        return load;
    }

    /// <summary>
    /// A gossip message with one signed update whose number (sequence or incarnation) goes up by one per
    /// call. With the simulator's signer (a signature that does not depend on the bytes) the number is
    /// rewritten in place in the update's bytes. With ECDSA, load updates signed in advance take turns (past
    /// the end of the ring they are stale: still parsed and verified, as the signature is checked before the
    /// sequence, no longer stored); alive updates are checked for their incarnation before their signature,
    /// so each is signed afresh and that figure is signing plus applying.
    /// </summary>
    private sealed class NumberedUpdate
    {
        private const int Signed = 1 << 15;

        private readonly byte[] _bytes;
        private readonly int _offset;
        private readonly GossipRequest _request;
        private readonly SignedUpdate[]? _ring;
        private ulong _number = FirstNumber;

        private readonly IUpdateSigner _signer;
        private readonly Func<ulong, Update> _build;

        public NumberedUpdate(IUpdateSigner signer, string subject, Func<ulong, Update> build, Func<Update, ulong> numberOf, bool signedInAdvance = true)
        {
            _signer = signer;
            _build = build;
            _bytes = build(FirstNumber).ToByteArray();
            var next = build(FirstNumber + 1).ToByteArray();
            _offset = _bytes.AsSpan().CommonPrefixLength(next);
            if (numberOf(Update.Parser.ParseFrom(_bytes)) != FirstNumber || _bytes.Length != next.Length)
            {
                throw new InvalidOperationException("the number is not a fixed-width varint in the update");
            }

            var signed = signer.Sign(Update.Parser.ParseFrom(_bytes));
            signed.Update = UnsafeByteOperations.UnsafeWrap(_bytes);
            _request = new GossipRequest { Header = new MeshHeader { Mesh = Mesh, Pool = Pool, Sender = subject } };
            _request.Header.Updates.Add(signed);
            if (signer is EcdsaSigner && signedInAdvance)
            {
                _ring = [.. Enumerable.Range(1, Signed).Select(i => signer.Sign(build(FirstNumber + (ulong)i)))];
            }
        }

        public GossipRequest Next()
        {
            var number = ++_number;
            if (_ring is { } ring)
            {
                _request.Header.Updates[0] = ring[(int)((number - FirstNumber - 1) % Signed)];
                return _request;
            }

            if (_signer is EcdsaSigner)
            {
                _request.Header.Updates[0] = _signer.Sign(_build(number));
                return _request;
            }

            for (var i = 0; i < 4; i++)
            {
                _bytes[_offset + i] = (byte)((number >> (7 * i)) | 0x80);
            }

            _bytes[_offset + 4] = (byte)(number >> 28);
            return _request;
        }
    }

    /// <summary>ECDSA P-256 over SHA-256, as a node signs and checks updates, without the certificate chain.</summary>
    private sealed class EcdsaSigner(string memberId) : IUpdateSigner
    {
        private static readonly Dictionary<string, ECDsa> Keys = new(StringComparer.Ordinal);
        private readonly ECDsa _key = KeyOf(memberId);

        public SignedUpdate Sign(Update update)
        {
            var bytes = update.ToByteArray();
            return new SignedUpdate
            {
                Update = ByteString.CopyFrom(bytes),
                Signer = memberId,
                Signature = ByteString.CopyFrom(_key.SignData(bytes, HashAlgorithmName.SHA256)),
            };
        }

        public object? VerifyAlive(SignedUpdate signed, Alive alive, out string reason)
        {
            var key = KeyOf(alive.Member);
            reason = Verify(signed, key) ? "" : "bad signature";
            return reason.Length == 0 ? key : null;
        }

        public bool Verify(SignedUpdate signed, object key) =>
            ((ECDsa)key).VerifyData(signed.Update.Span, signed.Signature.Span, HashAlgorithmName.SHA256);

        // Stands in for the key in the member's certificate.
        private static ECDsa KeyOf(string member)
        {
            lock (Keys)
            {
                if (!Keys.TryGetValue(member, out var key))
                {
                    key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
                    Keys[member] = key;
                }

                return key;
            }
        }
    }

    private sealed class NoTransport : IMeshTransport
    {
        public void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply)
        {
        }
    }

    /// <summary>Time stands still: no timer fires, so only the received messages change the state.</summary>
    private sealed class StillClock : IMeshScheduler, IDisposable
    {
        public TimeSpan Now => TimeSpan.FromSeconds(10);

        public IDisposable Schedule(TimeSpan delay, Action action) => this;

        public void Dispose()
        {
        }
    }
}
