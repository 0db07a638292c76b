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
 * The newest file named `name` one level below `dir` (folders sorted by name: timestamps sort by
 * time), or in `dir` itself.
 *
 * @param dir A folder under the repository root, e.g. `test_outputs`.
 * @param name The file name, e.g. `deviations.csv`.
 * @returns The absolute path, or undefined.
 */
export function newestOutput(dir: string, name: string): string | undefined {
  const base = `${REPO_ROOT}/${dir}`;
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isFile && e.name === name) found.push(p);
      else if (e.isDirectory && depth < 2) walk(p, depth + 1);
    }
  };
  walk(base, 0);
  if (found.length === 0) return undefined;
  found.sort((a, b) => Deno.statSync(a).mtime!.getTime() - Deno.statSync(b).mtime!.getTime());
  return found[found.length - 1];
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
