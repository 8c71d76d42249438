using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using LlmRouter.Common.Configuration;
using LlmRouter.Node.Backends.Http;
using LlmRouter.Node.Chat;
using LlmRouter.V1;
using Microsoft.Extensions.AI;

namespace LlmRouter.Tests.Node.Backends;

/// <summary>
/// Our OpenAI wire format for OpenAI-compatible servers, both ways: every chunk a server may send is read
/// whatever its field order, extra fields and escapes (generated cases, checked against what was put in),
/// and the request body carries every part of the Router API's request in OpenAI's shape.
/// </summary>
public sealed class OpenAIWireTests
{
    [Fact]
    public void Read_GeneratedChunks_WhatWasPutInComesOut()
    {
        var random = new Random(20261130);
        for (var i = 0; i < 500; i++)
        {
            var expected = GeneratedChunk.Create(random);
            var update = OpenAIChunkReader.Read(Encoding.UTF8.GetBytes(expected.Json.ToJsonString()));

            var because = expected.Json.ToJsonString();
            if (update is null)
            {
                Assert.True(expected.Text.Length == 0 && expected.Calls.Count == 0 && expected.Finish is null && expected.Usage is null, because);
                continue;
            }

            Assert.Equal(expected.Text, update.Text);
            Assert.Equal(expected.Finish, update.FinishReason?.Value);
            var calls = update.Contents.OfType<ToolCallChunk>().Select(c => (c.Index, c.CallId, c.Name, c.Arguments)).ToList();
            Assert.Equal(expected.Calls, calls);
            var usage = update.Contents.OfType<UsageContent>().SingleOrDefault()?.Details;
            Assert.Equal(expected.Usage?.Input, usage?.InputTokenCount);
            Assert.Equal(expected.Usage?.Output, usage?.OutputTokenCount);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("[1,2]")]
    [InlineData("{\"choices\":[{\"delta\":{\"content\":\"cut")]
    [InlineData("not json")]
    public void Read_NotAChunk_JsonException(string data)
    {
        Assert.ThrowsAny<JsonException>(() => OpenAIChunkReader.Read(Encoding.UTF8.GetBytes(data)));
    }

    [Theory]
    [InlineData("""{"error":{"message":"model not loaded","type":"server_error"}}""", "model not loaded")]
    [InlineData("""{"error":"overloaded"}""", "overloaded")]
    public void Read_ErrorEvent_ThrowsWithTheServersMessage(string data, string message)
    {
        var error = Assert.Throws<BackendReplyException>(() => OpenAIChunkReader.Read(Encoding.UTF8.GetBytes(data)));
        Assert.Null(error.Status);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Read_WholeCompletion_MessageToolCallsNumberedByPosition()
    {
        var update = OpenAIChunkReader.Read("""
            {"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"{\"x\":1}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}
            """u8);

        Assert.NotNull(update);
        Assert.Equal(
            [(0, (string?)"a", (string?)"f", "{}"), (1, "b", "g", "{\"x\":1}")],
            update.Contents.OfType<ToolCallChunk>().Select(c => (c.Index, c.CallId, c.Name, c.Arguments)).ToList());
        Assert.Equal(ChatFinishReason.ToolCalls, update.FinishReason);
    }

    [Fact]
    public async Task Body_EveryPartOfTheRequest_InOpenAIsShape()
    {
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 9];
        var request = new ChatRequest
        {
            Model = "m",
            Sampling = new SamplingParameters { Temperature = 0.5f, TopP = 0.25f, MaxTokens = 40, Seed = -3, PresencePenalty = 1, FrequencyPenalty = -1, Stop = { "END", "\"quoted\"" } },
            Tools = { new ToolDefinition { Name = "get_weather", Description = "now", ParametersJson = """{"type":"object","properties":{"city":{"type":"string"}}}""", Strict = true }, new ToolDefinition { Name = "noop" } },
            ToolChoice = new ToolChoice { Mode = ToolChoiceMode.Required },
            ParallelToolCalls = true,
            ResponseFormat = new ResponseFormat { JsonObject = new JsonObjectFormat() },
            Continuation = new Continuation { PartialText = "It is" },
        };
        request.Messages.Add(new V1.ChatMessage { Role = Role.System, Content = "be brief" });
        request.Messages.Add(new V1.ChatMessage
        {
            Role = Role.User,
            Content = "look:",
            Parts =
            {
                new ContentPart { Image = new ImageInput { Data = ByteString.CopyFrom(png), MediaType = "image/png", Detail = "low" } },
                new ContentPart { Image = new ImageInput { Url = "https://example.com/cat.jpg" } },
                new ContentPart { Text = "and this" },
            },
        });
        request.Messages.Add(new V1.ChatMessage { Role = Role.Assistant, ToolCalls = { new ToolCall { Id = "c1", Name = "get_weather", ArgumentsJson = """{"city":"Oslo"}""" } } });
        request.Messages.Add(new V1.ChatMessage { Role = Role.Tool, ToolCallId = "c1", Content = "-2 C" });

        var body = JsonNode.Parse(await OpenAIChatBody.Create(request, "upstream-7b", TokenLimitField.MaxTokens).ReadAsStringAsync())!;

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""
            {
              "model": "upstream-7b",
              "messages": [
                {"role":"system","content":"be brief"},
                {"role":"user","content":[
                  {"type":"text","text":"look:"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,PNG","detail":"low"}},
                  {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
                  {"type":"text","text":"and this"}]},
                {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
                {"role":"tool","tool_call_id":"c1","content":"-2 C"},
                {"role":"assistant","content":"It is"}
              ],
              "stream": true,
              "stream_options": {"include_usage": true},
              "temperature": 0.5, "top_p": 0.25, "max_tokens": 40, "seed": -3, "presence_penalty": 1, "frequency_penalty": -1,
              "stop": ["END", "\"quoted\""],
              "tools": [
                {"type":"function","function":{"name":"get_weather","description":"now","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},
                {"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}
              ],
              "tool_choice": "required",
              "parallel_tool_calls": true,
              "response_format": {"type":"json_object"}
            }
            """.Replace("base64,PNG", "base64," + Convert.ToBase64String(png), StringComparison.Ordinal)), body), body.ToJsonString());
    }

    [Theory]
    [InlineData(TokenLimitField.MaxTokens, "max_tokens")]
    [InlineData(TokenLimitField.MaxCompletionTokens, "max_completion_tokens")]
    public async Task Body_TokenLimit_InTheConfiguredFieldOnly(TokenLimitField field, string name)
    {
        var request = new ChatRequest { Model = "m", Sampling = new SamplingParameters { MaxTokens = 7 } };
        request.Messages.Add(new V1.ChatMessage { Role = Role.User, Content = "hi" });

        var body = JsonNode.Parse(await OpenAIChatBody.Create(request, "u", field).ReadAsStringAsync())!.AsObject();

        Assert.Equal(7, body[name]!.GetValue<int>());
        Assert.Single(body, p => p.Key.Contains("tokens", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Body_NamedToolAndSchema_ChoiceNamesItAndTheSchemaGoesOutVerbatim()
    {
        const string schema = """{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}""";
        var request = new ChatRequest
        {
            Model = "m",
            Tools = { new ToolDefinition { Name = "pick" } },
            ToolChoice = new ToolChoice { ToolName = "pick" },
            ResponseFormat = new ResponseFormat { JsonSchema = new JsonSchemaFormat { SchemaJson = schema, Description = "a number", Strict = true } },
        };
        request.Messages.Add(new V1.ChatMessage { Role = Role.User, Content = "hi" });

        var body = JsonNode.Parse(await OpenAIChatBody.Create(request, "u", TokenLimitField.MaxTokens).ReadAsStringAsync())!;

        Assert.Equal("pick", body["tool_choice"]!["function"]!["name"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"name":"response","description":"a number","schema":""" + schema + ""","strict":true}"""), body["response_format"]!["json_schema"]));
    }

    /// <summary>A chunk as some server might send it, and what it carries.</summary>
    private sealed record GeneratedChunk(JsonObject Json, string Text, List<(int, string?, string?, string)> Calls, string? Finish, (long Input, long Output)? Usage)
    {
        private static readonly string[] Texts = ["", "Hello", " wörld", "line\nbreak", "quote \" and \\ back", "emoji 🙂", "\u0001ctl", "<tag>&amp;"];
        // "" is what Ollama and SGLang send on every chunk before the last: no finish.
        private static readonly string[] Finishes = ["stop", "length", "tool_calls", "content_filter", ""];

        public static GeneratedChunk Create(Random random)
        {
            var text = random.Next(3) == 0 ? "" : Texts[random.Next(Texts.Length)];
            var calls = new List<(int, string?, string?, string)>();
            var delta = new List<KeyValuePair<string, JsonNode?>>();
            if (random.Next(2) == 0)
            {
                delta.Add(new("role", "assistant"));
            }

            delta.Add(new("content", text.Length == 0 && random.Next(2) == 0 ? null : text));
            if (random.Next(3) == 0)
            {
                var pieces = new JsonArray();
                for (var c = random.Next(1, 3); c > 0; c--)
                {
                    var index = random.Next(3);
                    var id = random.Next(2) == 0 ? $"call_{random.Next(100)}" : null;
                    var name = id is null ? null : "fn" + random.Next(5);
                    var arguments = Texts[random.Next(Texts.Length)];
                    calls.Add((index, id, name, arguments));
                    var function = new JsonObject { ["arguments"] = arguments };
                    if (name is not null)
                    {
                        function["name"] = name;
                    }

                    var piece = new JsonObject { ["index"] = index, ["function"] = function, ["type"] = "function" };
                    if (id is not null)
                    {
                        piece["id"] = id;
                    }

                    pieces.Add(Shuffled(random, piece));
                }

                delta.Add(new("tool_calls", pieces));
            }

            if (random.Next(4) == 0)
            {
                delta.Add(new("reasoning_content", "thinking {not json}"));
            }

            var finish = random.Next(3) == 0 ? Finishes[random.Next(Finishes.Length)] : null;
            var choice = Shuffled(random, new JsonObject { ["index"] = 0, ["delta"] = Shuffled(random, new JsonObject(delta)), ["logprobs"] = null, ["finish_reason"] = finish });
            finish = finish is "" ? null : finish;
            var choices = random.Next(6) == 0 ? new JsonArray() : new JsonArray(choice);
            if (choices.Count == 0)
            {
                (text, calls, finish) = ("", [], null);
            }
            else if (random.Next(5) == 0)
            {
                // A second choice (n > 1) is not the answer.
                choices.Add(new JsonObject { ["index"] = 1, ["delta"] = new JsonObject { ["content"] = "other" }, ["finish_reason"] = "stop" });
            }

            (long, long)? usage = random.Next(3) == 0 ? (random.Next(1000), random.Next(1000)) : null;
            var chunk = new JsonObject
            {
                ["id"] = "chatcmpl-1",
                ["object"] = "chat.completion.chunk",
                ["choices"] = choices,
                ["usage"] = usage is { } u ? new JsonObject { ["prompt_tokens"] = u.Item1, ["completion_tokens"] = u.Item2, ["total_tokens"] = u.Item1 + u.Item2 } : null,
                ["x_extension"] = new JsonObject { ["nested"] = new JsonArray(1, "two", new JsonObject { ["content"] = "not this" }) },
            };
            return new GeneratedChunk(Shuffled(random, chunk), text, calls, finish, usage);
        }

        private static JsonObject Shuffled(Random random, JsonObject source)
        {
            var properties = source.Select(p => new KeyValuePair<string, JsonNode?>(p.Key, p.Value?.DeepClone())).ToArray();
            random.Shuffle(properties);
            return new JsonObject(properties);
        }
    }
}
