// Step-kernel speed before and after the bound on unrolled rows (32 rows of C per thread, ragged
// row groups beyond it): step--fused, recurrent--sequence and recurrent--sequence_resident (both
// gates) at several head shapes, each run with the current tiles ("after") and with the former
// choice, divisors of DQK only ("before": setStepKernelTiles({ maxUnrolledRows: 1e9 })). Where both
// choose the same tiles the WGSL is the same and one run is reported for both. Inputs are
// GpuTensors (no upload); each sample times `calls` calls and one completion wait, after an
// untimed warm-up (the pipelines' creation and compile, also reported).
//
//   npx deno run -A bench/step_speed.ts [--shapes 256x512,128x256,257x512] [--reps 7] [--out DIR]
//
// Writes DIR/step_speed.csv (shape, kernel, variant, tiles, compile ms, median and min µs per
// call); DIR defaults to $OUT, else bench_outputs/step_speed.

import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  getGpu,
  getMlstmKernel,
  GpuTensor,
  type MlstmInputs,
  Random,
  randomMlstmInputs,
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
const dir = values.out ?? Deno.env.get("OUT") ?? "bench_outputs/step_speed";
const gpu = await getGpu();
const shapes = values.shapes!.split(",").map((s) => s.split("x").map(Number) as [number, number]);
const KERNELS = ["step--fused", "recurrent--sequence", "recurrent--sequence_resident"];
const BEFORE = { maxUnrolledRows: 1e9 };

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
      const name = `${base}${gate === "sig" ? "_siging" : ""}`;
      const k = getMlstmKernel(name);
      const step = k.form === "step";
      const len = step ? 1 : S;
      const raw = randomMlstmInputs(
        { B, NH, S: len, DQK, DHV, withInitialStates: true },
        new Random(DQK + DHV),
      );
      const up = (t: typeof raw.q) => GpuTensor.fromTensor(gpu, t);
      const x: MlstmInputs = {
        q: up(raw.q),
        k: up(raw.k),
        v: up(raw.v),
        i: up(raw.i),
        f: up(raw.f),
        cInitial: up(raw.cInitial!),
        nInitial: up(raw.nInitial!),
        mInitial: up(raw.mInitial!),
      };
      const tiles = (timeLoop: boolean) => {
        const p = stepKernelParams(DQK, DHV, "f32", "f32", gate, true, !timeLoop, timeLoop);
        return `tc${p.TCV} r${p.R} rows${p.RPT}`;
      };
      const resident = base.endsWith("resident");
      const seen = new Map<string, string>();
      for (const [variant, t] of [["after", null], ["before", BEFORE]] as const) {
        setStepKernelTiles(t);
        const tl = tiles(resident);
        if (seen.has(tl)) {
          console.log(`  ${DQK}x${DHV} ${name} ${variant}: same tiles as ${seen.get(tl)} (${tl})`);
          rows.push(rows.at(-1)!.replace(/,after,/, ",before (same WGSL),"));
          continue;
        }
        seen.set(tl, variant);
        const run = async () => {
          const out = await k.forward(x, { returnLastStates: true });
          for (const g of [out.h, out.last?.c, out.last?.n, out.last?.m]) {
            (g as GpuTensor | undefined)?.destroy();
          }
        };
        const t0 = performance.now();
        await run();
        await gpu.device.queue.onSubmittedWorkDone();
        const compile = performance.now() - t0;
        const calls = step ? 64 : 8;
        await time(run, calls);
        const samples: number[] = [];
        for (let r = 0; r < reps; r++) samples.push(1000 * await time(run, calls));
        samples.sort((a, b) => a - b);
        const med = samples[Math.floor(samples.length / 2)]!, min = samples[0]!;
        rows.push(
          [JSON.stringify(gpu.adapterName), DQK, DHV, B, NH, len, name, variant, tl]
            .concat([compile.toFixed(1), med.toFixed(1), min.toFixed(1)]).join(","),
        );
        console.log(
          `  ${DQK}x${DHV} ${name} ${variant} (${tl}): compile ${compile.toFixed(0)} ms, ${
            med.toFixed(1)
          } µs/call median, ${min.toFixed(1)} min`,
        );
      }
      setStepKernelTiles(null);
      for (const t of Object.values(x)) (t as GpuTensor).destroy();
    }
  }
}
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/step_speed.csv`, rows.join("\n") + "\n");
console.log(`wrote ${dir}/step_speed.csv`);
