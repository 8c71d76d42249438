namespace LlmRouter.Common.Gossip;

/// <summary>
/// Lifeguard's dynamic suspicion timeout: it starts at the maximum and shrinks toward the minimum as
/// independent members confirm the suspicion, timeout = max - (max - min) x log(C + 1) / log(K + 1).
/// Only confirmations from distinct members count.
/// </summary>
public sealed class Suspicion
{
    private readonly HashSet<string> _confirmers;
    private readonly int _expected;
    private readonly TimeSpan _minimum;
    private readonly TimeSpan _maximum;

    public Suspicion(string from, int expectedConfirmations, TimeSpan minimum, TimeSpan maximum, TimeSpan started)
    {
        _confirmers = new HashSet<string>(StringComparer.Ordinal) { from };
        _expected = expectedConfirmations;
        _minimum = minimum;
        _maximum = maximum;
        Started = started;
    }

    public TimeSpan Started { get; }

    public int Confirmations => _confirmers.Count - 1;

    /// <summary>Total time from the start of the suspicion to declaring the member dead.</summary>
    public TimeSpan Timeout
    {
        get
        {
            if (_expected < 1)
            {
                return _minimum;
            }

            var fraction = Math.Log(Confirmations + 1) / Math.Log(_expected + 1);
            var timeout = _maximum - ((_maximum - _minimum) * fraction);
            return timeout < _minimum ? _minimum : timeout;
        }
    }

    /// <summary>Whether a confirmation from this member would count: it has not confirmed yet and more are expected.</summary>
    public bool Counts(string from) => Confirmations < _expected && !_confirmers.Contains(from);

    /// <summary>Counts a confirmation; false when this member had confirmed already (or we have enough).</summary>
    public bool Confirm(string from) => Confirmations < _expected && _confirmers.Add(from);
}
