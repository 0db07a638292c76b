// Text generation from the command line:
//
//   deno task generate --model <dir> --prompt "..." [--max-new-tokens N] [--temperature T
//     --top-k K --top-p P --seed S] [--dtype f16|f32] [--batch B] [--steps-per-submit K]
//   deno task generate --random-7b [--prompt-tokens N] [...]   (the 7B shape, random weights)
//
// Streams the text of sequence 0 as it is generated (all sequences are printed at the end when
// --batch > 1) and ends with one line: prompt tokens, time to first token, tokens/s, CPU per step.
// --random-7b needs no download: random weights generated on the GPU and no tokenizer (token ids
// are printed instead of text). Bad arguments, a folder without a checkpoint or tokenizer, and a
// machine without a WebGPU adapter each end with one clear line on stderr and a non-zero exit
// code (2 for usage errors, 1 otherwise).

import { parseArgs } from "node:util";
import "../mod.ts"; // registers the mLSTM kernels the forward uses
import { getGpu } from "../kernels/runtime.ts";
import { XLSTM_7B_CONFIG } from "../models/xlstm_large/config.ts";
import { registerXlstmLargeBackend } from "../models/xlstm_large/_impl.ts";
import { XlstmLarge } from "../models/xlstm_large/model.ts";
import { webgpuXlstmLargeBackend } from "../models/xlstm_large/webgpu.ts";
import type { Sampling } from "../kernels/layers/sampling.ts";
// The tokenizer (npm @huggingface/tokenizers) is imported only with --model, so that --random-7b
// runs where that package is not installed.
import type { XlstmTokenizer } from "../models/xlstm_large/tokenizer.ts";

const USAGE = "usage: deno task generate (--model <dir> | --random-7b) [--prompt TEXT] " +
  "[--max-new-tokens N] [--temperature T [--top-k K] [--top-p P] [--seed S]] [--dtype f16|f32] " +
  "[--batch B] [--steps-per-submit K] [--prompt-tokens N]";

class UsageError extends Error {}

function fail(message: string, code: number): never {
  console.error(`error: ${message.split("\n")[0]}`);
  Deno.exit(code);
}

function num(
  v: string | undefined,
  name: string,
  check: (x: number) => boolean,
  what: string,
): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !check(x)) {
    throw new UsageError(`--${name} must be ${what}, received ${JSON.stringify(v)}`);
  }
  return x;
}

const int = (lo: number, hi = Number.MAX_SAFE_INTEGER) => (x: number) =>
  Number.isInteger(x) && x >= lo && x <= hi;

interface Args {
  model?: string;
  random7b: boolean;
  prompt: string;
  promptTokens?: number;
  maxNewTokens: number;
  sampling: Sampling;
  dtype: "f16" | "f32";
  batch: number;
  stepsPerSubmit: number;
}

function parse(argv: string[]): Args {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: "string" },
        "random-7b": { type: "boolean" },
        prompt: { type: "string" },
        "prompt-tokens": { type: "string" },
        "max-new-tokens": { type: "string" },
        temperature: { type: "string" },
        "top-k": { type: "string" },
        "top-p": { type: "string" },
        seed: { type: "string" },
        dtype: { type: "string" },
        batch: { type: "string" },
        "steps-per-submit": { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split("\n")[0]}; ${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (!values.model === !values["random-7b"]) {
    throw new UsageError(`give exactly one of --model <dir> and --random-7b; ${USAGE}`);
  }
  const dtype = values.dtype ?? "f16";
  if (dtype !== "f16" && dtype !== "f32") {
    throw new UsageError(`--dtype must be f16 or f32, received ${JSON.stringify(dtype)}`);
  }
  const temperature = num(values.temperature, "temperature", (x) => x > 0, "a number > 0");
  const topK = num(values["top-k"], "top-k", int(1), "an integer ≥ 1");
  const topP = num(values["top-p"], "top-p", (x) => x > 0 && x <= 1, "a number in (0, 1]");
  const seed = num(values.seed, "seed", int(0), "a non-negative integer");
  if (
    temperature === undefined && (topK !== undefined || topP !== undefined || seed !== undefined)
  ) {
    throw new UsageError(
      "--top-k, --top-p and --seed need --temperature (sampling); without it decoding is greedy",
    );
  }
  const sampling: Sampling = temperature === undefined ? "greedy" : {
    temperature,
    seed: seed ?? Math.floor(Math.random() * 2 ** 32),
    ...(topK !== undefined ? { topK } : {}),
    ...(topP !== undefined ? { topP } : {}),
  };
  if (values.model && values.prompt === undefined) {
    throw new UsageError(`--prompt is required with --model; ${USAGE}`);
  }
  const promptTokens = num(values["prompt-tokens"], "prompt-tokens", int(1), "an integer ≥ 1");
  if (promptTokens !== undefined && values.model) {
    throw new UsageError(
      "--prompt-tokens is for --random-7b (with --model the prompt is tokenized)",
    );
  }
  return {
    ...(values.model ? { model: values.model } : {}),
    random7b: values["random-7b"] === true,
    prompt: values.prompt ?? "",
    ...(promptTokens !== undefined ? { promptTokens } : {}),
    maxNewTokens: num(values["max-new-tokens"], "max-new-tokens", int(1), "an integer ≥ 1") ?? 64,
    sampling,
    dtype,
    batch: num(values.batch, "batch", int(1, 16), "an integer in 1…16") ?? 1,
    stepsPerSubmit: num(values["steps-per-submit"], "steps-per-submit", int(1), "an integer ≥ 1") ??
      32,
  };
}

