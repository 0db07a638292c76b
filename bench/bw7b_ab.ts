// A/B of the row-sliced backward's state loads at the xLSTM 7B head shape (DQK 256, DHV 512):
// `scalar` (four scalar loads per vec4 of the chunk state, the kernels before) against `vec4`
// (setBackwardStateVec4, the default for DHV > 256) and `staged` (vec4 loads, and the row-side
// state products stage C's columns in workgroup memory); and of the loops (issue #11, compile
// time): `staged` rolls the inner loops (the default above head dim 256: 2 other rows and 4
// partial sums per iteration, setBackwardTileUnroll), `staged-full` unrolls them fully (before),
// `staged-r1` rolls 1 row per iteration. One process, forward+backward calls
// interleaved A/B/B/A, GPU time from timestamp queries on the runtime's own passes; then one
// per-dispatch profile per variant (the backward's passes summed by label) so that what is left of
// the backward's time shows. Writes markdown to stdout (and nothing else).
//
//   deno run -A bench/bw7b_ab.ts                     # GPU: B 2, NH 8, S 4096, L 64, f32 (< 60 s)
//   deno run -A bench/bw7b_ab.ts --B 1 --NH 1 --S 128 --rounds 1   # lavapipe smoke test
//   flags: --B --NH --S --dqk --dhv --chunk --dtype f32|f16 --rounds --kernel xl_chunk

import { parseArgs } from "node:util";
import { startProfiling } from "../profiling/profiler.ts";
import { setBackwardStateVec4, setBackwardTileUnroll } from "../kernels/backward/backward.ts";
import type { TileUnroll } from "../kernels/backward/_wgsl.ts";
import { disposeResult, kernelTarget, releaseKernelScratch, trainingInputs } from "./_kernels.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    B: { type: "string", default: "2" },
    NH: { type: "string", default: "8" },
    S: { type: "string", default: "4096" },
    dqk: { type: "string", default: "256" },
    dhv: { type: "string", default: "512" },
    chunk: { type: "string", default: "64" },
    dtype: { type: "string", default: "f32" },
    rounds: { type: "string", default: "4" },
    kernel: { type: "string", default: "xl_chunk" },
  },
});
const num = (k: keyof typeof a) => {
  const v = Number(a[k]);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${k} must be a positive integer`);
  return v;
};
const shape = { B: num("B"), NH: num("NH"), S: num("S"), DQK: num("dqk"), DHV: num("dhv") };
const L = num("chunk"), rounds = num("rounds");
const dtype = a.dtype as "f32" | "f16";
if (dtype !== "f32" && dtype !== "f16") throw new RangeError(`--dtype must be f32 or f16`);

const VARIANTS: { name: string; on: boolean | "staged"; unroll?: TileUnroll | "full" }[] = [
  { name: "scalar", on: false },
  { name: "vec4", on: true },
  { name: "staged", on: "staged" },
  { name: "staged-full", on: "staged", unroll: "full" },
  { name: "staged-r1", on: "staged", unroll: { rows: 1, sums: 4 } },
];

const t = await kernelTarget(`chunkwise--${a.kernel}`);
const gpu = t.gpu!;
const { x, dh } = trainingInputs(t, shape, dtype);

/** One forward+backward (fw: forward only) under a variant. */
async function call(
  on: boolean | "staged",
  fw = false,
  unroll?: TileUnroll | "full",
): Promise<void> {
  setBackwardStateVec4(on);
  setBackwardTileUnroll(unroll);
  try {
    const r = await t.kernel.forward(x, { chunkSize: L });
    if (!fw) disposeResult(await t.kernel.backward!(x, dh, { chunkSize: L }));
    disposeResult(r);
  } finally {
    setBackwardStateVec4(undefined);
    setBackwardTileUnroll(undefined);
  }
}

console.log(
  `### bw7b A/B: ${a.kernel} ${dtype} B ${shape.B} NH ${shape.NH} S ${shape.S} DQK ${shape.DQK} DHV ${shape.DHV} L ${L} (${gpu.adapterName}${
    gpu.hasTimestamps ? ", timestamp queries" : ", NO timestamp queries: wall-clock fallback"
  })\n`,
);
// Warm-up: pipelines of both variants.
for (const v of VARIANTS) {
  await call(v.on, false, v.unroll);
  await t.sync();
}
const times = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
const fwTimes: number[] = [];
{
  const p = startProfiling(gpu, { granularity: "pass" });
  const ranges: [string, number, number][] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...VARIANTS].reverse() : VARIANTS;
    for (const v of order) {
      const s0 = p.dispatchCount;
      await call(v.on, false, v.unroll);
      ranges.push([v.name, s0, p.dispatchCount]);
    }
    const s0 = p.dispatchCount;
    await call(false, true);
    ranges.push(["fw", s0, p.dispatchCount]);
    await t.sync();
  }
  const rep = await p.stop();
  for (const [name, s0, s1] of ranges) {
    let s = 0;
    for (let j = s0; j < s1; j++) s += rep.records[j]!.gpuMs;
    (name === "fw" ? fwTimes : times.get(name)!).push(s);
  }
}
const stat = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return { min: s[0]!, med: s[Math.floor((s.length - 1) / 2)]! };
};
const f = (v: number) => v.toFixed(2);
const fw = stat(fwTimes);
const base = stat(times.get("scalar")!);
console.log(
  `| variant | fw+bw GPU ms (min / median) | backward ≈ fw+bw − fw (min) | speedup (min) |`,
);
console.log(`| --- | --- | --- | --- |`);
console.log(`| fw only | ${f(fw.min)} / ${f(fw.med)} | | |`);
for (const v of VARIANTS) {
  const s = stat(times.get(v.name)!);
  console.log(
    `| ${v.name} | ${f(s.min)} / ${f(s.med)} | ${f(s.min - fw.min)} | ×${
      (base.min / s.min).toFixed(3)
    } |`,
  );
}

// Per-dispatch profile of one call per variant: GPU ms summed by dispatch label.
for (const v of VARIANTS) {
  const p = startProfiling(gpu);
  await call(v.on, false, v.unroll);
  await t.sync();
  const rep = await p.stop();
  const by = new Map<string, [number, number]>();
  for (const r of rep.records) {
    const e = by.get(r.label) ?? [0, 0];
    by.set(r.label, [e[0] + r.gpuMs, e[1] + 1]);
  }
  const total = [...by.values()].reduce((s, e) => s + e[0], 0);
  console.log(`\n#### per-dispatch profile, ${v.name} (one fw+bw, ${f(total)} ms)\n`);
  console.log(`| dispatch label | GPU ms | share | dispatches |`);
  console.log(`| --- | --- | --- | --- |`);
  for (const [label, [ms, n]] of [...by].sort((p, q) => q[1][0] - p[1][0])) {
    console.log(`| ${label} | ${f(ms)} | ${(100 * ms / total).toFixed(1)}% | ${n} |`);
  }
}
releaseKernelScratch(gpu);
