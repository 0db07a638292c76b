// `deno task generate` (tools/generate.ts) in a subprocess: a small checkpoint folder written here
// (random weights, the tiny tokenizer.json) streams text and ends with the timing line; bad
// arguments, a folder without a checkpoint or tokenizer, and no adapter end with one line on
// stderr and a non-zero exit code.

import assert from "node:assert/strict";
import { createXlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { writeXlstmLargeCheckpoint } from "../models/xlstm_large/checkpoint.ts";
import { TINY_VOCAB, writeTinyTokenizer } from "./_tiny_tokenizer.ts";
import { gpuMissing } from "./_gpu.ts";

const ignore = await gpuMissing();

async function cli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tools/generate.ts", ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const dir = Deno.makeTempDirSync();
const ckpt = `${dir}/ckpt`;
await writeXlstmLargeCheckpoint(
  ckpt,
  createXlstmLargeConfig({
    vocabSize: TINY_VOCAB,
    embeddingDim: 32,
    numBlocks: 2,
    numHeads: 2,
    bosTokenId: 0,
    eosTokenIds: [],
    forceBosTokenInsert: true,
  }),
  { seed: 3 },
);
writeTinyTokenizer(ckpt);

Deno.test(
  { name: "generate CLI: streams text and ends with the timing line", ignore },
  async () => {
    const r = await cli([
      "--model",
      ckpt,
      "--prompt",
      "hello world",
      "--max-new-tokens",
      "6",
      "--temperature",
      "0.8",
      "--top-p",
      "0.9",
      "--seed",
      "5",
      "--batch",
      "2",
      "--dtype",
      "f32",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith("hello world"));
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(
      lines.at(-1)!,
      /^prompt tokens: 6, time to first token: [\d.]+ ms, tokens\/s: [\d.]+ per sequence \([\d.]+ for batch 2\), CPU [\d.]+ ms per step, f32 weights/,
    );
    assert.match(lines.at(-3)!, /^\[0\] /);
    // the same seed gives the same text
    const again = await cli([
      "--model",
      ckpt,
      "--prompt",
      "hello world",
      "--max-new-tokens",
      "6",
      "--temperature",
      "0.8",
      "--top-p",
      "0.9",
      "--seed",
      "5",
      "--batch",
      "2",
      "--dtype",
      "f32",
    ]);
    assert.deepEqual(again.stdout.split("\n").slice(0, -2), r.stdout.split("\n").slice(0, -2));
  },
);

const bad: [string, string[], RegExp, number, Record<string, string>?][] = [
  [
    "an unknown option",
    ["--bogus"],
    /^error: Unknown option '--bogus'; usage: deno task generate/,
    2,
  ],
  [
    "a bad number",
    ["--random-7b", "--max-new-tokens", "x"],
    /^error: --max-new-tokens must be an integer ≥ 1, received "x"$/,
    2,
  ],
  [
    "a bad dtype",
    ["--random-7b", "--dtype", "bf16"],
    /^error: --dtype must be f16 or f32, received "bf16"$/,
    2,
  ],
  [
    "a batch above 16",
    ["--random-7b", "--batch", "17"],
    /^error: --batch must be an integer in 1…16/,
    2,
  ],
  ["top-k without temperature", ["--random-7b", "--top-k", "5"], /need --temperature/, 2],
  [
    "neither --model nor --random-7b",
    ["--prompt", "x"],
    /^error: give exactly one of --model <dir> and --random-7b/,
    2,
  ],
  [
    "a missing folder",
    ["--model", "/nonexistent/x", "--prompt", "a"],
    /^error: --model \/nonexistent\/x: no such folder$/,
    1,
  ],
  [
    "a folder without a checkpoint",
    ["--model", "tests", "--prompt", "a"],
    /^error: --model tests: no checkpoint there/,
    1,
  ],
  [
    "no adapter",
    ["--model", ckpt, "--prompt", "a"],
    /^error: No WebGPU adapter found .*mesa-vulkan-drivers/,
    1,
    // Both loader variables: newer Vulkan loaders read VK_DRIVER_FILES (set on the GPU machine).
    {
      VK_ICD_FILENAMES: "/nonexistent.json",
      VK_DRIVER_FILES: "/nonexistent.json",
      DENO_WEBGPU_BACKEND: "vulkan",
    },
  ],
];
for (const [what, args, re, code, env] of bad) {
  Deno.test(`generate CLI: ${what} gives one line and exit code ${code}`, async () => {
    const r = await cli(args, env);
    assert.equal(r.code, code, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
  });
}

Deno.test("generate CLI: a folder without tokenizer.json is named", async () => {
  const d = `${dir}/notok`;
  await writeXlstmLargeCheckpoint(
    d,
    createXlstmLargeConfig({ vocabSize: 10, embeddingDim: 8, numBlocks: 1, numHeads: 2 }),
  );
  const r = await cli(["--model", d, "--prompt", "a"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), new RegExp(`^error: --model ${d}: no tokenizer.json there`));
});
