/**
 * Loading the toolkit's CSV outputs for the notebooks: deviation logs
 * (`test_outputs/<timestamp>/deviations.csv`) and benchmark results (`bench_outputs/…/results.csv`).
 *
 * @module
 */

import { parse } from "npm:csv-parse@5.6.0/sync";
import { REPO_ROOT } from "./_env.ts";

/** A CSV row with numeric-looking fields converted to numbers. */
export type Row = Record<string, string | number>;

/**
 * Parses CSV text with a header line; fields that parse as finite numbers become numbers.
 *
 * @param text The CSV text.
 * @returns The rows.
 */
export function parseCsv(text: string): Row[] {
  const records = parse(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  return records.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => {
        const x = v.trim() === "" ? NaN : Number(v);
        return [k, Number.isFinite(x) || v === "NaN" ? x : v];
      }),
    )
  );
}

/**
 * Every file named `name` one or two levels below `dir` (or in `dir` itself), newest first by file
 * time. A missing or unreadable `dir` gives none (a fresh clone has no `bench_outputs/`).
 *
 * @param dir A folder under the repository root, e.g. `bench_outputs`, or an absolute path.
 * @param name The file name, e.g. `results.csv`.
 * @returns Absolute paths, newest first.
 */
export function outputsNewestFirst(dir: string, name: string): string[] {
  const base = dir.startsWith("/") ? dir : `${REPO_ROOT}/${dir}`;
  const found: { path: string; time: number }[] = [];
  const walk = (d: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isFile && e.name === name) {
        try {
          found.push({ path: p, time: Deno.statSync(p).mtime?.getTime() ?? 0 });
        } catch {
          // Removed while we looked: skip.
        }
      } else if (e.isDirectory && depth < 2) walk(p, depth + 1);
    }
  };
  walk(base, 0);
  // Newest first; equal times by path, later timestamped folder names first.
  return found.sort((a, b) => b.time - a.time || (a.path < b.path ? 1 : -1)).map((f) => f.path);
}

/**
 * The newest file named `name` one level below `dir` (by file time), or in `dir` itself.
 *
 * @param dir A folder under the repository root, e.g. `test_outputs`.
 * @param name The file name, e.g. `deviations.csv`.
 * @returns The absolute path, or undefined.
 */
export function newestOutput(dir: string, name: string): string | undefined {
  return outputsNewestFirst(dir, name)[0];
}

/**
 * Groups rows by a key function, keeping insertion order.
 *
 * @param rows The rows.
 * @param key The group key of a row.
 * @returns The groups.
 */
export function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(r);
  }
  return m;
}

/**
 * For each distinct x, the maximum (or other reduction) of y over the rows.
 *
 * @param rows The rows.
 * @param x The x field.
 * @param y The y field.
 * @param reduce How to combine the y values at one x. @default {Math.max}
 * @returns Sorted x values and the reduced y values.
 */
export function reduceBy(
  rows: Row[],
  x: string,
  y: string,
  reduce: (ys: number[]) => number = (ys) => Math.max(...ys),
): { x: number[]; y: number[] } {
  const g = new Map<number, number[]>();
  for (const r of rows) {
    const xv = Number(r[x]), yv = Number(r[y]);
    if (!Number.isFinite(xv) || Number.isNaN(yv)) continue;
    if (!g.has(xv)) g.set(xv, []);
    g.get(xv)!.push(yv);
  }
  const xs = [...g.keys()].sort((a, b) => a - b);
  return { x: xs, y: xs.map((v) => reduce(g.get(v)!)) };
}
