using LlmRouter.Common.Chat;

namespace LlmRouter.Common.Protection;

/// <summary>
/// An attempt's view of the client's stream when its request went out masked: text deltas and each tool call's
/// arguments pass through a <see cref="TextRestorer"/> on their way to the client. An answer asked for as JSON (a
/// response format) gets its values JSON-escaped, as tool calls' arguments do. One per attempt.
/// </summary>
internal sealed class RestoringSink(IChatSink inner, MaskingSession session, bool jsonAnswer = false)
    : HoldingSink(inner, new TextRestorer(session, jsonAnswer), () => new TextRestorer(session, json: true));
