// Phase ablation of the backward's register-blocked kernels (issue #14): where their time goes.
// Per-dispatch profiles of one training step (`forwardBackward`, two calls) at the timed TFLA case
// (B 8, S 8192, chunk 64), first with the kernels as they are, then with one marked phase of the
// blocked kernels removed at a time (`setShaderTransform`; phases: `BLOCK_PHASES` in
// kernels/backward/_block_wgsl.ts): `state` the chunk-state products (dkdv's v·dCᵀ and k·dC; stats'
// dh·Cᵀ where it forms it: by default U has its own kernel, setBackwardStateTerm),
// `scores` the score blocks (q·kᵀ and dh·vᵀ, or their read-back in dkdv), `share` stats' write of
// them for dkdv, `accum` the weighted accumulation of the other side's rows. A kernel's time minus
// its time without a phase is what that phase costs, latency and barriers included (an upper
// bound: the compiler may also drop work that fed only the removed phase). The ablated runs compute
// wrong results by design; only their times count. Each profile is the fastest of three.
//
//   deno run -A bench/phase_ablation.ts                 # GPU: about 40 s, prints and writes the table
//   deno run -A bench/phase_ablation.ts --tiny          # lavapipe smoke test (B 1, NH 2, S 200)
//   flags: --dtypes f32,f16  --phases state,scores,share,accum  --chunk 64  --out DIR
//
// Writes DIR/phase_ablation.csv (kernel, dtype, removed phase, ms per step, markers removed) and
// DIR/phase_ablation.md.

import { parseArgs } from "node:util";
import { stringify } from "npm:csv-stringify@6.9.0/sync";
import { startProfiling } from "../profiling/profiler.ts";
import { setShaderTransform } from "../kernels/runtime.ts";
import { BLOCK_PHASES, removeBlockPhase } from "../kernels/backward/_block_wgsl.ts";
import { forwardBackward } from "../kernels/train.ts";
import type { MlstmOptions } from "../core/types.ts";
import { disposeResult, kernelTarget, releaseKernelScratch, trainingInputs } from "./_kernels.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    dtypes: { type: "string", default: "f32" },
    phases: { type: "string", default: BLOCK_PHASES.join(",") },
    chunk: { type: "string", default: "64" },
    out: { type: "string", default: "bench_outputs/phase_ablation" },
    tiny: { type: "boolean", default: false },
  },
});
const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
const dtypes = list(a.dtypes!) as ("f32" | "f16")[];
for (const d of dtypes) if (d !== "f32" && d !== "f16") throw new RangeError(`--dtypes: ${d}`);
const phases = list(a.phases!);
for (const p of phases) {
  if (!(BLOCK_PHASES as readonly string[]).includes(p)) {
    throw new RangeError(`--phases: unknown phase ${p} (known: ${BLOCK_PHASES.join(", ")})`);
  }
}
const L = Number(a.chunk);
const shape = a.tiny
  ? { B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 }
  : { B: 8, NH: 16, S: 8192, DQK: 128, DHV: 256 };
const out = a.out!;

const t = await kernelTarget("chunkwise--xl_chunk");
const gpu = t.gpu!;
console.log(`phase_ablation on ${gpu.adapterName}: ${JSON.stringify(shape)}, chunk ${L}`);
await Deno.mkdir(out, { recursive: true });

type Row = { kernel: string; dtype: string; removed: string; msPerStep: number; markers: number };
const rows: Row[] = [];
for (const dtype of dtypes) {
  const { x, dh, dispose } = trainingInputs(t, shape, dtype);
  const call = async () =>
    disposeResult(await forwardBackward(t.kernel.name, x, dh, { chunkSize: L } as MlstmOptions));
  for (const removed of ["none", ...phases]) {
    // Markers removed per pipeline key (counted once per pipeline built).
    const markers = new Map<string, number>();
    setShaderTransform(
      removed === "none" ? null : {
        id: `ablate-${removed}`,
        // The blocked kernels alone: the others keep their pipelines.
        selects: (key) => key.startsWith("mlstm-bw-block-"),
        rewrite: (wgsl, key) => {
          const r = removeBlockPhase(wgsl, removed);
          markers.set(key, r.removed);
          return r.wgsl;
        },
      },
    );
    try {
      // Warm-up (clocks up, pipelines built), then the fastest of three profiles.
      const t0 = performance.now();
      while (performance.now() - t0 < (a.tiny ? 200 : 1500)) {
        await call();
        await t.sync();
      }
      let best = Infinity;
      let perKernel = new Map<string, number>();
      for (let r = 0; r < 3; r++) {
        const p = startProfiling(gpu);
        for (let j = 0; j < 2; j++) await call();
        await t.sync();
        const rep = await p.stop();
        const total = rep.records.reduce((s, d) => s + d.gpuMs, 0);
        if (total < best) {
          best = total;
          perKernel = new Map();
          for (const d of rep.records) {
            perKernel.set(d.label, (perKernel.get(d.label) ?? 0) + d.gpuMs / 2);
          }
        }
      }
      const nMarkers = [...markers.values()].reduce((s, n) => s + n, 0);
      for (const [kernel, ms] of perKernel) {
        rows.push({ kernel, dtype, removed, msPerStep: ms, markers: nMarkers });
      }
      rows.push({ kernel: "total", dtype, removed, msPerStep: best / 2, markers: nMarkers });
      console.log(
        `${dtype} without ${removed}: ${(best / 2).toFixed(3)} ms per step` +
          (removed === "none" ? "" : ` (${nMarkers} marked blocks removed)`),
      );
    } finally {
      setShaderTransform(null);
    }
  }
  dispose();
  releaseKernelScratch(gpu);
  await t.sync();
}

await Deno.writeTextFile(
  `${out}/phase_ablation.csv`,
  stringify(rows.map((r) => ({ ...r, msPerStep: r.msPerStep.toFixed(4) })), { header: true }),
);
// Markdown: per dtype, kernels × removed phase, ms per step and the saving against "none".
const md: string[] = [
  `# Phase ablation on ${gpu.adapterName}`,
  "",
  `One training step (forwardBackward) at B ${shape.B}, NH ${shape.NH}, S ${shape.S}, DQK ` +
  `${shape.DQK}, DHV ${shape.DHV}, chunk ${L}: GPU ms per step by kernel, with one marked phase ` +
  `of the blocked backward kernels removed (saving against the full kernels in brackets). The ` +
  `ablated runs compute wrong results by design.`,
];
const cols = ["none", ...phases];
for (const dtype of dtypes) {
  const of = (k: string, c: string) =>
    rows.find((r) => r.dtype === dtype && r.kernel === k && r.removed === c)?.msPerStep;
  const kernels = [...new Set(rows.filter((r) => r.dtype === dtype).map((r) => r.kernel))];
  md.push(
    "",
    `## ${dtype}`,
    "",
    `| kernel | ${cols.join(" | ")} |`,
    `|${" --- |".repeat(cols.length + 1)}`,
  );
  for (const k of kernels) {
    const base = of(k, "none");
    md.push(`| ${k} | ${
      cols.map((c) => {
        const v = of(k, c);
        if (v === undefined) return "";
        return c === "none" || base === undefined
          ? v.toFixed(3)
          : `${v.toFixed(3)} (${(base - v).toFixed(3)})`;
      }).join(" | ")
    } |`);
  }
}
await Deno.writeTextFile(`${out}/phase_ablation.md`, md.join("\n") + "\n");
console.log(md.join("\n"));
console.log(`\nwrote ${out}/phase_ablation.csv and ${out}/phase_ablation.md`);
