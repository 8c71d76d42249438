using Grpc.Core;
using LlmRouter.Common.Pipeline;
using LlmRouter.Common.Protocol;
using LlmRouter.Common.Routing;
using LlmRouter.V1;

namespace LlmRouter.Tests.Common.Pipeline;

/// <summary>One hop's attempts within the request's budget for the whole path, and what it learns from failures below it.</summary>
public sealed class AttemptLedgerTests
{
    private static RouteCandidate Copy(string node) => RouteCandidate.FromRemote(
        new ModelInfo { Id = "m", Node = node, Pool = "b", Backend = "sim", Kind = ModelKind.Chat }, $"https://{node}:1", null);

    private static RouteCandidate Route(string integrator)
    {
        var route = new ModelRoute { Model = new ModelInfo { Id = "m", Node = integrator, Pool = "a", Kind = ModelKind.Chat }, FreeCapacity = 1 };
        route.Pools.Add("b");
        return RouteCandidate.FromRoute(route, integrator, "a", $"https://{integrator}:1");
    }

    private static IReadOnlyList<ScoredCandidate> Ranked(params RouteCandidate[] candidates) =>
        candidates.Select((c, i) => new ScoredCandidate(c, 1.0 - (i * 0.1))).ToList();

    private static RpcException Failure(int used, params string[] failed)
    {
        var trailers = new Metadata();
        AttemptBudget.Write(trailers, used, failed);
        return new RpcException(new Status(StatusCode.Unavailable, "failed below"), trailers);
    }

    [Fact]
    public void Next_HopThatFailedNamingCopies_AskedAgainOnlyAfterFreshCandidates_AndToldWhichCopiesToAvoid()
    {
        var (i1, i2) = (Route("i1"), Route("i2"));
        var ranking = Ranked(i1, i2);
        var ledger = new AttemptLedger(budget: 3, failedBefore: [], self: "a1");

        var failed = ledger.Fail(ledger.Next(ranking, () => ranking)!, Failure(used: 1, "b2/sim"));
        var second = ledger.Next(ranking, () => ranking);
        ledger.Fail(second!, Failure(used: 1, "b1/sim"));
        var third = ledger.Next(ranking, () => ranking);

        Assert.Empty(failed);
        Assert.Same(i2, second);
        Assert.Same(i1, third);
        Assert.Equal(["b2/sim"], ledger.ExcludedFor(i1));
        Assert.Equal(["b1/sim"], ledger.ExcludedFor(i2));
        Assert.Equal(1, ledger.Remaining);
    }

    [Fact]
    public void Fail_WhatAHopBelowNames_NeverCoolsOrExcludesThisHostsOwnCopies_NorANamedPoolMember()
    {
        var (i1, n2) = (Route("i1"), Copy("n2"));
        var ledger = new AttemptLedger(budget: 3, failedBefore: [], self: "a1");

        var fromRoute = ledger.Fail(i1, Failure(used: 1, "a1/sim"));
        var fromMember = ledger.Fail(n2, Failure(used: 1, "a1/sim", "a2/sim"));
        var trailers = new Metadata();
        ledger.Report(trailers);

        Assert.Equal(["i1/route:m"], fromRoute);
        Assert.Equal(["n2/sim"], fromMember);
        Assert.Equal("i1/route:m,n2/sim", trailers.GetValue(RouterMetadata.FailedCopies));
    }

    [Fact]
    public void Fail_HopNamingNothing_IsWhatFailed_AndIsNotAskedAgain()
    {
        var (i1, i2) = (Route("i1"), Route("i2"));
        var ranking = Ranked(i1, i2);
        var ledger = new AttemptLedger(budget: 3, failedBefore: [], self: "a1");

        var failed = ledger.Fail(ledger.Next(ranking, () => ranking)!, new RpcException(new Status(StatusCode.Unavailable, "connection refused")));

        Assert.Equal(["i1/route:m"], failed);
        Assert.Same(i2, ledger.Next(ranking, () => ranking));
        Assert.Equal(2, ledger.Remaining);
    }

    [Fact]
    public void Fail_AttemptsUsedBelow_ComeOffTheBudget_AndNothingIsTriedOnceItIsSpent()
    {
        var ranking = Ranked(Route("i1"), Copy("b1"));
        var ledger = new AttemptLedger(budget: 3, failedBefore: [], self: "a1");

        ledger.Fail(ledger.Next(ranking, () => ranking)!, Failure(used: 3, "c1/sim", "c2/sim", "c3/sim"));
        var trailers = new Metadata();
        ledger.Report(trailers);

        Assert.Null(ledger.Next(ranking, () => ranking));
        Assert.Equal("3", trailers.GetValue(RouterMetadata.AttemptsUsed));
        Assert.Equal("c1/sim,c2/sim,c3/sim", trailers.GetValue(RouterMetadata.FailedCopies));
    }

    [Fact]
    public void Next_CopiesThatFailedBeforeTheRequestGotHere_AreToldToEveryHopBelow()
    {
        var ledger = new AttemptLedger(budget: 2, failedBefore: ["b2/sim"], self: "a1");

        Assert.Equal(["b2/sim"], ledger.ExcludedFor(Route("i1")));
        Assert.Equal(2, ledger.Remaining);
    }
}
