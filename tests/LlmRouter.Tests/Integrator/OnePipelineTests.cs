using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using LlmRouter.Common.Identity;
using LlmRouter.Common.Protocol;
using LlmRouter.Tests.Infrastructure;
using LlmRouter.Tests.Node;
using LlmRouter.V1;

namespace LlmRouter.Tests.Integrator;

/// <summary>
/// The integrator runs the nodes' pipeline: one attempt budget for the whole path, listeners that answer
/// only their own pool, a lying member's records refused at the border, drain, and Explain. Real
/// in-process nodes and integrators with mutual TLS.
/// </summary>
public sealed class OnePipelineTests
{
    private const string Failing = "time_to_first_token: 0ms\ntokens_per_second: 0\nfailure_rate: 1";

    [Fact]
    public async Task Chain_EveryCopyBehindTwoBordersFails_TheRequestTriesThreeBackendsInAll()
    {
        // A - i1|i3 - B - i2|i4 - C, four copies of m-c in C, every one failing: with attempts counted per hop,
        // a1 would try both routes, each integrator in B both routes into C, each of those three copies (12
        // backends); one budget for the whole path allows three in all.
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b")]), ("c", [("c1", "m-c"), ("c2", "m-c"), ("c3", "m-c"), ("c4", "m-c")])],
            [("i1", ["a", "b"], []), ("i3", ["a", "b"], []), ("i2", ["b", "c"], []), ("i4", ["b", "c"], [])],
            simulatedFor: node => node.StartsWith('c') ? Failing : null);
        await mesh.RouteKnownAsync("a1", "m-c", "i1", "i3");
        await Eventually.WaitUntil(() => mesh.Seat("i2", "c").Snapshot.Members.Count(m => m.Models?.Models.Any(model => model.Id == "m-c") == true) == 4,
            "i2 knows the four copies in C", () => "not yet");

