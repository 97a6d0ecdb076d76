// Single-stream greedy decode speed of llama.cpp (prebuilt, via the npm package node-llama-cpp).
//
//   node bench/llamacpp.mjs --pkg DIR --model F.gguf [--threads 1 2] [--tokens 128]
//                           [--repeats 5] [--prompt TEXT]
//
// DIR is where `npm install node-llama-cpp@3.22.1` ran (its node_modules holds the prebuilt
// libllama + ggml CPU backends; no compiler needed). One context per thread count; per repeat the
// sequence is cleared, the prompt evaluated, and `--tokens` tokens generated greedily (temperature
// 0, end-of-generation tokens yielded and generation continued, like vLLM's ignore_eos). A warm-up per
// thread count is excluded. Prints one JSON line per repeat:
//   decode_tok_s  = (tokens - 1) / (time of the last token - time of the first token)
//   total_tok_s   = tokens / (time from submitting the prompt to the last token), like a
//                   server's completion tokens / wall time (prefill included, no HTTP).
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function parseArgs(argv) {
  const args = { threads: [1, 2], tokens: 128, repeats: 5, prompt: "The capital of France is" };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "");
    if (key === "threads") {
      args.threads = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith("--")) args.threads.push(Number(argv[++i]));
    } else {
      args[key] = ["tokens", "repeats"].includes(key) ? Number(argv[++i]) : argv[++i];
    }
  }
  if (!args.pkg || !args.model) throw new Error("--pkg DIR and --model F.gguf are required");
  return args;
}

async function generate(sequence, promptTokens, tokens) {
  await sequence.clearHistory();
  const start = performance.now();
  let first = 0, last = 0, count = 0;
  for await (const _token of sequence.evaluate(promptTokens, { temperature: 0, yieldEogToken: true })) {
    last = performance.now();
    if (count === 0) first = last;
    if (++count >= tokens) break;
  }
  return {
    tokens: count,
    decode_tok_s: (count - 1) / ((last - first) / 1e3),
    total_tok_s: count / ((last - start) / 1e3),
    ttft_ms: first - start,
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const entry = join(args.pkg, "node_modules", "node-llama-cpp", "dist", "index.js");
  const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: args.model });
  const promptTokens = model.tokenize(args.prompt);
  for (const threads of args.threads) {
    const context = await model.createContext({ contextSize: 1024, sequences: 1, threads });
    const sequence = context.getSequence();
    await generate(sequence, promptTokens, 16); // warm-up, excluded
    for (let rep = 0; rep < args.repeats; rep++) {
      const r = await generate(sequence, promptTokens, args.tokens);
      console.log(JSON.stringify({ impl: "llama.cpp", threads, repeat: rep,
        prompt_tokens: promptTokens.length, cpu_math_cores: llama.cpuMathCores ?? null, ...r }));
    }
    await context.dispose();
  }
  await model.dispose();
}

main().catch((err) => { console.error(err); process.exit(1); });
