// The columns of results.csv, shared by the Deno sweep and bench/mlstm_kernels_sweep.py (which
// lists the same names; tests/sweep_test.ts checks that they agree).

/** Columns of results.csv, in order. Times in ms, memory in bytes, rates per second. */
export const RESULT_COLUMNS = [
  "benchmark",
  "source",
  "kernel",
  "label",
  "backend",
  "pass",
  "dtype",
  "B",
  "NH",
  "S",
  "DQK",
  "DHV",
  "chunk_size",
  "tokens",
  "status",
  "reps",
  "calls_per_rep",
  "gpu_ms_median",
  "gpu_ms_p25",
  "gpu_ms_p75",
  "gpu_ms_min",
  "gpu_ms_max",
  "wall_ms_median",
  "wall_ms_p25",
  "wall_ms_p75",
  "wall_ms_min",
  "wall_ms_max",
  "dispatches_per_call",
  "flops",
  "tflops_per_s",
  "pct_flop_peak",
  "bytes",
  "peak_mem_bytes",
  "timing",
  "device",
] as const;

/** One row of results.csv (empty string = not measured). */
export type ResultRow = Record<typeof RESULT_COLUMNS[number], string | number>;
