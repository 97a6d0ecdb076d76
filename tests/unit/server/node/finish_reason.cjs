// Drives the official Node client (npm `openai`) against a gateway whose engine answers invalid
// JSON; prints one JSON line: what each call saw. Usage: BASE_URL=http://host:port/v1 node this.
const OpenAI = require("openai");
const { zodResponseFormat } = require("openai/helpers/zod");
const { z } = require("zod");

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: "none", maxRetries: 0 });
const Person = z.object({ name: z.string() });
const format = zodResponseFormat(Person, "person");
const ask = (content) => ({ model: "fake-model", messages: [{ role: "user", content }] });

async function attempt(fn) {
  try {
    return await fn();
  } catch (err) {
    return { error: `${err.constructor.name}: ${String(err.message).slice(0, 200)}` };
  }
}

async function main() {
  const out = { version: require("openai/version").VERSION };
  out.create = await attempt(async () => {
    const r = await client.chat.completions.create({ ...ask("extra"), response_format: format });
    return { finish_reason: r.choices[0].finish_reason, valid: r.choices[0].structured_output.valid };
  });
  out.stream = await attempt(async () => {
    const stream = await client.chat.completions.create({
      ...ask("extra"), response_format: format, stream: true,
    });
    let finish = null;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
    return { finish_reason: finish };
  });
  out.parse = await attempt(async () => {
    const r = await client.chat.completions.parse({ ...ask("extra"), response_format: format });
    return { finish_reason: r.choices[0].finish_reason, parsed: r.choices[0].message.parsed };
  });
  out.parse_wrong_type = await attempt(async () => {
    const r = await client.chat.completions.parse({ ...ask("wrong"), response_format: format });
    return { finish_reason: r.choices[0].finish_reason, parsed: r.choices[0].message.parsed };
  });
  out.stream_helper = await attempt(async () => {
    const stream = client.chat.completions.stream({ ...ask("extra"), response_format: format });
    const r = await stream.finalChatCompletion();
    return { finish_reason: r.choices[0].finish_reason, parsed: r.choices[0].message.parsed };
  });
  console.log(JSON.stringify(out));
}

main();