function checkFolder(dir: string): void {
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    throw new Error(`--model ${dir}: no such folder`);
  }
  const weights = entries.some((n) =>
    n.endsWith(".safetensors") || n === "model.safetensors.index.json"
  );
  if (!entries.includes("config.json") || !weights) {
    throw new Error(
      `--model ${dir}: no checkpoint there (needs config.json and model.safetensors or a model.safetensors.index.json)`,
    );
  }
  if (!entries.includes("tokenizer.json")) {
    throw new Error(
      `--model ${dir}: no tokenizer.json there (generation needs the checkpoint's tokenizer)`,
    );
  }
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parse(Deno.args);
  } catch (e) {
    fail((e as Error).message, 2);
  }
  const enc = new TextEncoder();
  const write = (s: string) => Deno.stdout.writeSync(enc.encode(s));
  let model: XlstmLarge;
  let tok: XlstmTokenizer | undefined;
  let ids: number[];
  try {
    if (args.model) checkFolder(args.model);
    await getGpu(); // fails early, with one line, without an adapter
    registerXlstmLargeBackend(webgpuXlstmLargeBackend);
    if (args.model) {
      const { XlstmTokenizer } = await import("../models/xlstm_large/tokenizer.ts");
      tok = XlstmTokenizer.fromFolder(args.model);
      model = await XlstmLarge.fromPretrained(args.model, { dtype: args.dtype, backend: "webgpu" });
      ids = tok.encode(args.prompt);
      if (ids.length === 0) throw new Error("--prompt encodes to no tokens: give some text");
    } else {
      const c = XLSTM_7B_CONFIG;
      model = await XlstmLarge.random(c, { dtype: args.dtype, backend: "webgpu", seed: 1 });
      const n = args.promptTokens ?? Math.max(1, enc.encode(args.prompt).length);
      const bytes = enc.encode(args.prompt);
      ids = Array.from(
        { length: n },
        (_, j) => j < bytes.length ? bytes[j]! : (j * 7919) % c.vocabSize,
      );
      if (c.forceBosTokenInsert && c.bosTokenId !== null) ids[0] = c.bosTokenId;
    }
  } catch (e) {
    fail((e as Error).message, 1);
  }
  const prompts = Array.from({ length: args.batch }, () => ids);
  const stream = tok?.streamDecoder();
  if (tok) write(args.prompt);
  let result;
  try {
    result = await model.generate(prompts, {
      maxNewTokens: args.maxNewTokens,
      sampling: args.sampling,
      stepsPerSubmit: args.stepsPerSubmit,
      onTokens: (t) => {
        write(stream ? stream.push(t[0]!) : t[0]!.map((x) => ` ${x}`).join(""));
      },
    });
  } catch (e) {
    fail((e as Error).message, 1);
  }
  write("\n");
  if (args.batch > 1) {
    result.tokens.forEach((t, b) =>
      write(`[${b}] ${tok ? tok.decode(t, { skipSpecialTokens: true }) : t.join(" ")}\n`)
    );
  }
  const tm = result.timing;
  write(
    `prompt tokens: ${tm.promptTokens}, time to first token: ${
      tm.timeToFirstTokenMs.toFixed(1)
    } ms, ` +
      `tokens/s: ${tm.tokensPerSecond.toFixed(1)} per sequence (${
        (tm.tokensPerSecond * args.batch).toFixed(1)
      } ` +
      `for batch ${args.batch}), CPU ${tm.cpuMsPerStep.toFixed(2)} ms per step, ` +
      `${args.dtype} weights, ${(await getGpu()).adapterName}\n`,
  );
  model.destroy();
  Deno.exit(0);
}

if (import.meta.main) await main();
