// Drives a node's HTTP ingress with the official Anthropic SDK, as a service written against Anthropic would.
// Usage: node anthropic_client.mjs SCENARIO   (BASE_URL, MODEL in the environment)
// Prints one JSON object with what the SDK saw; the .NET test asserts on it.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({ baseURL: process.env.BASE_URL, apiKey: "not-needed", maxRetries: 0, timeout: 30000 });
const model = process.env.MODEL;
const weather = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer", minimum: 1, maximum: 7 } }, required: ["city", "days"] },
};

async function streamed() {
  const stream = await client.messages.create({ model, max_tokens: 5, system: "be brief", messages: [{ role: "user", content: "hello from the anthropic sdk" }], stream: true });
  const events = [];
  let text = "";
  for await (const event of stream) {
    events.push(event.type);
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
  }
  const helper = client.messages.stream({ model, max_tokens: 5, system: "be brief", messages: [{ role: "user", content: "hello from the anthropic sdk" }] });
  const final = await helper.finalMessage();
  return { text, events, finalText: final.content.map(b => b.text ?? "").join(""), stop: final.stop_reason, usage: final.usage };
}

async function whole() {
  const message = await client.messages.create({ model, max_tokens: 4, messages: [{ role: "user", content: "hello" }] });
  return { text: message.content[0].text, stop: message.stop_reason, usage: message.usage };
}

async function tools() {
  const messages = [{ role: "user", content: "what is the weather in Paris? use get_weather" }];
  const stream = client.messages.stream({ model, max_tokens: 256, messages, tools: [weather] });
  let inputDeltas = 0;
  stream.on("inputJson", () => inputDeltas++);
  const first = await stream.finalMessage();
  const calls = first.content.filter(b => b.type === "tool_use");
  messages.push({ role: "assistant", content: first.content });
  messages.push({ role: "user", content: calls.map(c => ({ type: "tool_result", tool_use_id: c.id, content: "18 C and sunny" })) });
  const answer = await client.messages.create({ model, max_tokens: 64, messages, tools: [weather] });
  return { calls: calls.map(c => ({ id: c.id, name: c.name, input: c.input })), inputDeltas, stop: first.stop_reason, answer: answer.content.map(b => b.text ?? "").join(""), answerStop: answer.stop_reason };
}

async function models() {
  const ids = [];
  for await (const model of client.models.list()) ids.push(model.id);
  return { ids };
}

async function errors() {
  const seen = [];
  const attempts = [
    () => client.messages.create({ model: "no-such-model", max_tokens: 4, messages: [{ role: "user", content: "hi" }] }),
    () => client.messages.create({ model, max_tokens: 4, messages: [{ role: "user", content: [{ type: "document", source: { type: "text", media_type: "text/plain", data: "x" } }] }] }),
  ];
  for (const attempt of attempts) {
    try {
      await attempt();
      seen.push({ status: 0 });
    } catch (error) {
      seen.push({ status: error.status, type: error.error?.error?.type ?? null, message: error.error?.error?.message ?? error.message, kind: error.constructor.name });
    }
  }
  return { errors: seen };
}

// The PROMPT from the environment, streamed and read back whole (see openai_client.mjs).
async function echo() {
  const stream = await client.messages.create({ model, max_tokens: 1024, messages: [{ role: "user", content: process.env.PROMPT }], stream: true });
  let text = "";
  for await (const event of stream) {
    if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
  }
  return { text };
}

const scenarios = { streamed, whole, tools, models, errors, echo };
const scenario = scenarios[process.argv[2]];
if (!scenario) {
  console.error(`unknown scenario ${process.argv[2]} (${Object.keys(scenarios).join(", ")})`);
  process.exit(2);
}
console.log(JSON.stringify(await scenario()));