        using var call = mesh.Nodes["a1"].Router.Chat(ChatRequests.Ask("m-c", "across two borders"));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(call));

        var generations = new[] { "c1", "c2", "c3", "c4" }.Sum(node => mesh.Nodes[node].Catalog.Current.Backends.Single().Simulation!.StartedGenerations);
        Assert.Equal(3, generations);
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        Assert.Equal("3", refused.Trailers.GetValue(RouterMetadata.AttemptsUsed));
        Assert.Contains("the most a request may try across the mesh is 3", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chain_ACopyFailsBehindTheSecondBorder_TheNextCopyAnswersWithTheAttemptCounted()
    {
        await using var mesh = await BorderMesh.StartAsync(
            [("a", [("a1", "m-a")]), ("b", [("b1", "m-b")]), ("c", [("c1", "m-c"), ("c2", "m-c")])],
            [("i1", ["a", "b"], []), ("i2", ["b", "c"], [])],
            simulatedFor: node => node == "c1" ? Failing : null,
            qualityFor: node => node == "c1" ? 1.0 : 0.1);
        await mesh.RouteKnownAsync("a1", "m-c", "i1");
        await Eventually.WaitUntil(() => mesh.Seat("i2", "c").Snapshot.Members.Count(m => m.Models?.Models.Any(model => model.Id == "m-c") == true) == 2,
            "i2 knows both copies in C", () => "not yet");

        // The failing copy ranks first under the quality profile, whatever the load records say (stale ones
        // count as half full): the request meets it, and the next copy answers.
        var request = ChatRequests.Ask("m-c", "question", maxTokens: 4);
        request.RoutingProfile = "quality";
        var frames = await ChatRequests.ReadAll(mesh.Nodes["a1"].Router.Chat(request));
        var route = frames.Single(f => f.Route is not null).Route;

        Assert.Equal("c2", route.ServingNode);
        Assert.Equal(2u, route.Attempt);
        Assert.Equal(["a1", "i1", "i2", "c2"], route.Path.Select(h => h.Node));
    }

    [Fact]
    public async Task Listener_MemberOfAnotherPool_IsRefusedOnItForMeshAndRouter_AndItsOwnMembersAreServed()
    {
        await using var mesh = await BorderMesh.StartAsync([("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])], [("i1", ["a", "b"], [])]);
        await mesh.RouteKnownAsync("a1", "m-b", "i1");
        using var wrongListener = mesh.ChannelTo("i1", "b", presenting: "a1");
        using var ownListener = mesh.ChannelTo("i1", "b", presenting: "b1");
        var gossip = new GossipRequest { Header = new MeshHeader { Mesh = "test", Pool = "a", Sender = "a1" } };

        var mesh1 = await Assert.ThrowsAsync<RpcException>(() => new Mesh.MeshClient(wrongListener).GossipAsync(gossip).ResponseAsync);
        var router = await Assert.ThrowsAsync<RpcException>(() => ChatRequests.ReadAll(new Router.RouterClient(wrongListener).Chat(ChatRequests.Ask("m-a", "hi"))));
        var answered = await new Mesh.MeshClient(ownListener).GossipAsync(new GossipRequest { Header = new MeshHeader { Mesh = "test", Pool = "b", Sender = "b1" } });

        Assert.Equal(StatusCode.PermissionDenied, mesh1.StatusCode);
        Assert.Contains("is in pool 'a', but this listener of 'i1' serves pool 'b'", mesh1.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(StatusCode.PermissionDenied, router.StatusCode);
        Assert.Equal("i1", answered.Header.Sender);
        Assert.Equal("b", answered.Header.Pool);

        // Admin: an operator's client certificate is answered for the listener's pool; a member of another pool is not.
        var admin = await Assert.ThrowsAsync<RpcException>(() => new Admin.AdminClient(wrongListener).ListMembersAsync(new ListMembersRequest()).ResponseAsync);
        using var asOperator = mesh.ChannelTo("i1", "b", presenting: "client");
        var members = await new Admin.AdminClient(asOperator).ListMembersAsync(new ListMembersRequest());
        Assert.Equal(StatusCode.PermissionDenied, admin.StatusCode);
        Assert.Equal("b", members.Pool);
    }

    [Fact]
    public async Task LyingMember_RecordsNamingOthersAndAnAccusationBeyondReach_RefusedByTheIntegratorAndNeverAdvertised()
    {
        await using var mesh = await BorderMesh.StartAsync([("a", [("a1", "m-a")]), ("b", [("b1", "m-b"), ("b2", "m-b2")])], [("i1", ["a", "b"], [])]);
        await mesh.RouteKnownAsync("a1", "m-b", "i1");
        var seat = mesh.Seat("i1", "b");
        var incarnation = seat.Membership!.Read(state => state.Incarnation);

        // b1 is a member with a valid certificate, and lies: its record names b2, and it accuses i1 at the largest incarnation.
        var store = new CertificateStore(mesh.Mesh.CertificatesDirectory);
        using var b1Key = store.LoadWithKey("b1");
        var liar = new CertificateUpdateSigner(b1Key, store.LoadCertificate(CertificateStore.CaName), "test");
        // Numbered past b1's own records (numbered from the wall clock in milliseconds), so it is news and gets checked.
        var stolen = new ModelRecord { Member = "b1", Version = 1UL << 62 };
        stolen.Models.Add(new ModelInfo { Id = "stolen", Node = "b2", Pool = "b", Kind = ModelKind.Chat, Quality = 1 });
        var gossip = new GossipRequest { Header = new MeshHeader { Mesh = "test", Pool = "b", Sender = "b1" } };
        gossip.Header.Updates.Add(liar.Sign(new Update { Models = stolen }));
        gossip.Header.Updates.Add(liar.Sign(new Update { Suspect = new Suspect { Member = "i1", Incarnation = ulong.MaxValue, From = "b1" } }));
        using var channel = mesh.ChannelTo("i1", "b", presenting: "b1");
        await new Mesh.MeshClient(channel).GossipAsync(gossip);

        Assert.Equal(2, seat.Membership.Read(state => state.Statistics.UpdatesRejected));
        // Not pushed anywhere near the accusation (a loaded machine may make i1 refute a real suspicion or two).
        Assert.InRange(seat.Membership.Read(state => state.Incarnation), incarnation, incarnation + 3);
        Assert.Equal(MemberStatus.Alive, seat.Membership.Read(state => state.Find("i1")!.Status));
        Assert.DoesNotContain(seat.Snapshot.Members, m => m.Models?.Models.Any(model => model.Id == "stolen") == true);

        // The integrator's next route record into a (renewed within 5 s) still carries only what b1 and b2 really serve.
        var into = mesh.Seat("i1", "a").Membership!;
        var published = into.Read(state => state.Find("i1")!.Routes?.Version ?? 0);
        await Eventually.WaitUntil(() => into.Read(state => state.Find("i1")!.Routes?.Version ?? 0) > published,
            "i1 advertises into a again", () => "not yet", TimeSpan.FromSeconds(15));
        var routes = (await mesh.Nodes["a1"].Admin.ListMeshModelsAsync(new ListMeshModelsRequest())).Routes.Select(r => r.Route.Model.Id).Order();
        Assert.Equal(["m-b", "m-b2"], routes);
    }

    [Fact]
    public async Task Integrator_Stopping_TurnsNotServingLeavesItsPoolsAndLetsItsOpenStreamsFinish()
    {
        await using var mesh = await BorderMesh.StartAsync([("a", [("a1", "m-a")]), ("b", [("b1", "m-b")])], [("i1", ["a", "b"], [])],
            simulated: "time_to_first_token: 0ms\ntokens_per_second: 20");
        await mesh.RouteKnownAsync("a1", "m-b", "i1");
        using var healthChannel = mesh.ChannelTo("i1", "a", presenting: "client");
        var health = new Health.HealthClient(healthChannel);
        var firstToken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var streaming = Task.Run(async () =>
        {
            var frames = new List<ChatResponse>();
            using var call = mesh.Nodes["a1"].Router.Chat(ChatRequests.Ask("m-b", "a long answer", maxTokens: 40));
            await foreach (var frame in call.ResponseStream.ReadAllAsync())
            {
                frames.Add(frame);
                if (frame.Delta is not null)
                {
                    firstToken.TrySetResult();
                }
            }

            return frames;
        });
        await firstToken.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var stopping = mesh.StopIntegratorAsync("i1");
        await Eventually.WaitUntil(Eventually.Answered(async () => (await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.NotServing),
            "i1 reports NOT_SERVING", () => Task.FromResult("SERVING"));
        await Eventually.WaitUntil(async () => (await mesh.Nodes["a1"].Admin.ListMembersAsync(new ListMembersRequest())).Members.Single(m => m.Id == "i1").Status == MemberStatus.Left,
            "a1 records i1 as left", () => Task.FromResult("not yet"), TimeSpan.FromSeconds(15));
        var frames = await streaming;
        await stopping;

        var completed = frames[^1].Completed;
        Assert.NotNull(completed);
        Assert.False(completed.Continued);
        Assert.Equal(["b1", "i1", "a1"], completed.Hops.Select(h => h.Node));
    }

    [Fact]
    public async Task Integrator_Explain_ShowsTheCandidatesBehindItsBorderAndWhatItsRulesExclude()
    {
        await using var mesh = await BorderMesh.StartAsync([("a", [("a1", "shared")]), ("b", [("b1", "shared")])], [("i1", ["a", "b"], [])]);
        await mesh.RouteKnownAsync("a1", "shared", "i1");
        using var channel = mesh.ChannelTo("i1", "a", presenting: "client");

        var explained = await new Admin.AdminClient(channel).ExplainAsync(new ExplainRequest { Request = ChatRequests.Ask("shared", "where to?") });

        Assert.Equal("b1", explained.WinnerNode);
        var fromHere = explained.Candidates.Single(c => c.Node == "a1");
        Assert.Equal("in pool 'a', which the request came from", fromHere.Excluded);
    }
}
