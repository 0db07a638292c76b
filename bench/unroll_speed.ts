// Speed before and after the bounds on unrolling that keep pipeline compiles short: the step
// kernels' 32 rows of C per thread (ragged row groups beyond it; "before":
// setStepKernelTiles({ maxUnrolledRows: 1e9 }), divisors of DQK only) for step--fused,
// recurrent--sequence and recurrent--sequence_resident, and the parallel kernel's 64 unrolled
// accumulations per key block (a loop over the block's keys beyond it; "before":
// setParallelKernelUnroll(1e9)) for parallel--stablef; both gates, several head shapes. Where both
// choose the same variant the WGSL is the same and one run is reported for both. Inputs are
// GpuTensors (no upload); each sample times `calls` calls and one completion wait, after an
// untimed warm-up (the pipelines' creation and compile, also reported).
//
//   npx deno run -A bench/unroll_speed.ts [--shapes 256x512,128x256,257x512] [--reps 7] [--batch 8]
//     [--heads 8] [--seq 64] [--out DIR]
//
// Writes DIR/unroll_speed.csv (shape, kernel, variant, tiles, compile ms, median and min µs per
// call); DIR defaults to $OUT, else bench_outputs/unroll_speed.

import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  getGpu,
  getMlstmKernel,
  GpuTensor,
  type MlstmInputs,
  parallelKernelParams,
  Random,
  randomMlstmInputs,
  setParallelKernelUnroll,
  setStepKernelTiles,
  stepKernelParams,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string", default: "256x512,128x256,64x64,257x512,257x64" },
    reps: { type: "string", default: "7" },
    batch: { type: "string", default: "8" },
    heads: { type: "string", default: "8" },
    seq: { type: "string", default: "64" },
    out: { type: "string" },
  },
});
const reps = Number(values.reps), B = Number(values.batch), NH = Number(values.heads);
const S = Number(values.seq);
const dir = values.out ?? Deno.env.get("OUT") ?? "bench_outputs/unroll_speed";
const gpu = await getGpu();
const shapes = values.shapes!.split(",").map((s) => s.split("x").map(Number) as [number, number]);
const KERNELS = [
  "step--fused",
  "recurrent--sequence",
  "recurrent--sequence_resident",
  "parallel--stablef",
];
/** The former choices, or (null) the current ones. */
function setBefore(before: boolean): void {
  setStepKernelTiles(before ? { maxUnrolledRows: 1e9 } : null);
  setParallelKernelUnroll(before ? 1e9 : null);
}

async function time(run: () => Promise<unknown>, calls: number): Promise<number> {
  const t0 = performance.now();
  for (let c = 0; c < calls; c++) await run();
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t0) / calls;
}

const rows: string[] = [
  "adapter,DQK,DHV,B,NH,S,kernel,variant,tiles,compile_ms,median_us_per_call,min_us_per_call",
];
console.log(`${gpu.adapterName}: B ${B}, NH ${NH}, S ${S} (sequence kernels), ${reps} reps`);
for (const [DQK, DHV] of shapes) {
  for (const gate of ["exp", "sig"] as const) {
    for (const base of KERNELS) {
      const name = base === "parallel--stablef"
        ? (gate === "sig" ? "parallel--siging" : base)
        : `${base}${gate === "sig" ? "_siging" : ""}`;
      const k = getMlstmKernel(name);
      const step = k.form === "step";
      const len = step ? 1 : S;
      const states = k.supportsStates;
      const raw = randomMlstmInputs(
        { B, NH, S: len, DQK, DHV, withInitialStates: states },
        new Random(DQK + DHV),
      );
      const up = (t: typeof raw.q) => GpuTensor.fromTensor(gpu, t);
      const x: MlstmInputs = {
        q: up(raw.q),
        k: up(raw.k),
        v: up(raw.v),
        i: up(raw.i),
        f: up(raw.f),
      };
      if (states) {
        x.cInitial = up(raw.cInitial!);
        x.nInitial = up(raw.nInitial!);
        x.mInitial = up(raw.mInitial!);
      }
      const resident = base.endsWith("resident");
      const tiles = () => {
        if (k.form === "parallel") {
          const p = parallelKernelParams(DQK, DHV, len, "f32", "f32", gate, true);
          return `tk${p.TK} ${p.keyLoop ? "key loop" : "unrolled"}`;
        }
        const p = stepKernelParams(DQK, DHV, "f32", "f32", gate, true, !resident, resident);
        return `tc${p.TCV} r${p.R} rows${p.RPT}`;
      };
      const run = async () => {
        const out = await k.forward(x, { returnLastStates: states });
        for (const g of [out.h, out.last?.c, out.last?.n, out.last?.m]) {
          (g as GpuTensor | undefined)?.destroy();
        }
      };
      const calls = step ? 64 : 8;
      // The variants' tiles; "before" runs only where it differs. First calls compile (timed).
      const variants: { variant: string; tl: string; compile: number; samples: number[] }[] = [];
      for (const variant of ["after", "before"]) {
        setBefore(variant === "before");
        const tl = tiles();
        if (variants.some((v) => v.tl === tl)) continue;
        const t0 = performance.now();
        await run();
        await gpu.device.queue.onSubmittedWorkDone();
        variants.push({ variant, tl, compile: performance.now() - t0, samples: [] });
        await time(run, calls);
      }
      // Interleaved, so that a shared GPU's slow spells hit both alike.
      for (let r = 0; r < reps; r++) {
        for (const v of variants) {
          setBefore(v.variant === "before");
          v.samples.push(1000 * await time(run, calls));
        }
      }
      for (const v of variants) {
        v.samples.sort((a, b) => a - b);
        const med = v.samples[Math.floor(v.samples.length / 2)]!, min = v.samples[0]!;
        const same = variants.length === 1;
        for (const label of same ? ["after", "before (same WGSL)"] : [v.variant]) {
          rows.push(
            [JSON.stringify(gpu.adapterName), DQK, DHV, B, NH, len, name, label, v.tl]
              .concat([v.compile.toFixed(1), med.toFixed(1), min.toFixed(1)]).join(","),
          );
        }
        console.log(
          `  ${DQK}x${DHV} ${name} ${same ? "after = before" : v.variant} (${v.tl}): compile ${
            v.compile.toFixed(0)
          } ms, ${med.toFixed(1)} µs/call median, ${min.toFixed(1)} min`,
        );
      }
      setBefore(false);
      for (const t of Object.values(x)) (t as GpuTensor).destroy();
    }
  }
}
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/unroll_speed.csv`, rows.join("\n") + "\n");
console.log(`wrote ${dir}/unroll_speed.csv`);
