/**
 * A tiny local benchmark sweep for the notebooks, used when no `bench_outputs/…/results.csv` exists
 * and the benchmark runner of `bench/` is not in this checkout. Wall-clock timing (median of a few
 * repetitions after a warm-up); GPU outputs are read back to wait for completion, so each GPU row
 * includes one ~11 ms round trip (SPEC-independent Deno fact): treat small GPU times as upper bounds.
 *
 * Rows use the columns `kernel, mode, B, NH, S, DQK, DHV, chunk_size, dtype, runtime_ms, flop,
 * timing`, which {@linkcode normalizeBenchRows} also maps other CSVs onto.
 *
 * @module
 */

import { getMlstmKernel, type MlstmInputs, Random, randomMlstmInputs, type Tensor } from "../mod.ts";
import { type CostDims, forwardCost, formOf } from "./_cost.ts";
import type { Row } from "./_data.ts";

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
