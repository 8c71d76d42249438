using Google.Protobuf;
using LlmRouter.V1;

namespace LlmRouter.Common.Gossip;

/// <summary>Where a member is reached.</summary>
public readonly record struct MemberAddress(string Id, string Address);

/// <summary>
/// Carries membership messages to other members: gRPC with mutual TLS in a node, an in-memory network
/// with virtual time in the simulator. <paramref name="onReply"/> gets the response, or null when the
/// member could not be reached (refused, timed out, or the message was lost).
/// </summary>
public interface IMeshTransport
{
    void Send(MemberAddress target, IMessage request, TimeSpan timeout, Action<IMessage?> onReply);
}

/// <summary>
/// Time for the membership state machine: real timers in a node, the simulator's virtual clock in tests.
/// Callbacks never run concurrently with other calls into the same <see cref="SwimMembership"/>.
/// </summary>
public interface IMeshScheduler
{
    TimeSpan Now { get; }

    IDisposable Schedule(TimeSpan delay, Action action);
}

/// <summary>
/// Signs this member's updates and checks other members' signatures (DESIGN.md section 4: a member only
/// originates records about itself, and a relay cannot alter them).
/// </summary>
public interface IUpdateSigner
{
    SignedUpdate Sign(Update update);

    /// <summary>
    /// Checks an alive update: its certificate must chain to the mesh CA and name the member and pool, and
    /// its signature must verify. Returns the key that verifies the member's later updates, or null with a reason.
    /// </summary>
    object? VerifyAlive(SignedUpdate signed, Alive alive, out string reason);

    /// <summary>Checks a signature with a key <see cref="VerifyAlive"/> returned.</summary>
    bool Verify(SignedUpdate signed, object key);
}
