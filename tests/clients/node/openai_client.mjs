// Drives a node's HTTP ingress with the official OpenAI SDK, as a service written against OpenAI would.
// Usage: node openai_client.mjs SCENARIO   (BASE_URL, MODEL, EMBED_MODEL in the environment)
// Prints one JSON object with what the SDK saw; the .NET test asserts on it.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: "not-needed", maxRetries: 0, timeout: 30000 });
const model = process.env.MODEL;
const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"] },
  },
};

async function streamed() {
  const { data: stream, response } = await client.chat.completions
    .create({ model, messages: [{ role: "user", content: "hello from the openai sdk" }], max_tokens: 5, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let text = "", chunks = 0, finish = null, usage = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta?.content ?? "";
      finish = choice.finish_reason ?? finish;
    }
  }
  return { text, chunks, finish, usage, route: response.headers.get("x-llmrouter-route"), serving: response.headers.get("x-llmrouter-serving-node") };
}

async function whole() {
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hello" }], max_completion_tokens: 4 })
    .withResponse();
  return { text: data.choices[0].message.content, finish: data.choices[0].finish_reason, usage: data.usage, route: response.headers.get("x-llmrouter-route"), hops: response.headers.get("x-llmrouter-hops") };
}

async function tools() {
  const messages = [{ role: "user", content: "what is the weather in Paris? use get_weather" }];
  const stream = await client.chat.completions.create({ model, messages, tools: [weather], stream: true });
  const calls = [];
  let deltas = 0, finish = null;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      finish = choice.finish_reason ?? finish;
      for (const call of choice.delta?.tool_calls ?? []) {
        deltas++;
        calls[call.index] ??= { id: "", name: "", arguments: "" };
        if (call.id) calls[call.index].id = call.id;
        if (call.function?.name) calls[call.index].name = call.function.name;
        calls[call.index].arguments += call.function?.arguments ?? "";
      }
    }
  }
  messages.push({ role: "assistant", content: null, tool_calls: calls.map(c => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) });
  for (const call of calls) messages.push({ role: "tool", tool_call_id: call.id, content: "18 C and sunny" });
  const answer = await client.chat.completions.create({ model, messages, tools: [weather] });
  return { calls, deltas, finish, answer: answer.choices[0].message.content, answerFinish: answer.choices[0].finish_reason };
}

async function schema() {
  const format = { type: "json_schema", json_schema: { name: "forecast", schema: weather.function.parameters, strict: true } };
  const result = await client.chat.completions.create({ model, messages: [{ role: "user", content: "a forecast" }], response_format: format });
  return { content: result.choices[0].message.content };
}

async function embeddings() {
  const encoded = await client.embeddings.create({ model: process.env.EMBED_MODEL, input: ["first text", "second text"] });
  const floats = await client.embeddings.create({ model: process.env.EMBED_MODEL, input: "first text", encoding_format: "float" });
  return { count: encoded.data.length, dimensions: encoded.data[0].embedding.length, first: encoded.data[0].embedding, float: floats.data[0].embedding, usage: encoded.usage };
}

async function models() {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  return { ids };
}

async function errors() {
  const seen = [];
  const attempts = [
    () => client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] }),
    () => client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], temperature: 7 }),
    () => client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], tools: [{ ...weather, function: { ...weather.function, parameters: { type: "object", properties: { city: { type: "strin" } } } } }] }),
  ];
  for (const attempt of attempts) {
    try {
      await attempt();
      seen.push({ status: 0 });
    } catch (error) {
      seen.push({ status: error.status, type: error.type ?? error.error?.type, param: error.param ?? error.error?.param ?? null, message: error.error?.message ?? error.message, kind: error.constructor.name });
    }
  }
  return { errors: seen };
}

// The PROMPT from the environment, streamed and read back whole (masking: what the client reads is what it wrote,
// when the backend echoes); a refusal is returned as the SDK raised it.
async function echo() {
  try {
    const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: process.env.PROMPT }], stream: true });
    let text = "";
    for await (const chunk of stream) {
      for (const choice of chunk.choices) text += choice.delta?.content ?? "";
    }
    return { text };
  } catch (error) {
    return { status: error.status, type: error.error?.type ?? null, message: error.error?.message ?? error.message, kind: error.constructor.name };
  }
}

const scenarios = { streamed, whole, tools, schema, embeddings, models, errors, echo };
const scenario = scenarios[process.argv[2]];
if (!scenario) {
  console.error(`unknown scenario ${process.argv[2]} (${Object.keys(scenarios).join(", ")})`);
  process.exit(2);
}
console.log(JSON.stringify(await scenario()));
