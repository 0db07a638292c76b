// Profiles calls of one kernel and writes profile_outputs/<timestamp>/: trace.json (open in
// https://ui.perfetto.dev or chrome://tracing), profile.csv (one row per dispatch) and
// summary.txt (per-kernel table against measured ceilings).
//
//   deno task profile --kernel chunkwise--xl_chunk --B 8 --NH 16 --S 8192 --DQK 128 --DHV 256 \
//     --chunk 128 [--pass fwbw] [--calls 5] [--dtype f16] [--no-ceilings] [--out dir]

import { parseArgs } from "node:util";
import { measureCeilings } from "../profiling/ceilings.ts";
import { startProfiling } from "../profiling/profiler.ts";
import type { MlstmOptions } from "../core/types.ts";
import { benchInputs, disposeResult, kernelTarget, loadKernels } from "./_kernels.ts";
import { stamp } from "./_sweep/run.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      kernel: { type: "string", default: "parallel--stablef" },
      B: { type: "string", default: "1" },
      NH: { type: "string", default: "2" },
      S: { type: "string", default: "64" },
      DQK: { type: "string", default: "16" },
      DHV: { type: "string", default: "16" },
      chunk: { type: "string" },
      pass: { type: "string", default: "fw" },
      dtype: { type: "string", default: "f32" },
      calls: { type: "string", default: "3" },
      "no-ceilings": { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  await loadKernels();
  const t = await kernelTarget(values.kernel);
  if (!t.gpu) throw new Error(`${values.kernel} is not a WebGPU kernel: nothing to profile`);
  const shape = {
    B: Number(values.B),
    NH: Number(values.NH),
    S: Number(values.S),
    DQK: Number(values.DQK),
    DHV: Number(values.DHV),
  };
  const dtype = values.dtype as "f32" | "f16";
  const step = t.kernel.form === "step";
  const x = t.upload(benchInputs(shape, 0, { float64: false, withStates: step }), dtype);
  const dh = values.pass === "fwbw"
    ? t.uploadTensor(
      benchInputs({ ...shape, DQK: 1 }, 1, { float64: false, withStates: false }).v,
      dtype,
    )
    : undefined;
  const opts: MlstmOptions = {
    ...(values.chunk ? { chunkSize: Number(values.chunk) } : {}),
    ...(step ? { returnLastStates: true } : {}),
  };
  const call = async () => {
    const r = await t.kernel.forward(x, opts);
    if (dh) disposeResult(await t.kernel.backward!(x, dh, opts));
    disposeResult(r);
  };
  await call(); // warm-up: pipeline compilation
  await t.sync();
  const ceilings = values["no-ceilings"] ? undefined : await measureCeilings(t.gpu);
  const p = startProfiling(t.gpu);
  p.annotate({
    ...shape,
    pass: values.pass,
    dtype,
    ...(values.chunk ? { L: Number(values.chunk) } : {}),
  });
  for (let j = 0; j < Number(values.calls); j++) await call();
  await t.sync();
  const report = await p.stop();
  const out = values.out ?? `profile_outputs/${stamp()}_${values.kernel}`;
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(`${out}/trace.json`, JSON.stringify(report.toChromeTrace()));
  await Deno.writeTextFile(`${out}/profile.csv`, report.toCsv());
  const table = report.formatSummary(ceilings);
  await Deno.writeTextFile(`${out}/summary.txt`, table + "\n");
  console.log(table);
  console.log(`\nwrote ${out}/trace.json, profile.csv, summary.txt`);
  Deno.exit(0);
}
