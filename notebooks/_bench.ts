/**
 * Benchmark helpers for the notebooks: a tiny local sweep, used when no `bench_outputs/…/results.csv`
 * exists and the benchmark runner of `bench/` is not in this checkout; a GPU-timestamp timer for
 * single kernels (notebook 06); and the choice of a sweep's results file (notebook 04).
 *
 * {@linkcode timeKernel} times by wall clock (median of a few repetitions after a warm-up); GPU
 * outputs are read back to wait for completion, so each GPU row includes one ~11 ms round trip
 * (SPEC-independent Deno fact): treat small GPU times as upper bounds.
 * {@linkcode timeKernelGpu} times back-to-back calls on device tensors with the profiler's
 * timestamp queries (no read-back inside), the GPU time a call really takes.
 *
 * Rows use the columns `kernel, mode, B, NH, S, DQK, DHV, chunk_size, dtype, runtime_ms, flop,
 * timing`, which {@linkcode normalizeBenchRows} also maps other CSVs onto.
 *
 * @module
 */

import { getMlstmKernel, type MlstmInputs, Random, randomMlstmInputs, type Tensor } from "../mod.ts";
import { type CostDims, forwardCost, formOf } from "./_cost.ts";
import { outputsNewestFirst, parseCsv, type Row } from "./_data.ts";

/** One benchmark measurement. */
export interface BenchRow {
  kernel: string;
  mode: "fw" | "fwbw";
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  chunk_size: number;
  dtype: string;
  runtime_ms: number;
  flop: number;
  timing: string;
}

async function settle(x: unknown): Promise<void> {
  // Device tensors: read one back so the GPU work is done before the clock stops.
  if (x && typeof x === "object" && "read" in x && typeof (x as { read: unknown }).read === "function") {
    await (x as { read(): Promise<Tensor> }).read();
  }
}

/**
 * Times one kernel on one shape.
 *
 * @param name Registry name.
 * @param dims Shape.
 * @param options Chunk size, mode, repetitions, optional device upload.
 * @returns The row.
 */
export async function timeKernel(
  name: string,
  dims: CostDims,
  options: {
    chunkSize?: number;
    mode?: "fw" | "fwbw";
    reps?: number;
    toDevice?: (t: Tensor) => unknown;
    dtype?: string;
  } = {},
): Promise<BenchRow> {
  const { chunkSize = 64, mode = "fw", reps = 3 } = options;
  const k = getMlstmKernel(name);
  const cpu = randomMlstmInputs(dims, new Random(dims.S));
  const inputs = (options.toDevice
    ? Object.fromEntries(Object.entries(cpu).map(([key, t]) => [key, options.toDevice!(t as Tensor)]))
    : cpu) as MlstmInputs;
  const dh = options.toDevice ? options.toDevice(cpu.v) : cpu.v;
  const run = async () => {
    const out = await k.forward(inputs, { chunkSize });
    if (mode === "fwbw") {
      if (!k.backward) throw new Error(`${name} has no backward pass`);
      // deno-lint-ignore no-explicit-any
      const g = await k.backward(inputs, dh as any, { chunkSize });
      await settle(g.dq);
    } else {
      await settle(out.h);
    }
  };
  await run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const fw = forwardCost(formOf(name), dims, chunkSize).flop;
  return {
    kernel: name,
    mode,
    ...dims,
    chunk_size: formOf(name) === "chunkwise" ? chunkSize : NaN,
    dtype: options.dtype ?? (k.backend === "webgpu" ? "f32" : "f64"),
    runtime_ms: times[Math.floor(times.length / 2)],
    flop: mode === "fw" ? fw : 3 * fw,
    timing: `wall clock, median of ${reps}`,
  };
}

const ALIASES: Record<string, string[]> = {
  kernel: ["kernel", "kernel_name", "name"],
  mode: ["mode", "fwbw", "pass", "direction"],
  S: ["S", "seq_len", "sequence_length"],
  chunk_size: ["chunk_size", "chunkSize", "L"],
  runtime_ms: ["runtime_ms", "median_ms", "time_ms", "ms", "runtime"],
  dtype: ["dtype", "storage_dtype"],
  flop: ["flop", "flops_count", "FLOP"],
};

/**
 * Maps a benchmark CSV's rows onto {@linkcode BenchRow}'s column names (first alias present wins);
 * computes `flop` from the cost model when the CSV has none.
 *
 * @param rows Parsed CSV rows.
 * @returns Rows with the canonical columns (others kept).
 */
