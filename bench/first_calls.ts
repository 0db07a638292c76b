// The first calls of each WebGPU kernel family on a driver that specializes shaders on uniform
// values (Mesa's lavapipe, 22.x: "inline uniforms", a shader variant recompiled with the uniform
// values folded in): each family runs a few calls of changing sequence lengths in one process and
// prints each call's wall time. Before the loop bounds were made opaque (kernels/_opaque.ts,
// `setOpaqueLoopBounds`), the first several calls of a family each paid a recompile (~1-2 s at small
// head dimensions on lavapipe); after, only the first call compiles.
//
//   deno run -A bench/first_calls.ts [--families a,b] [--uniform-bounds]
//
// Each family runs in a process of its own (families share pipelines), with Mesa's and NVIDIA's
// on-disk shader caches off.
//
// `--uniform-bounds`: the code before (setOpaqueLoopBounds(false)), for before/after figures.
// Families: xl_chunk, xl_chunk_siging, limit_chunk, parallel, recurrent, step, backward, slstm,
// slstm_bw, large_forward, large_generate.

import { parseArgs } from "node:util";
import {
  getMlstmKernel,
  getSlstmKernel,
  Random,
  randomMlstmInputs,
  randomSlstmInputs,
  randomTensor,
} from "../mod.ts";
import { setOpaqueLoopBounds } from "../kernels/runtime.ts";
import { createXlstmLargeConfig } from "../models/xlstm_large/config.ts";
import { hashRandomXlstmLargeWeights } from "../models/xlstm_large/random_init.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "../models/xlstm_large/webgpu.ts";
import { generateWebgpu } from "../models/xlstm_large/generate.ts";

const { values } = parseArgs({
  options: { families: { type: "string" }, "uniform-bounds": { type: "boolean", default: false } },
});
if (values["uniform-bounds"]) setOpaqueLoopBounds(false);

const SEQ = [8, 8, 8, 64, 64, 16, 16, 32];
const dims = { B: 1, NH: 1, DQK: 16, DHV: 32 };

async function timed(run: (S: number) => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (const S of SEQ) {
    const t0 = performance.now();
    await run(S);
    ms.push(performance.now() - t0);
  }
  return ms;
}

function mlstm(name: string, options = {}) {
  const k = getMlstmKernel(name);
  return (S: number) => k.forward(randomMlstmInputs({ ...dims, S }, new Random(S)), options);
}

const tiny = createXlstmLargeConfig({
  vocabSize: 97,
  embeddingDim: 32,
  numBlocks: 2,
  numHeads: 2,
  qkDim: 16,
  vDim: 32,
  ffnDim: 48,
  chunkSize: 16,
});
let model: XlstmLargeWebgpu | undefined;
const large = async () =>
  model ??= await webgpuXlstmLargeBackend.fromWeights(
    tiny,
    hashRandomXlstmLargeWeights(tiny, 1, "f32"),
    { dtype: "f32" },
  ) as XlstmLargeWebgpu;
const ids = (S: number) => [Array.from({ length: S }, (_, j) => (j * 7 + S) % 97)];

const FAMILIES: Record<string, (S: number) => Promise<unknown>> = {
  xl_chunk: mlstm("chunkwise--xl_chunk", { chunkSize: 64 }),
  xl_chunk_siging: mlstm("chunkwise--xl_chunk_siging", { chunkSize: 64 }),
  limit_chunk: mlstm("chunkwise--limit_chunk", { chunkSize: 64 }),
  parallel: mlstm("parallel--stablef"),
  recurrent: mlstm("recurrent--sequence"),
  step: (S) =>
    getMlstmKernel("step--fused").forward(
      randomMlstmInputs({ ...dims, B: 1 + S % 3, S: 1 }, new Random(S)),
    ),
  backward: (S) => {
    const x = randomMlstmInputs({ ...dims, S }, new Random(S));
    const dh = randomTensor([1, 1, S, dims.DHV], new Random(S + 1));
    return getMlstmKernel("chunkwise--xl_chunk").backward!(x, dh, { chunkSize: 64 });
  },
  slstm: (S) =>
    getSlstmKernel("slstm--fused").forward(
      randomSlstmInputs({ B: 1, S, NH: 2, DH: 16 }, new Random(S)),
    ),
  slstm_bw: (S) => {
    const x = randomSlstmInputs({ B: 1, S, NH: 2, DH: 16 }, new Random(S));
    return getSlstmKernel("slstm--fused").backward(x, randomTensor([1, S, 2, 16], new Random(S)));
  },
  large_forward: async (S) => (await large()).forward(ids(S)),
  large_generate: async (S) => generateWebgpu(await large(), ids(S), { maxNewTokens: 4 }),
};

const names = values.families?.split(",") ?? Object.keys(FAMILIES);
if (names.length > 1) {
  // One process per family (families share pipelines), with the driver's disk cache off.
  for (const name of names) {
    const args = ["run", "-A", new URL(import.meta.url).pathname, "--families", name];
    if (values["uniform-bounds"]) args.push("--uniform-bounds");
    const p = new Deno.Command(Deno.execPath(), {
      args,
      env: { MESA_SHADER_CACHE_DISABLE: "true", __GL_SHADER_DISK_CACHE: "0" },
      stdout: "inherit",
      stderr: "inherit",
    });
    const r = await p.output();
    if (!r.success) Deno.exit(r.code);
  }
  Deno.exit(0);
}
for (const name of names) {
  const f = FAMILIES[name];
  if (!f) throw new RangeError(`Unknown family ${name}: ${Object.keys(FAMILIES).join(", ")}`);
  const ms = await timed(f);
  const total = ms.reduce((a, b) => a + b, 0);
  console.log(
    `${name.padEnd(16)} ${ms.map((x) => x.toFixed(0).padStart(5)).join(" ")}  total ${
      total.toFixed(0)
    } ms`,
  );
}
