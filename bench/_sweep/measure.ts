// Measures one sweep case: warm-up outside timing, GPU time per call from timestamp queries
// (profiled repetitions), wall time per call from unprofiled repetitions (many calls per await),
// peak GPU memory from the allocation tracker, FLOP from the SPEC §6 cost model.

import type { Tensor } from "../../core/tensor.ts";
import type { MlstmOptions } from "../../core/types.ts";
import { mlstmBytes, mlstmFlops } from "../../profiling/cost_model.ts";
import type { GpuMemoryTracker } from "../../profiling/memory.ts";
import { startProfiling } from "../../profiling/profiler.ts";
import type { Ceilings } from "../../profiling/report.ts";
import {
  benchInputs,
  disposeInputs,
  disposeResult,
  type KernelTarget,
  releaseKernelScratch,
} from "../_kernels.ts";
import type { ResultRow } from "./columns.ts";
import type { SweepCase, SweepConfig } from "./config.ts";
import { spread } from "./stats.ts";

/** Context shared by all cases of a sweep. */
export interface MeasureContext {
  config: SweepConfig;
  /** Memory tracker of the kernel's device (null for CPU kernels). */
  memory: GpuMemoryTracker | null;
  ceilings?: Ceilings;
  /** Target GPU time per repetition when callsPerRep is "auto", ms. @default {100} */
  targetRepMs?: number;
}

// Long enough that short kernels run back to back: single forward calls between ~11 ms waits
// measured 12–40 ms on the H200 where 3 calls per repetition measured a steady 12.4 ms.
const TARGET_REP_MS = 100;
const MAX_CALLS_PER_REP = 64;

/** The form a kernel name implies: `<form>--...`, or `reference--<form>[_siging]`. */
export function formOfName(name: string): "recurrent" | "parallel" | "chunkwise" | "step" {
  const [head, rest = ""] = name.split("--");
  const f = head === "reference" ? rest.replace(/_siging$/, "") : head;
  return f === "recurrent" || f === "parallel" || f === "step" ? f : "chunkwise";
}

/** A row with every column empty but the case's identity. */
export function baseRow(config: SweepConfig, c: SweepCase, t: KernelTarget | null): ResultRow {
  const form = t?.kernel.form ?? formOfName(c.kernel);
  const cost = {
    form,
    B: c.B,
    NH: c.NH,
    S: c.S,
    DQK: c.DQK,
    DHV: c.DHV,
    chunkSize: c.chunkSize,
    pass: c.pass,
    elementBytes: c.dtype === "f16" ? 2 : 4,
  } as const;
  return {
    benchmark: config.name,
    source: "deno-webgpu",
    kernel: c.kernel,
    label: c.label,
    backend: t?.kernel.backend ?? "",
    pass: c.pass,
    dtype: c.dtype,
    B: c.B,
    NH: c.NH,
    S: c.S,
    DQK: c.DQK,
    DHV: c.DHV,
    chunk_size: c.chunkSize ?? "",
    tokens: c.B * c.S,
    status: "",
    reps: "",
    calls_per_rep: "",
    gpu_ms_median: "",
    gpu_ms_p25: "",
    gpu_ms_p75: "",
    gpu_ms_min: "",
    gpu_ms_max: "",
    wall_ms_median: "",
    wall_ms_p25: "",
    wall_ms_p75: "",
    wall_ms_min: "",
    wall_ms_max: "",
    dispatches_per_call: "",
    flops: mlstmFlops(cost),
    tflops_per_s: "",
    pct_flop_peak: "",
    bytes: mlstmBytes(cost),
    peak_mem_bytes: "",
    timing: "",
    device: "",
  };
}

const num = (x: number, digits = 6) => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : "");

