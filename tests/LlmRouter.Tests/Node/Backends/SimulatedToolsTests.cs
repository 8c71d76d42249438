using System.Text.Json;
using Json.Schema;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends.Simulated;
using LlmRouter.Node.Chat;
using Microsoft.Extensions.AI;

namespace LlmRouter.Tests.Node.Backends;

/// <summary>
/// The simulated model's tool calls and JSON answers: deterministic, streamed in pieces, and always valid
/// against the schema they were asked to follow (checked with an independent JSON Schema validator).
/// </summary>
public sealed class SimulatedToolsTests
{
    private const string WeatherSchema = """{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}""";

    // Schemas as clients send them: nested objects, arrays with bounds, enums, formats, numeric bounds,
    // multipleOf, unions, allOf, $ref into $defs and definitions, nullable types, and an empty schema.
    public static TheoryData<string> Schemas =>
    [
        WeatherSchema,
        """{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","minLength":3,"maxLength":5},"minItems":3,"maxItems":4}},"required":["tags"]}""",
        """{"type":"object","properties":{"unit":{"enum":["c","f"]},"when":{"type":"string","format":"date-time"},"mail":{"type":"string","format":"email"},"id":{"type":"string","format":"uuid"},"site":{"type":"string","format":"uri"}}}""",
        """{"type":"object","properties":{"score":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},"count":{"type":"integer","minimum":10,"maximum":20,"multipleOf":5},"step":{"type":"number","minimum":0.5,"multipleOf":0.25}}}""",
        """{"type":"object","properties":{"value":{"anyOf":[{"type":"integer","minimum":3},{"type":"string"}]},"maybe":{"type":["null","boolean"]},"fixed":{"const":"v1"}},"required":["value","maybe","fixed"]}""",
        """{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}""",
        """{"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"],"additionalProperties":false}},"type":"object","properties":{"path":{"type":"array","items":{"$ref":"#/$defs/point"},"minItems":2}},"required":["path"],"additionalProperties":false}""",
        """{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"name":{"type":"string","minLength":12}},"type":"object","properties":{"first":{"$ref":"#/definitions/name"},"tuple":{"type":"array","items":[{"type":"integer"},{"type":"string"}]}},"required":["first"]}""",
        """{"type":"object","properties":{"node":{"$ref":"#"}}}""",
        """{"type":"object","properties":{"pair":{"type":"array","prefixItems":[{"type":"integer"},{"type":"boolean"}],"items":false}},"required":["pair"]}""",
        """{"type":"object","properties":{"huge":{"type":"integer","minimum":-1e19,"maximum":1e19},"big":{"type":"integer","minimum":9007199254740000,"multipleOf":7}},"required":["huge","big"]}""",
        """{}""",
    ];

