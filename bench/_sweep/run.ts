// The sweep runner: expands a config, measures every case, writes results.csv, the config, and
// the plots into one output directory.

import { stringify } from "npm:csv-stringify@6.9.0/sync";
import { parse } from "npm:csv-parse@5.6.0/sync";
import { type GpuMemoryTracker, trackGpuMemory } from "../../profiling/memory.ts";
import type { Ceilings } from "../../profiling/report.ts";
import { type KernelTarget, kernelTarget, loadKernels } from "../_kernels.ts";
import { RESULT_COLUMNS, type ResultRow } from "./columns.ts";
import { expandSweep, type SweepConfig } from "./config.ts";
import { baseRow, measureCase } from "./measure.ts";
import { figureHtml, figureOf, renderPngs } from "./plot.ts";
import { ProgressBar } from "./progress.ts";

/** Options of {@linkcode runSweep}. */
export interface RunSweepOptions {
  /** Output directory. @default {"bench_outputs/<UTC timestamp>"} */
  outDir?: string;
  /** Render PNG plots when Chromium is installed. @default {true} */
  png?: boolean;
  /** Progress bar on stderr. @default {true} */
  progress?: boolean;
  /** Ceilings for the pct_flop_peak column. */
  ceilings?: Ceilings;
  /** Further CSVs (e.g. from mlstm_kernels_sweep.py) whose rows are plotted alongside. */
  compare?: string[];
  /** Only configurations whose label matches (e.g. to split a long sweep across runs). */
  filter?: RegExp;
}

/** What {@linkcode runSweep} wrote. */
export interface SweepOutputs {
  outDir: string;
  rows: ResultRow[];
  csvPath: string;
  /** Undefined when plotting failed (the reason went to stderr). */
  htmlPath?: string;
  /** Undefined when Chromium is missing or PNGs were not asked for. */
  pngPath?: string;
}

/** A UTC timestamp usable as a directory name. */
export function stamp(): string {
  return new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
}

/** Writes rows as CSV with the standard columns. */
export async function writeResultsCsv(path: string, rows: readonly ResultRow[]): Promise<void> {
  const body = rows.map((r) => RESULT_COLUMNS.map((c) => r[c]));
  await Deno.writeTextFile(path, stringify([[...RESULT_COLUMNS], ...body]));
}

/** Reads a results CSV back (values as strings). */
export async function readResultsCsv(path: string): Promise<ResultRow[]> {
  return parse(await Deno.readTextFile(path), { columns: true, skip_empty_lines: true });
}

/** Writes results.html (+ results.png) for rows into outDir. */
export async function writePlots(
  outDir: string,
  rows: readonly ResultRow[],
  config: Pick<SweepConfig, "name" | "description" | "plot">,
  png = true,
): Promise<{ htmlPath: string; pngPath?: string }> {
  const x = config.plot?.x ?? "S";
  const title = `${config.name}: runtime vs ${x}${
    config.description ? ` <br><sup>${config.description}</sup>` : ""
  }`;
  const fig = figureOf(rows, {
    title,
    x,
    logX: config.plot?.logX ?? true,
    logY: config.plot?.logY ?? true,
  });
  const base = `${outDir}/runtime_vs_${x}`;
  const htmlPath = `${base}.html`;
  await Deno.writeTextFile(htmlPath, await figureHtml(fig, `${config.name} runtime vs ${x}`));
  const pngPath = `${base}.png`;
  if (png && await renderPngs([{ fig, path: pngPath }])) return { htmlPath, pngPath };
  return { htmlPath };
}

/** Runs a sweep end to end. */
export async function runSweep(
  config: SweepConfig,
  options: RunSweepOptions = {},
): Promise<SweepOutputs> {
  const outDir = options.outDir ?? `bench_outputs/${stamp()}`;
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  const cases = expandSweep(config).filter((c) => !options.filter || options.filter.test(c.label));
  await loadKernels();
  const bar = new ProgressBar(cases.length, options.progress ?? true);
  const trackers = new Map<GPUDevice, GpuMemoryTracker>();
  const targets = new Map<string, KernelTarget | Error>();
  const rows: ResultRow[] = [];
  const csvPath = `${outDir}/results.csv`;
  try {
    for (const c of cases) {
      // Rewritten after every case, so that an interrupted sweep keeps what it measured.
      if (rows.length > 0) await writeResultsCsv(csvPath, rows);
      const desc = `${c.label} ${c.pass} ${c.dtype} B=${c.B} NH=${c.NH} S=${c.S} ` +
        `DQK=${c.DQK} DHV=${c.DHV}${c.chunkSize ? ` L=${c.chunkSize}` : ""}`;
      bar.update(rows.length, desc);
      let t = targets.get(c.kernel);
      if (t === undefined) {
        t = await kernelTarget(c.kernel).catch((e: Error) => e);
        targets.set(c.kernel, t);
      }
      if (t instanceof Error) {
        const msg = t.message.split("\n")[0];
        const status = msg.startsWith("Unknown mLSTM kernel")
          ? `skipped: kernel not registered in this checkout`
          : msg.startsWith("No WebGPU adapter")
          ? "skipped: no WebGPU adapter"
          : `error: ${msg}`;
        rows.push({ ...baseRow(config, c, null), status });
        continue;
      }
      let memory: GpuMemoryTracker | null = null;
      if (t.gpu) {
        memory = trackers.get(t.gpu.device) ?? null;
        if (!memory) {
          memory = trackGpuMemory(t.gpu.device);
          trackers.set(t.gpu.device, memory);
        }
      }
      const device = t.gpu
        ? t.gpu.adapterName
        : `CPU float64 (${Deno.build.os} ${Deno.build.arch})`;
      rows.push(
        await measureCase({ config, memory, ceilings: options.ceilings }, c, t, device),
      );
    }
  } finally {
    for (const m of trackers.values()) m.stop();
  }
  bar.done(`${rows.filter((r) => r.status === "ok").length} ok of ${rows.length}`);
  await writeResultsCsv(csvPath, rows);
  const plotted: ResultRow[] = [...rows];
  for (const extra of options.compare ?? []) plotted.push(...await readResultsCsv(extra));
  // The CSV is on disk: a plotting failure (no plotly bundle, Chromium crash) only costs the plots.
  let plots: { htmlPath?: string; pngPath?: string } = {};
  try {
    plots = await writePlots(outDir, plotted, config, options.png ?? true);
  } catch (e) {
    console.error(`Plots not written: ${(e as Error).message.split("\n")[0]}`);
  }
  return {
    outDir,
    rows,
    csvPath,
    ...(plots.htmlPath ? { htmlPath: plots.htmlPath } : {}),
    ...(plots.pngPath ? { pngPath: plots.pngPath } : {}),
  };
}
