// The official `openai` npm SDK as a client of a real dsv4d (path in $DSV4D) serving the tiny
// golden model. Generation scripts (--debug-script-text) make reasoning and tool calls
// deterministic on random weights.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import OpenAI from "openai";

const DAEMON = process.env.DSV4D;
const API_KEY = "test-key-123";
const MODEL = "deepseek-v4-flash";

// Starts dsv4d on a free port and resolves once /health answers 200.
async function startDaemon(extraArgs) {
  const child = spawn(DAEMON, ["--port", "0", "--api-key", API_KEY, ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("dsv4d did not start:\n" + log)), 30000);
    child.stderr.on("data", (chunk) => {
      log += chunk.toString();
      const match = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.on("exit", (code) => reject(new Error(`dsv4d exited with ${code}:\n${log}`)));
  });
  for (let attempt = 0; attempt < 300; attempt++) {
    const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (response && response.status === 200) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: API_KEY });
  return { child, port, client, log: () => log };
}

function stopDaemon(daemon) {
  return new Promise((resolve) => {
    if (!daemon || daemon.child.exitCode !== null) return resolve();
    daemon.child.on("exit", resolve);
    daemon.child.kill("SIGTERM");
  });
}

describe("plain generation", () => {
  let daemon;
  before(async () => {
    // A script long enough for every budget below: random weights could end a turn early.
    daemon = await startDaemon([
      "--debug-script-text",
      "The quick brown fox jumps over the lazy dog, again and again, all day long.",
    ]);
  });
  after(() => stopDaemon(daemon));

  test("models.list names the served model", async () => {
    const models = await daemon.client.models.list();
    const ids = [];
    for await (const model of models) ids.push(model.id);
    assert.deepEqual(ids, [MODEL]);
  });

  test("non-stream chat completion", async () => {
    const completion = await daemon.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello" }],
      max_tokens: 5,
    });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices[0].message.role, "assistant");
    assert.equal(completion.choices[0].finish_reason, "length");
    assert.equal(completion.usage.completion_tokens, 5);
    assert.ok(completion.usage.prompt_tokens > 0);
    assert.equal(typeof completion.usage.prompt_tokens_details.cached_tokens, "number");
  });

  test("streamed chunks end with a usage chunk", async () => {
    const stream = await daemon.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Count" }],
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 3);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const finish = chunks.find((c) => c.choices.length && c.choices[0].finish_reason);
    assert.equal(finish.choices[0].finish_reason, "length");
    const last = chunks[chunks.length - 1];
    assert.equal(last.usage.completion_tokens, 4);
    assert.equal(typeof last.usage.prompt_tokens_details.cached_tokens, "number");
  });

  test("legacy completions", async () => {
    const completion = await daemon.client.completions.create({
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 3,
    });
    assert.equal(completion.object, "text_completion");
    assert.equal(typeof completion.choices[0].text, "string");
    assert.equal(completion.usage.completion_tokens, 3);
  });

  test("errors arrive as the SDK's typed errors", async () => {
    await assert.rejects(
      daemon.client.chat.completions.create({
        model: "no-such-model",
        messages: [{ role: "user", content: "x" }],
      }),
      (error) => error instanceof OpenAI.NotFoundError && /no-such-model/.test(error.message),
    );
    await assert.rejects(
      daemon.client.chat.completions.create({ model: MODEL, messages: "not a list" }),
      (error) => error instanceof OpenAI.BadRequestError && error.status === 400,
    );
    const stranger = new OpenAI({ baseURL: daemon.client.baseURL, apiKey: "wrong" });
    await assert.rejects(
      stranger.models.list(),
      (error) => error instanceof OpenAI.AuthenticationError && error.status === 401,
    );
  });
});

describe("reasoning", () => {
  let daemon;
  before(async () => {
    daemon = await startDaemon(["--debug-script-text", "Greet back briefly.</think>Hello there!"]);
  });
  after(() => stopDaemon(daemon));

  test("reasoning_content deltas come before the answer", async () => {
    const stream = await daemon.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
    });
    let reasoning = "";
    let content = "";
    let sawContentBeforeReasoningEnded = false;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta ?? {};
      if (delta.reasoning_content) {
        if (content) sawContentBeforeReasoningEnded = true;
        reasoning += delta.reasoning_content;
      }
      if (delta.content) content += delta.content;
    }
    assert.equal(reasoning, "Greet back briefly.");
    assert.equal(content, "Hello there!");
    assert.equal(sawContentBeforeReasoningEnded, false);
  });
});

describe("tool calls", () => {
  const script =
    '\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n' +
    '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n' +
    '<｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>\n' +
    "</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  const tools = [
    {
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather forecast for a city",
        parameters: {
          type: "object",
          properties: { city: { type: "string" }, days: { type: "integer" } },
          required: ["city"],
        },
      },
    },
  ];
  let daemon;
  before(async () => {
    daemon = await startDaemon(["--debug-script-text", script]);
  });
  after(() => stopDaemon(daemon));

  test("streamed tool_calls assemble into one call and the next turn is cached", async () => {
    const messages = [{ role: "user", content: "What is the weather in Paris?" }];
    const stream = await daemon.client.chat.completions.create({
      model: MODEL,
      messages,
      tools,
      stream: true,
      stream_options: { include_usage: true },
      thinking: false,
    });
    const calls = [];
    let finishReason = null;
    let usage = null;
    let deltasWithId = 0;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finishReason = choice.finish_reason;
      for (const delta of choice.delta.tool_calls ?? []) {
        if (delta.id) {
          deltasWithId++;
          calls[delta.index] = { id: delta.id, name: delta.function.name, arguments: "" };
        }
        calls[delta.index].arguments += delta.function?.arguments ?? "";
      }
    }
    assert.equal(finishReason, "tool_calls");
    assert.equal(calls.length, 1);
    assert.equal(deltasWithId, 1);
    assert.equal(calls[0].name, "get_weather");
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: "Paris", days: 3 });

    const followUp = await daemon.client.chat.completions.create({
      model: MODEL,
      messages: [
        ...messages,
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: calls[0].id,
              type: "function",
              function: { name: "get_weather", arguments: '{"days":3,"city":"Paris"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: calls[0].id, content: "sunny, 24 C" },
      ],
      tools,
      max_tokens: 2,
      thinking: false,
    });
    assert.ok(
      followUp.usage.prompt_tokens_details.cached_tokens >=
        usage.prompt_tokens + usage.completion_tokens - 1,
      `cached ${followUp.usage.prompt_tokens_details.cached_tokens}`,
    );
  });

  test("the SDK's stream helper returns the assembled call", async () => {
    const runner = daemon.client.chat.completions.stream({
      model: MODEL,
      messages: [{ role: "user", content: "Weather?" }],
      tools,
      thinking: false,
    });
    const completion = await runner.finalChatCompletion();
    const call = completion.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, "get_weather");
    assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris", days: 3 });
    assert.equal(completion.choices[0].finish_reason, "tool_calls");
  });
});
