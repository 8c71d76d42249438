using LlmRouter.Common.Chat;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Common.Protection;

/// <summary>
/// What the entry node does to each attempt of a request (DESIGN.md section 15): masks what the attempt sends where
/// the policy says (<see cref="RequestMasking"/>), restores its answer, and screens the restored answer through the
/// answer guardrails (<see cref="AnswerGuardrails"/>) on its way to the client. Hops below the entry do neither.
/// </summary>
internal sealed record EntryProtection(RequestMasking? Masking, AnswerGuardrails? Answer)
{
    /// <summary>The request an attempt on <paramref name="candidate"/> sends, and the sink its answer goes through.</summary>
    public (ChatRequest Request, IChatSink Sink) For(ChatRequest request, RouteCandidate candidate, IChatSink sink)
    {
        // Screening wraps the client's side, so it reads what the client would: the answer with its values restored.
        if (Answer is not null)
        {
            sink = Answer.For(sink);
        }

        return Masking is null ? (request, sink) : Masking.For(request, candidate, sink);
    }
}