/** Runs one case and fills its row; errors become `status: error: ...`. */
export async function measureCase(
  ctx: MeasureContext,
  c: SweepCase,
  t: KernelTarget,
  device: string,
): Promise<ResultRow> {
  const { config } = ctx;
  const row = baseRow(config, c, t);
  row.device = device;
  const k = t.kernel;
  const isCpu = t.gpu === null;
  if (c.skip) return { ...row, status: `skipped: ${c.skip}` };
  if (c.pass === "fwbw" && typeof k.backward !== "function") {
    return { ...row, status: "skipped: kernel has no backward" };
  }
  if (isCpu && (row.flops as number) > (config.cpuMaxFlops ?? 2e9)) {
    return { ...row, status: `skipped: ${row.flops} FLOP > cpuMaxFlops for a CPU kernel` };
  }
  const withStates = k.form === "step";
  const x = benchInputs(c, config.seed ?? 0, { float64: isCpu, withStates });
  const dhCpu: Tensor | undefined = c.pass === "fwbw"
    ? benchInputs({ ...c, DQK: 1 }, (config.seed ?? 0) + 1, { float64: isCpu, withStates: false })
      .v
    : undefined;
  if (t.gpu) {
    releaseKernelScratch(t.gpu);
    await t.sync();
  }
  ctx.memory?.resetPeak();
  const xs = await t.upload(x, c.dtype);
  const dh = dhCpu ? await t.uploadTensor(dhCpu, c.dtype) : undefined;
  const opts: MlstmOptions = {
    ...(c.options as MlstmOptions),
    ...(c.chunkSize !== undefined ? { chunkSize: c.chunkSize } : {}),
    ...(withStates ? { returnLastStates: true } : {}),
  };
  const call = async () => {
    const r = await k.forward(xs, opts);
    if (dh !== undefined) disposeResult(await k.backward!(xs, dh, opts));
    disposeResult(r);
  };
  try {
    for (let j = 0; j < (config.warmup ?? 1); j++) await call();
    await t.sync();
    const reps = config.reps ?? 5;
    row.reps = reps;
    if (isCpu) {
      const wall: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await call();
        wall.push(performance.now() - t0);
      }
      fillWall(row, wall);
      row.calls_per_rep = 1;
      row.timing = "cpu-wall";
    } else {
      const gpu = t.gpu!;
      // Probe one profiled call for its GPU time (or wall time without timestamps).
      const probe = startProfiling(gpu);
      const tp = performance.now();
      await call();
      await t.sync();
      const probeWall = performance.now() - tp;
      const probeReport = await probe.stop();
      const useTs = probeReport.timing === "gpu-timestamps";
      const per = useTs ? probeReport.totalMs : Math.max(probeWall - 11, 0.05);
      const target = ctx.targetRepMs ?? TARGET_REP_MS;
      const calls = config.callsPerRep === undefined || config.callsPerRep === "auto"
        ? Math.max(1, Math.min(MAX_CALLS_PER_REP, Math.ceil(target / Math.max(per, 1e-3))))
        : config.callsPerRep;
      row.calls_per_rep = calls;
      row.dispatches_per_call = probeReport.records.length;
      if (useTs) {
        // Pass granularity: timestamps on the runtime's own passes, so timing adds no passes.
        const p = startProfiling(gpu, { granularity: "pass" });
        const ranges: [number, number][] = [];
        for (let r = 0; r < reps; r++) {
          for (let j = 0; j < calls; j++) {
            const start = p.dispatchCount;
            await call();
            ranges.push([start, p.dispatchCount]);
          }
          await t.sync();
        }
        const report = await p.stop();
        const samples = ranges.map(([a, b]) => {
          let s = 0;
          for (let j = a; j < b; j++) s += report.records[j].gpuMs;
          return s;
        });
        const g = spread(samples);
        row.gpu_ms_median = num(g.median);
        row.gpu_ms_p25 = num(g.p25);
        row.gpu_ms_p75 = num(g.p75);
        row.gpu_ms_min = num(g.min);
        row.gpu_ms_max = num(g.max);
        row.timing = "gpu-timestamps";
      } else {
        row.timing = "wall";
      }
      const wall: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        for (let j = 0; j < calls; j++) await call();
        await t.sync();
        wall.push((performance.now() - t0) / calls);
      }
      fillWall(row, wall);
      if (ctx.memory) row.peak_mem_bytes = ctx.memory.peakBytes;
    }
    const ms = typeof row.gpu_ms_median === "number"
      ? row.gpu_ms_median
      : (row.wall_ms_median as number);
    const tflops = (row.flops as number) / (ms / 1e3) / 1e12;
    row.tflops_per_s = num(tflops);
    if (ctx.ceilings) {
      row.pct_flop_peak = num((100 * tflops * 1e12) / ctx.ceilings.flopsPerSecond, 4);
    }
    row.status = "ok";
  } catch (e) {
    row.status = `error: ${(e as Error).message.split("\n")[0]}`;
  } finally {
    await t.sync().catch(() => {});
    disposeInputs(xs);
    if (dh !== undefined) disposeResult({ dh });
  }
  return row;
}

function fillWall(row: ResultRow, wall: number[]) {
  const w = spread(wall);
  row.wall_ms_median = num(w.median);
  row.wall_ms_p25 = num(w.p25);
  row.wall_ms_p75 = num(w.p75);
  row.wall_ms_min = num(w.min);
  row.wall_ms_max = num(w.max);
}
