using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using LlmRouter.V1;

namespace LlmRouter.Common.Pipeline;

/// <summary>
/// Answers kept by idempotency key for a bounded window (DESIGN.md section 7): a client's retry of a
/// request it already sent gets the same frames replayed, live while the first is still streaming,
/// instead of a second generation. A failed answer is forgotten, so a retry after a failure generates
/// anew. The key is bound to the request it came with; reusing it for another request is refused.
/// </summary>
internal sealed class IdempotentAnswers(TimeProvider time)
{
    private const int MaxEntries = 10_000;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, Answer> _answers = new(StringComparer.Ordinal);

    /// <summary>
    /// The recorded answer for this key, or a new one to record (<paramref name="isNew"/> true). Throws
    /// INVALID_ARGUMENT when the key was used for a different request.
    /// </summary>
    public Answer Begin(string key, ChatRequest request, out bool isNew)
    {
        var fingerprint = request.ToByteString();
        var now = time.GetTimestamp();
        Prune(now);
        var created = new Answer(fingerprint, now);
        var answer = _answers.AddOrUpdate(key, created, (_, existing) => existing.Expired(time, now, Window) ? created : existing);
        isNew = ReferenceEquals(answer, created);
        if (!isNew && !answer.Fingerprint.Equals(fingerprint))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                "idempotency_key: this key was used for a different request in the last 10 minutes; use a new key for a new request"));
        }

        return answer;
    }

    /// <summary>Forgets a failed answer, so the client's retry generates again.</summary>
    public void Forget(string key, Answer answer) => _answers.TryRemove(new KeyValuePair<string, Answer>(key, answer));

    private void Prune(long now)
    {
        if (_answers.Count < MaxEntries)
        {
            return;
        }

        foreach (var (key, answer) in _answers)
        {
            if (answer.Expired(time, now, Window))
            {
                _answers.TryRemove(key, out _);
            }
        }

        // Still full of live answers: drop the oldest, the window is a bound, not a promise.
        foreach (var (key, _) in _answers.OrderBy(a => a.Value.Started).Take(_answers.Count - MaxEntries + 1).ToList())
        {
            _answers.TryRemove(key, out _);
        }
    }

    /// <summary>One recorded answer: its frames as they were sent, and how it ended.</summary>
    internal sealed class Answer(ByteString fingerprint, long started)
    {
        private readonly List<ChatResponse> _frames = [];
        private readonly Lock _lock = new();
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private RpcException? _failure;
        private bool _done;

        public ByteString Fingerprint { get; } = fingerprint;

        public long Started { get; } = started;

        public bool Expired(TimeProvider time, long now, TimeSpan window) => _done && time.GetElapsedTime(Started, now) > window;

        /// <summary>A stream writer that sends to the client and records what it sent.</summary>
        public IServerStreamWriter<ChatResponse> Recording(IServerStreamWriter<ChatResponse> stream) => new RecordingWriter(this, stream);

        public void Complete(RpcException? failure)
        {
            lock (_lock)
            {
                _failure = failure;
                _done = true;
                _changed.TrySetResult();
            }
        }

        /// <summary>Sends the recorded frames to a retrying client, following the answer live until it ends.</summary>
        public async Task ReplayAsync(IServerStreamWriter<ChatResponse> stream, CancellationToken cancellationToken)
        {
            var sent = 0;
            while (true)
            {
                ChatResponse[] pending;
                Task changed;
                bool done;
                RpcException? failure;
                lock (_lock)
                {
                    pending = _frames.Skip(sent).ToArray();
                    changed = _changed.Task;
                    done = _done;
                    failure = _failure;
                }

                foreach (var frame in pending)
                {
                    await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                }

                sent += pending.Length;
                if (done && sent == FrameCount())
                {
                    if (failure is not null)
                    {
                        throw failure;
                    }

                    return;
                }

                if (!done)
                {
                    await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        private int FrameCount()
        {
            lock (_lock)
            {
                return _frames.Count;
            }
        }

        private void Record(ChatResponse frame)
        {
            lock (_lock)
            {
                _frames.Add(frame);
                var changed = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                changed.TrySetResult();
            }
        }

        private sealed class RecordingWriter(Answer answer, IServerStreamWriter<ChatResponse> stream) : IServerStreamWriter<ChatResponse>
        {
            public WriteOptions? WriteOptions
            {
                get => stream.WriteOptions;
                set => stream.WriteOptions = value;
            }

            public Task WriteAsync(ChatResponse message) => WriteAsync(message, CancellationToken.None);

            public async Task WriteAsync(ChatResponse message, CancellationToken cancellationToken)
            {
                answer.Record(message);
                await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
