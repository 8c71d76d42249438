using LlmRouter.V1;

namespace LlmRouter.Common.Chat;

/// <summary>
/// Broadcast mode (DESIGN.md section 6): the best k candidates race; the first to yield a token commits the
/// client's stream to its route, and every other racer is cancelled at once, so nothing keeps generating.
/// </summary>
internal sealed class BroadcastRace : IDisposable
{
    private readonly IChatSink _output;
    private readonly CancellationTokenSource[] _racers;
    private int _winner = -1;

    /// <param name="output">The client's stream (or what screens the answer on its way there).</param>
    public BroadcastRace(IChatSink output, int count, CancellationToken call)
    {
        _output = output;
        _racers = Enumerable.Range(0, count).Select(_ => CancellationTokenSource.CreateLinkedTokenSource(call)).ToArray();
    }

    /// <summary>The winning racer's index, or -1 while no racer has yielded a token.</summary>
    public int Winner => Volatile.Read(ref _winner);

    public CancellationToken Token(int racer) => _racers[racer].Token;

    public IChatSink Sink(int racer) => new RacerSink(this, racer);

    public void Dispose()
    {
        foreach (var racer in _racers)
        {
            racer.Dispose();
        }
    }

    private bool TryWin(int racer)
    {
        if (Interlocked.CompareExchange(ref _winner, racer, -1) != -1)
        {
            if (_winner == racer)
            {
                return true;
            }

            // Lost: stop at once (the winner cancels the losers too, but may not have reached this one yet).
            _racers[racer].Cancel();
            return false;
        }

        for (var other = 0; other < _racers.Length; other++)
        {
            if (other != racer)
            {
                _racers[other].Cancel();
            }
        }

        return true;
    }

    /// <summary>A racer's view of the output: it reaches the client only if this racer wins.</summary>
    private sealed class RacerSink(BroadcastRace race, int index) : IChatSink
    {
        private RouteInfo? _route;

        public void Route(RouteInfo route) => _route = route;

        public async Task DeltaAsync(ChatResponse frame, bool flush, CancellationToken cancellationToken)
        {
            Claim(cancellationToken);
            await race._output.DeltaAsync(frame, flush, cancellationToken).ConfigureAwait(false);
        }

        public async Task CompletedAsync(ChatResponse frame, CancellationToken cancellationToken)
        {
            Claim(cancellationToken);
            await race._output.CompletedAsync(frame, cancellationToken).ConfigureAwait(false);
        }

        private void Claim(CancellationToken cancellationToken)
        {
            if (!race.TryWin(index))
            {
                throw new OperationCanceledException("another candidate answered first", cancellationToken);
            }

            if (_route is { } route)
            {
                race._output.Route(route);
                _route = null;
            }
        }
    }
}
