using System.Text.Json;
using Anthropic.Models.Messages;
using LlmRouter.V1;
using Microsoft.Extensions.AI;
using OpenAI.Chat;

namespace LlmRouter.Node.Chat;

/// <summary>
/// Reads the tool calls out of a backend's stream as they arrive, as <see cref="ToolCallDelta"/> frames.
/// Microsoft.Extensions.AI's OpenAI and Anthropic clients gather each call and yield it whole after the
/// last chunk, which would hold a client's call back until the model has finished writing it; so the
/// providers' own chunks are read from each update's raw representation (OpenAI's tool call updates,
/// Anthropic's tool_use blocks and input_json_delta events), and the simulator yields
/// <see cref="ToolCallChunk"/>s. A whole call from any other client is passed on as one delta. Calls are
/// numbered from 0 in the order they begin, whatever the provider numbers them.
/// </summary>
internal sealed class ToolCallDeltas
{
    // Provider's call key (its index, or a content block index) to our index and the id it began with; ids of calls already begun.
    private readonly Dictionary<long, (int Index, string? Id)> _indexes = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly List<ToolCallDelta> _found = [];

    // Microsoft.Extensions.AI's options, without its indentation: arguments go out as one line, as providers send them.
    private static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    private int _count;

    /// <summary>Calls begun so far.</summary>
    public int Count => _count;

    /// <summary>The deltas in one update, in order; empty for an update without tool calls (the common case, allocation-free).</summary>
    public IReadOnlyList<ToolCallDelta> Read(ChatResponseUpdate update)
    {
        _found.Clear();
        switch (update.RawRepresentation)
        {
            case StreamingChatCompletionUpdate openAI:
                foreach (var call in openAI.ToolCallUpdates)
                {
                    Add(call.Index, call.ToolCallId, call.FunctionName, call.FunctionArgumentsUpdate?.ToString() ?? "");
                }

                break;
            case RawMessageStreamEvent anthropic:
                ReadAnthropic(anthropic.Json);
                break;
        }

        foreach (var content in update.Contents)
        {
            switch (content)
            {
                case ToolCallChunk chunk:
                    Add(chunk.Index, chunk.CallId, chunk.Name, chunk.Arguments);
                    break;
                case FunctionCallContent call when !_ids.Contains(call.CallId):
                    // A whole call that was not streamed (a client without raw chunks): one delta carries it.
                    _ids.Add(call.CallId);
                    _found.Add(new ToolCallDelta
                    {
                        Index = (uint)_count++,
                        Id = call.CallId,
                        Name = call.Name,
                        Arguments = JsonSerializer.Serialize(call.Arguments ?? new Dictionary<string, object?>(), Compact),
                    });
                    break;
            }
        }

        return _found;
    }

    private void ReadAnthropic(JsonElement json)
    {
        if (json.ValueKind != JsonValueKind.Object || !json.TryGetProperty("type", out var type) || !json.TryGetProperty("index", out var index))
        {
            return;
        }

        if (type.ValueEquals("content_block_start") && json.TryGetProperty("content_block", out var block)
            && block.TryGetProperty("type", out var blockType) && blockType.ValueEquals("tool_use"))
        {
            Add(index.GetInt64(), block.GetProperty("id").GetString(), block.GetProperty("name").GetString(), "");
        }
        else if (type.ValueEquals("content_block_delta") && json.TryGetProperty("delta", out var delta)
            && delta.TryGetProperty("type", out var deltaType) && deltaType.ValueEquals("input_json_delta"))
        {
            Add(index.GetInt64(), null, null, delta.GetProperty("partial_json").GetString() ?? "");
        }
    }

    private void Add(long key, string? id, string? name, string arguments)
    {
        var begun = _indexes.TryGetValue(key, out var call);
        if (begun && !string.IsNullOrEmpty(id) && call.Id is not null && id != call.Id)
        {
            // A server that numbers parallel calls all 0: a new id under a known key is a new call.
            begun = false;
        }

        if (!begun)
        {
            call = (_count++, string.IsNullOrEmpty(id) ? null : id);
            _indexes[key] = call;
        }
        else if (call.Id is null && !string.IsNullOrEmpty(id))
        {
            // The id came after the call's first piece: it goes out once, now.
            _indexes[key] = call with { Id = id };
        }
        else
        {
            // Some servers repeat the id and name on every chunk; the proto has them on the call's first delta only.
            (id, name) = (null, null);
        }

        var index = call.Index;
        if (!string.IsNullOrEmpty(id))
        {
            _ids.Add(id);
        }

        if (string.IsNullOrEmpty(id) && string.IsNullOrEmpty(name) && arguments.Length == 0)
        {
            return;
        }

        _found.Add(new ToolCallDelta { Index = (uint)index, Id = id ?? "", Name = name ?? "", Arguments = arguments });
    }
}
