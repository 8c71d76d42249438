namespace LlmRouter.Common.Chat;

/// <summary>
/// A stream that keeps the answer's frames and writes the answer to its client only after the pipeline returns (the
/// HTTP ingress's whole, unstreamed answers): a frame written to it has not reached the client.
/// </summary>
internal interface IBufferedAnswer;