export function normalizeBenchRows(rows: Row[]): Row[] {
  return rows.map((r) => {
    const out: Row = { ...r };
    for (const [canon, names] of Object.entries(ALIASES)) {
      const hit = names.find((n) => r[n] !== undefined && r[n] !== "");
      if (hit !== undefined) out[canon] = r[hit];
    }
    const mode = String(out.mode ?? "fw").toLowerCase();
    out.mode = mode.includes("bw") || mode === "true" ? "fwbw" : "fw";
    if (out.flop === undefined || Number.isNaN(Number(out.flop))) {
      const d = {
        B: Number(r.B ?? 1),
        NH: Number(r.NH ?? 1),
        S: Number(out.S),
        DQK: Number(r.DQK ?? r.DHQK ?? 64),
        DHV: Number(r.DHV ?? r.DHHV ?? 64),
      };
      const fw = forwardCost(formOf(String(out.kernel)), d, Number(out.chunk_size) || 64).flop;
      out.flop = out.mode === "fwbw" ? 3 * fw : fw;
    }
    return out;
  });
}

/** The profiler entry point {@linkcode timeKernelGpu} needs (`startProfiling` of `profiling/mod.ts`). */
export type StartProfiling = (
  // deno-lint-ignore no-explicit-any
  gpu: any,
  options: { granularity: "pass" },
) => {
  readonly dispatchCount: number;
  stop(): Promise<{ timing: string; records: readonly { gpuMs: number }[] }>;
};

function destroyDevice(x: unknown): void {
  if (!x || typeof x !== "object") return;
  if ("destroy" in x && typeof (x as { destroy: unknown }).destroy === "function") {
    (x as { destroy(): void }).destroy();
    return;
  }
  if ("data" in x) return; // a CPU tensor
  for (const v of Object.values(x)) destroyDevice(v);
}

/**
 * Times the forward pass of a WebGPU kernel with GPU timestamps: device-tensor inputs, one
 * untimed warm-up call (pipeline compilation), then `calls` calls back to back under
 * `startProfiling(gpu, { granularity: "pass" })` (timestamps on the runtime's own compute passes,
 * so the kernel encodes exactly as without a profiler), with no read-back in between. A call's
 * GPU time is the sum of the durations of its passes; the row holds the median over the calls.
 *
 * @param name Registry name of a WebGPU kernel.
 * @param dims Shape.
 * @param options The runtime's GPU handle, `startProfiling`, the upload, chunk size, calls.
 * @returns The row (`timing` says how it was measured), or undefined when the adapter has no
 *   `timestamp-query` (the profiler fell back to wall time): use {@linkcode timeKernel} then.
 */
export async function timeKernelGpu(
  name: string,
  dims: CostDims,
  options: {
    // deno-lint-ignore no-explicit-any
    gpu: any;
    startProfiling: StartProfiling;
    toDevice: (t: Tensor) => unknown;
    chunkSize?: number;
    calls?: number;
  },
): Promise<(BenchRow & { samples_ms: number[] }) | undefined> {
  const { chunkSize = 64, calls = 8 } = options;
  if (!options.gpu?.device?.features?.has?.("timestamp-query")) return undefined;
  const k = getMlstmKernel(name);
  const cpu = randomMlstmInputs(dims, new Random(dims.S));
  const inputs = Object.fromEntries(
    Object.entries(cpu).map(([key, t]) => [key, options.toDevice(t as Tensor)]),
  ) as unknown as MlstmInputs;
  try {
    destroyDevice(await k.forward(inputs, { chunkSize }));
    await options.gpu.device.queue.onSubmittedWorkDone();
    const p = options.startProfiling(options.gpu, { granularity: "pass" });
    const ranges: [number, number][] = [];
    let report: Awaited<ReturnType<typeof p.stop>>;
    try {
      for (let j = 0; j < calls; j++) {
        const start = p.dispatchCount;
        const out = await k.forward(inputs, { chunkSize });
        ranges.push([start, p.dispatchCount]);
        destroyDevice(out); // back to the buffer pool; the queued work keeps its order
      }
    } finally {
      report = await p.stop();
    }
    if (report.timing !== "gpu-timestamps") return undefined;
    const samples = ranges.map(([a, b]) =>
      report.records.slice(a, b).reduce((t, r) => t + r.gpuMs, 0)
    );
    const sorted = [...samples].sort((a, b) => a - b);
    const fw = forwardCost(formOf(name), dims, chunkSize).flop;
    return {
      kernel: name,
      mode: "fw",
      ...dims,
      chunk_size: formOf(name) === "chunkwise" ? chunkSize : NaN,
      dtype: "f32",
      runtime_ms: sorted[Math.floor(sorted.length / 2)],
      flop: fw,
      timing: `GPU timestamps, median of ${calls} back-to-back calls`,
      samples_ms: samples,
    };
  } finally {
    destroyDevice(inputs);
  }
}