    [Theory]
    [MemberData(nameof(Schemas))]
    public void Instance_AnySeed_ValidAgainstTheSchema(string schema)
    {
        var validator = JsonSchema.FromText(schema);
        for (var seed = 0UL; seed < 64; seed++)
        {
            var instance = SimulatedJson.Instance(schema, seed * 7919);

            using var document = JsonDocument.Parse(instance);
            var result = validator.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.True(result.IsValid, $"seed {seed * 7919}: {instance} fails {schema}: {string.Join("; ", (result.Details ?? []).Where(d => d.Errors is not null).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")))}");
        }
    }

    [Fact]
    public async Task Stream_SchemaWhoseEveryInstanceIsHuge_InvalidArgumentNamingTheLimitNotABackendFailure()
    {
        const string nested = """{"type":"array","minItems":1000,"items":{"type":"array","minItems":1000,"items":{"type":"array","minItems":50,"items":{"type":"string","minLength":20}}}}""";
        var options = new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(nested).RootElement, "huge") };

        var refused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => Run([new(ChatRole.User, "a lot")], options));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal($"response_format: every instance of this schema is larger than the {SimulatedJson.MaxBytes} bytes the simulated backend writes (minItems, minLength or required properties at many levels)", refused.Status.Detail);
    }

    [Fact]
    public void Instance_SameSchemaAndSeed_SameText()
    {
        Assert.Equal(SimulatedJson.Instance(WeatherSchema, 42), SimulatedJson.Instance(WeatherSchema, 42));
        Assert.NotEqual(SimulatedJson.Instance(WeatherSchema, 42), SimulatedJson.Instance(WeatherSchema, 43));
    }

    private static SimulatedChatClient Client() =>
        new(new SimulatedBackendConfig(TimeSpan.Zero, 0, DefaultMaxTokens: 256, 0, null, null), "sim-model", TimeProvider.System, () => 0.5, new SimulationCounters());

    private static AIFunctionDeclaration Tool(string name, string schema = WeatherSchema) =>
        AIFunctionFactory.CreateDeclaration(name, $"the {name} tool", JsonDocument.Parse(schema).RootElement);

    private static async Task<List<ChatResponseUpdate>> Run(List<ChatMessage> conversation, ChatOptions options)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in Client().GetStreamingResponseAsync(conversation, options))
        {
            updates.Add(update);
        }

        return updates;
    }

    [Fact]
    public async Task Stream_ToolOffered_CallStreamedInPiecesWithArgumentsFollowingItsSchema()
    {
        var options = new ChatOptions { Tools = [Tool("get_time"), Tool("get_weather")] };

        var updates = await Run([new(ChatRole.User, "use get_weather for Paris")], options);

        var chunks = updates.SelectMany(u => u.Contents.OfType<ToolCallChunk>()).ToList();
        Assert.Equal("get_weather", chunks[0].Name);
        Assert.StartsWith("call_", chunks[0].CallId);
        Assert.True(chunks.Count > 3, $"the arguments came in {chunks.Count - 1} pieces");
        Assert.All(chunks.Skip(1), c => Assert.Null(c.CallId));
        var arguments = string.Concat(chunks.Select(c => c.Arguments));
        Assert.True(JsonSchema.FromText(WeatherSchema).Evaluate(JsonDocument.Parse(arguments).RootElement).IsValid, arguments);
        Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
        Assert.Equal("", string.Concat(updates.Select(u => u.Text)));
    }

    [Fact]
    public async Task Stream_TwoToolsNamedAndParallelAllowed_CallsBothInTheOrderNamed()
    {
        var options = new ChatOptions { Tools = [Tool("get_time"), Tool("get_weather")] };

        var updates = await Run([new(ChatRole.User, "get_weather, then get_time")], options);

        var starts = updates.SelectMany(u => u.Contents.OfType<ToolCallChunk>()).Where(c => c.Name is not null).ToList();
        Assert.Equal(["get_weather", "get_time"], starts.Select(c => c.Name));
        Assert.Equal([0, 1], starts.Select(c => c.Index));
        Assert.NotEqual(starts[0].CallId, starts[1].CallId);

        options.AllowMultipleToolCalls = false;
        var single = await Run([new(ChatRole.User, "get_weather, then get_time")], options);
        Assert.Single(single.SelectMany(u => u.Contents.OfType<ToolCallChunk>()), c => c.Name is not null);
    }

    [Fact]
    public async Task Stream_AfterAToolResult_AnswersInText()
    {
        var options = new ChatOptions { Tools = [Tool("get_weather")] };
        List<ChatMessage> conversation =
        [
            new(ChatRole.User, "weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new(ChatRole.Tool, [new FunctionResultContent("call_1", "18 C")]),
        ];

        var updates = await Run(conversation, options);

        Assert.Empty(updates.SelectMany(u => u.Contents.OfType<ToolCallChunk>()));
        Assert.NotEmpty(string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(ChatFinishReason.Stop, updates[^1].FinishReason);
    }

    [Fact]
    public async Task Stream_ToolChoiceNoneOrNamed_Obeyed()
    {
        var tools = new List<AITool> { Tool("get_time"), Tool("get_weather") };

        var none = await Run([new(ChatRole.User, "get_weather please")], new ChatOptions { Tools = tools, ToolMode = ChatToolMode.None });
        var named = await Run([new(ChatRole.User, "get_weather please")], new ChatOptions { Tools = tools, ToolMode = ChatToolMode.RequireSpecific("get_time") });

        Assert.Empty(none.SelectMany(u => u.Contents.OfType<ToolCallChunk>()));
        Assert.Equal(["get_time"], named.SelectMany(u => u.Contents.OfType<ToolCallChunk>()).Where(c => c.Name is not null).Select(c => c.Name));
    }

    [Fact]
    public async Task Stream_JsonSchemaFormat_AnswerFollowsTheSchema()
    {
        const string schema = """{"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}},"type":"object","properties":{"path":{"type":"array","items":{"$ref":"#/$defs/point"},"minItems":2}},"required":["path"]}""";
        var options = new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(schema).RootElement, "path") };

        var updates = await Run([new(ChatRole.User, "a path please")], options);

        Assert.True(updates.Count(u => u.Text.Length > 0) > 3);
        var text = string.Concat(updates.Select(u => u.Text));
        Assert.True(JsonSchema.FromText(schema).Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
    }

    [Fact]
    public async Task Stream_JsonMode_AnswerIsAJsonObject()
    {
        var updates = await Run([new(ChatRole.User, "json please")], new ChatOptions { ResponseFormat = ChatResponseFormat.Json });

        using var answer = JsonDocument.Parse(string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(JsonValueKind.String, answer.RootElement.GetProperty("answer").ValueKind);
    }
}
