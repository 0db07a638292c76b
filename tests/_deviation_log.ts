// The deviation log: one CSV row per comparison, written whether the check passes or fails, to
// test_outputs/<timestamp>/deviations.csv. One directory per `deno test` run: the first module
// that writes creates it and records it in the process environment for the modules after it.

import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { stringify } from "npm:csv-stringify@6.9.0/sync";
import { type Deviation, deviation } from "../core/metrics.ts";

const RUN_ENV = "MLSTM_TEST_RUN_DIR";

/** Columns of deviations.csv, in order. */
export const DEVIATION_COLUMNS = [
  "test",
  "kernel",
  "baseline",
  "output",
  "B",
  "NH",
  "S",
  "DQK",
  "DHV",
  "chunk_size",
  "dtype",
  "max_abs",
  "rel_l2",
  "p50",
  "p99",
  "p100",
  "tolerance",
  "pass",
] as const;

let runDirHere: string | undefined;

/**
 * Points this module instance's log at `dir` (undefined: the run's directory again). For tests of
 * the log itself: test files run in parallel share the process environment, not this module.
 */
export function setTestRunDir(dir: string | undefined): void {
  runDirHere = dir;
}

/** The directory a run started at `now` writes under `outputs`: `<outputs>/<UTC timestamp>`. */
export function runDirName(outputs: string, now: Date): string {
  return `${outputs}/${now.toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}`;
}

/** The directory of this test run's outputs (created on first use). */
export function testRunDir(): string {
  let dir = runDirHere ?? Deno.env.get(RUN_ENV);
  if (!dir) {
    dir = runDirName(Deno.env.get("MLSTM_TEST_OUTPUTS") ?? "test_outputs", new Date());
    Deno.env.set(RUN_ENV, dir);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** One comparison to log. */
export interface Comparison {
  test: string;
  kernel: string;
  baseline: string;
  output: string;
  dims: { B: number; NH: number; S: number; DQK: number; DHV: number };
  chunkSize?: number;
  dtype: string;
  tolerance: number;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toExponential(6) : String(x));

/**
 * Computes the deviation of `out` from `ref`, appends the CSV row, and returns the metrics and
 * whether relative L2 is within tolerance (NaN never is).
 */
export function logDeviation(
  c: Comparison,
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
): Deviation & { pass: boolean; path: string } {
  const d = deviation(out, ref);
  const pass = d.relL2 <= c.tolerance;
  const path = `${testRunDir()}/deviations.csv`;
  const header = !existsSync(path);
  const row = [
    c.test,
    c.kernel,
    c.baseline,
    c.output,
    c.dims.B,
    c.dims.NH,
    c.dims.S,
    c.dims.DQK,
    c.dims.DHV,
    c.chunkSize ?? "",
    c.dtype,
    fmt(d.maxAbs),
    fmt(d.relL2),
    fmt(d.p50),
    fmt(d.p99),
    fmt(d.p100),
    fmt(c.tolerance),
    String(pass),
  ];
  appendFileSync(path, stringify(header ? [[...DEVIATION_COLUMNS], row] : [row]));
  return { ...d, pass, path };
}

/** Logs the comparison, then throws (naming the metrics) if it failed. */
export function assertDeviation(c: Comparison, out: ArrayLike<number>, ref: ArrayLike<number>) {
  const d = logDeviation(c, out, ref);
  if (!d.pass) {
    throw new Error(
      `${c.kernel} vs ${c.baseline}, ${c.output} (${c.test}): rel L2 ${fmt(d.relL2)} > tolerance ${
        fmt(c.tolerance)
      }; max abs ${fmt(d.maxAbs)}, p99 ${fmt(d.p99)}, non-finite ${d.nonFinite}`,
    );
  }
  return d;
}
