namespace LlmRouter.Common.Hosting;

/// <summary>
/// The pool whose listener a connection came in on, set on the connection by that listener (each of a
/// host's seats has its own): calls are answered for that pool only, whatever the caller asks.
/// </summary>
internal sealed record ListenerSeat(string Pool);