/** The time of a results row: GPU median, else wall median, else `runtime_ms` (NaN if none). */
export function benchMs(r: Row): number {
  for (const key of ["gpu_ms_median", "wall_ms_median", "runtime_ms"]) {
    const x = Number(r[key]);
    if (r[key] !== undefined && r[key] !== "" && Number.isFinite(x)) return x;
  }
  return NaN;
}

/** Whether a (normalized) results row was measured: status `ok` (or none) and a finite time. */
export function isMeasured(r: Row): boolean {
  return (r.status === undefined || r.status === "" || r.status === "ok") &&
    Number.isFinite(benchMs(r));
}

const CHUNK_SWEEP = /chunk_?size/i;

/**
 * Whether a results file is a chunk-size sweep: its folder name or its `benchmark` column
 * mentions "chunksize" (as `bench/configs/xl_chunk_chunksize.json` and notebook 04's own do).
 *
 * @param path The results.csv path.
 * @param rows Its rows.
 * @returns True for a chunk-size sweep.
 */
export function isChunkSizeSweep(path: string, rows: Row[]): boolean {
  const folder = path.split("/").slice(-2, -1)[0] ?? "";
  return CHUNK_SWEEP.test(folder) || rows.some((r) => CHUNK_SWEEP.test(String(r.benchmark ?? "")));
}

/**
 * For each pass (`fw`, `fwbw`), the largest number of distinct S values that one series (label
 * or kernel, dtype, chunk size) of measured rows covers: the points of its longest line in a
 * runtime-vs-S plot.
 *
 * @param rows Rows through {@linkcode normalizeBenchRows}.
 * @returns Points per pass.
 */
export function sCoverage(rows: Row[]): { fw: number; fwbw: number } {
  const out = { fw: 0, fwbw: 0 };
  const series = new Map<string, Set<number>>();
  for (const r of rows.filter(isMeasured)) {
    const key = `${r.mode}|${r.label ?? r.kernel}|${r.dtype ?? ""}|${r.chunk_size ?? ""}`;
    if (!series.has(key)) series.set(key, new Set());
    series.get(key)!.add(Number(r.S));
  }
  for (const [key, s] of series) {
    const mode = key.split("|")[0] as "fw" | "fwbw";
    if (mode in out) out[mode] = Math.max(out[mode], s.size);
  }
  return out;
}

/**
 * Whether a results file can be plotted as runtime against S: not a chunk-size sweep, and some
 * series covers at least `minS` values of S in both passes.
 *
 * @param path The results.csv path.
 * @param rows Its rows, through {@linkcode normalizeBenchRows}.
 * @param minS The fewest S values per pass. @default {2}
 * @returns True for a runtime-vs-S sweep with fw and fwbw.
 */
export function isSSweep(path: string, rows: Row[], minS = 2): boolean {
  if (isChunkSizeSweep(path, rows)) return false;
  const c = sCoverage(rows);
  return c.fw >= minS && c.fwbw >= minS;
}

/**
 * The newest results.csv under `dir` (by file time) that {@linkcode isSSweep} accepts; files that
 * do not parse are skipped. Missing `dir`: undefined.
 *
 * @param dir A folder under the repository root, or an absolute path. @default {"bench_outputs"}
 * @returns The absolute path, or undefined.
 */
export function newestSSweep(dir = "bench_outputs"): string | undefined {
  for (const path of outputsNewestFirst(dir, "results.csv")) {
    try {
      if (isSSweep(path, normalizeBenchRows(parseCsv(Deno.readTextFileSync(path))))) return path;
    } catch {
      // Unreadable or malformed: not a candidate.
    }
  }
  return undefined;
}

/**
 * The newest results.csv under `dir` (by file time) that {@linkcode isChunkSizeSweep} accepts.
 * Missing `dir`: undefined.
 *
 * @param dir A folder under the repository root, or an absolute path. @default {"bench_outputs"}
 * @returns The absolute path, or undefined.
 */
export function newestChunkSizeSweep(dir = "bench_outputs"): string | undefined {
  for (const path of outputsNewestFirst(dir, "results.csv")) {
    try {
      if (isChunkSizeSweep(path, parseCsv(Deno.readTextFileSync(path)))) return path;
    } catch {
      // Unreadable or malformed: not a candidate.
    }
  }
  return undefined;
}
