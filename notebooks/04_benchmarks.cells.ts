// Source of 04_benchmarks.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Benchmarks: runtime, FLOP/s and chunk size
//
// Loads a benchmark sweep's `results.csv` (written by `deno task sweep`, `bench/sweep.ts`, into
// `bench_outputs/<timestamp>_<name>/`; the columns are listed in `bench/_sweep/columns.ts`) and plots the
// runtime against the sequence length S per kernel, forward (fw) and forward+backward (fwbw), the achieved
// FLOP/s against the adapter's measured ceiling, and a chunk-size sweep of `chunkwise--xl_chunk`.
// Without a results file, it runs two tiny sweeps here (seconds on lavapipe; GPU numbers from a software
// adapter say nothing about a real GPU, they only exercise the path).
//
// Parameters (environment): `MLSTM_NB_RESULTS=<path to results.csv>` (default: the newest S sweep under
// `bench_outputs/`: not a chunk-size sweep, some series with at least 2 values of S in both fw and fwbw),
// `MLSTM_NB_CHUNK_RESULTS=<results.csv of a chunk-size sweep>` (default: the newest whose folder or benchmark
// name mentions "chunksize"), `MLSTM_NB_SIZE=small|full`.
// %%
import { getMlstmKernel } from "../mod.ts";
import { envString, gpuKernelNames, loadGpu, nbSize, optionalModule, REPO_ROOT, showTable } from "./_env.ts";
import { groupBy, parseCsv, type Row } from "./_data.ts";
import { axisSuffix, gridLayout, show, reportFigures, shownFigures } from "./_plot.ts";
import { benchMs, isMeasured, isSSweep, newestChunkSizeSweep, newestSSweep, normalizeBenchRows, sCoverage, timeKernel } from "./_bench.ts";

const size = nbSize();
const gpu = await loadGpu();
console.log(gpu.gpu ? `WebGPU adapter: ${gpu.adapter}` : `No GPU: ${gpu.reason}`);
const sweepRunner = await optionalModule("bench/_sweep/run.ts");
const sweepConfig = await optionalModule("bench/_sweep/config.ts");
const stamp = () => new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
// %% [markdown]
// ## Find or make the results
// %%
const gpuNames = gpuKernelNames().filter((n) => getMlstmKernel(n).form !== "step");
// The float64 chunkwise reference always runs too: it has a backward pass (the fwbw panel) and shows
// the CPU baseline.
const kernels = gpuNames.length ? [...gpuNames, "reference--chunkwise"] : ["reference--parallel", "reference--chunkwise", "reference--recurrent"];
const Ss = size === "full" ? [512, 1024, 2048, 4096, 8192] : [32, 64, 128];
const dims = size === "full" ? { B: 1, NH: 8, DQK: 128, DHV: 256 } : { B: 1, NH: 2, DQK: 16, DHV: 16 };
const chunkSizes = size === "full" ? [64, 128, 256, 512, 1024] : [16, 32, 64, 128];
const chunkS = size === "full" ? 8192 : 256;

/** Runs a sweep with bench/'s runner when present, else with the notebook's own timer. */
async function sweep(name: string, names: string[], S: number[], passes: ("fw" | "fwbw")[], chunks: number[]): Promise<string> {
  const outDir = `${REPO_ROOT}/bench_outputs/${stamp()}_${name}`;
  if (sweepRunner && sweepConfig) {
    const config = sweepConfig.validateSweepConfig({
      name,
      description: "run by notebooks/04_benchmarks.ipynb",
      mode: "grid",
      params: { ...Object.fromEntries(Object.entries(dims).map(([k, v]) => [k, [v]])), S, dtype: ["f32"], pass: passes },
      kernels: names.map((kernel) => getMlstmKernel(kernel).form === "chunkwise" ? { kernel, chunkSize: chunks } : { kernel }),
      warmup: 1,
      reps: 3,
      callsPerRep: size === "full" ? "auto" : 1,
    });
    const out = await sweepRunner.runSweep(config, { outDir, png: false, progress: false });
    return out.csvPath;
  }
  const lines = ["kernel,label,pass,dtype,B,NH,S,DQK,DHV,chunk_size,status,wall_ms_median,flops,timing"];
  for (const kernel of names) {
    for (const s of S) {
      for (const pass of passes) {
        for (const L of getMlstmKernel(kernel).form === "chunkwise" ? chunks : [NaN]) {
          try {
            const r = await timeKernel(kernel, { ...dims, S: s }, { chunkSize: L || 64, mode: pass });
            lines.push([kernel, kernel, pass, r.dtype, dims.B, dims.NH, s, dims.DQK, dims.DHV, L || "", "ok", r.runtime_ms, r.flop, "wall"].join(","));
          } catch (e) {
            lines.push([kernel, kernel, pass, "", dims.B, dims.NH, s, dims.DQK, dims.DHV, L || "", `error: ${String(e).replaceAll(",", ";").slice(0, 80)}`, "", "", ""].join(","));
          }
        }
      }
    }
  }
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/results.csv`, lines.join("\n") + "\n");
  return `${outDir}/results.csv`;
}

// The runtime-vs-S figure needs a sweep over S with both passes: the newest results.csv of any kind could
// be the chunk-size sweep (one S, fw only), so candidates are checked (isSSweep) newest first.
const explicitResults = envString("MLSTM_NB_RESULTS", "");
let resultsPath = explicitResults || newestSSweep("bench_outputs");
if (!resultsPath) {
  console.log(`No S sweep (fw and fwbw, several S) under bench_outputs/: running a small one (${sweepRunner ? "bench/ sweep runner" : "notebook timer"})`);
  resultsPath = await sweep("nb_runtime_vs_S", kernels, Ss, ["fw", "fwbw"], [size === "full" ? 128 : 16]);
}
// Missing bench_outputs/ (a fresh clone with MLSTM_NB_RESULTS pointing elsewhere) gives undefined here.
let chunkPath = envString("MLSTM_NB_CHUNK_RESULTS", "") || newestChunkSizeSweep("bench_outputs") || "";
if (!chunkPath) {
  const xl = gpuNames.includes("chunkwise--xl_chunk") ? "chunkwise--xl_chunk" : "reference--chunkwise";
  console.log(`No chunk-size sweep found: running one for ${xl} at S=${chunkS}`);
  chunkPath = await sweep("nb_xl_chunk_chunksize", [xl], [chunkS], ["fw"], chunkSizes);
}
console.log(`results: ${resultsPath}\nchunk-size sweep: ${chunkPath}`);
// %%
const rows = normalizeBenchRows(parseCsv(await Deno.readTextFile(resultsPath)));
const ms = benchMs;
const timingOf = (r: Row) => Number.isFinite(Number(r.gpu_ms_median)) ? "GPU timestamps" : "wall clock";
const ok = rows.filter(isMeasured);
const coverage = sCoverage(rows);
console.log(`${rows.length} rows, ${ok.length} measured; most S values per series: fw ${coverage.fw}, fwbw ${coverage.fwbw}; devices: ${[...new Set(rows.map((r) => r.device ?? "?"))].join(", ")}`);
if (explicitResults && !isSSweep(resultsPath, rows)) {
  console.log(`Note: MLSTM_NB_RESULTS is not a runtime-vs-S sweep with fw and fwbw (a chunk-size sweep, or fewer than 2 S values in a pass): panels may stay empty`);
}
const notOk = rows.filter((r) => !ok.includes(r));
if (notOk.length) {
  await showTable([...groupBy(notOk, (r) => `${r.kernel}|${r.pass}|${r.status}`).entries()].map(([k, g]) => {
    const [kernel, pass, status] = k.split("|");
    return { kernel, pass, status, rows: g.length };
  }));
}
// %% [markdown]
// ## Runtime against the sequence length
// One line per kernel (label), forward on the left and forward+backward on the right; error bars span the
// 25th to 75th percentile when the CSV has them.
// %%
const series = (subset: Row[]) => groupBy(subset, (r) => `${r.label ?? r.kernel}${r.dtype ? ` (${r.dtype})` : ""}`);
const runtimeTraces: Record<string, unknown>[] = [];
const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const names = [...series(ok).keys()];
(["fw", "fwbw"] as const).forEach((pass, j) => {
  for (const [name, g] of series(ok.filter((r) => r.mode === pass))) {
    const sorted = [...g].sort((a, b) => Number(a.S) - Number(b.S));
    const lo = sorted.map((r) => Number(r.gpu_ms_p25 ?? r.wall_ms_p25));
    const hi = sorted.map((r) => Number(r.gpu_ms_p75 ?? r.wall_ms_p75));
    const y = sorted.map(ms);
    const bars = lo.every(Number.isFinite) && hi.every(Number.isFinite);
    runtimeTraces.push({
      type: "scatter",
      mode: "lines+markers",
      name,
      legendgroup: name,
      showlegend: j === 0 || !runtimeTraces.some((t) => t.legendgroup === name),
      x: sorted.map((r) => Number(r.S)),
      y,
      error_y: bars ? { type: "data", symmetric: false, array: hi.map((h, k) => h - y[k]), arrayminus: lo.map((l, k) => y[k] - l) } : undefined,
      line: { color: colors[names.indexOf(name) % colors.length] },
      xaxis: `x${axisSuffix(j)}`,
      yaxis: `y${axisSuffix(j)}`,
    });
  }
});
await show({
  data: runtimeTraces,
  layout: {
    ...gridLayout(1, 2, ["forward (fw)", "forward + backward (fwbw)"], {}, { x: "S", y: "runtime (ms)" }, { x: { type: "log" }, y: { type: "log" } }),
    title: { text: `Runtime vs S (${[...new Set(ok.map(timingOf))].join(", ")})` },
    height: 460,
  },
});
// %% [markdown]
// ## Achieved FLOP/s against the adapter's ceiling
// FLOP from the SPEC §6 cost model (the CSV's `flops` column; fwbw counts the forward three times), divided
// by the runtime. The dashed line is the adapter's matmul ceiling: from the sweep's `ceilings.json` when
// it has one, else measured here with `profiling/`'s `measureCeilings` (small sizes).
// %%
const ceilFile = resultsPath.replace(/results\.csv$/, "ceilings.json");
let peak: number | undefined;
let peakSource = "";
try {
  const c = JSON.parse(await Deno.readTextFile(ceilFile));
  peak = c.flopsPerSecond;
  peakSource = `ceilings.json of the sweep (${c.matmulSize}³ matmul)`;
} catch {
  const profiling = await optionalModule("profiling/mod.ts");
  if (profiling && gpu.gpu) {
    const c = await profiling.measureCeilings(gpu.gpu, size === "full" ? {} : { copyBytes: 16 * 2 ** 20, matmulSize: 128, dispatchesPerPass: 2, passes: 3 });
    peak = c.flopsPerSecond;
    peakSource = `measured here on ${gpu.adapter} (${c.matmulSize}³ matmul)`;
  }
}
console.log(peak ? `ceiling: ${(peak / 1e9).toFixed(3)} GFLOP/s, ${peakSource}` : "no ceiling (no adapter, no ceilings.json)");
const flopTraces: Record<string, unknown>[] = [];
(["fw", "fwbw"] as const).forEach((pass, j) => {
  for (const [name, g] of series(ok.filter((r) => r.mode === pass && Number(r.flop) > 0))) {
    const sorted = [...g].sort((a, b) => Number(a.S) - Number(b.S));
    flopTraces.push({
      type: "scatter",
      mode: "lines+markers",
      name,
      legendgroup: name,
      showlegend: !flopTraces.some((t) => t.legendgroup === name),
      x: sorted.map((r) => Number(r.S)),
      y: sorted.map((r) => Number(r.flop) / (ms(r) * 1e-3) / 1e9),
      line: { color: colors[names.indexOf(name) % colors.length] },
      xaxis: `x${axisSuffix(j)}`,
      yaxis: `y${axisSuffix(j)}`,
    });
  }
});
const flopShapes = peak
  ? [0, 1].map((j) => ({ type: "line", xref: `x${axisSuffix(j)} domain`, x0: 0, x1: 1, yref: `y${axisSuffix(j)}`, y0: peak! / 1e9, y1: peak! / 1e9, line: { dash: "dash", color: "black" } }))
  : [];
await show({
  data: flopTraces,
  layout: {
    ...gridLayout(1, 2, ["forward (fw)", "forward + backward (fwbw)"], {}, { x: "S", y: "GFLOP/s" }, { x: { type: "log" }, y: { type: "log" } }),
    title: { text: `Achieved GFLOP/s vs S${peak ? " (dashed: matmul ceiling)" : ""}` },
    shapes: flopShapes,
    height: 460,
  },
});
// %% [markdown]
// ## Chunk size of the TFLA kernel
// Runtime of `chunkwise--xl_chunk` (or whatever chunkwise kernel the chunk-size sweep measured) against the
// chunk size, one line per S and pass. TFLA's point: larger chunks cut the state traffic (fewer chunk
// boundaries) at the price of more intra-chunk FLOP, so the best chunk size depends on the adapter.
// %%
const chunkRows = normalizeBenchRows(parseCsv(await Deno.readTextFile(chunkPath)))
  .filter((r) => isMeasured(r) && Number.isFinite(Number(r.chunk_size)));
const chunkTraces = [...groupBy(chunkRows, (r) => `${r.kernel} ${r.mode} S=${r.S}`)].map(([name, g]) => {
  const sorted = [...g].sort((a, b) => Number(a.chunk_size) - Number(b.chunk_size));
  return { type: "scatter", mode: "lines+markers", name, x: sorted.map((r) => Number(r.chunk_size)), y: sorted.map(ms) };
});
await show({
  data: chunkTraces,
  layout: {
    title: { text: `Runtime vs chunk size (${chunkPath.replace(REPO_ROOT + "/", "")})` },
    xaxis: { type: "log", title: { text: "chunk size" }, tickvals: [...new Set(chunkRows.map((r) => Number(r.chunk_size)))] },
    yaxis: { title: { text: "runtime (ms)" } },
    height: 420,
  },
});
if (chunkRows.length) {
  const best = [...groupBy(chunkRows, (r) => `${r.kernel}|${r.mode}|${r.S}`)].map(([k, g]) => {
    const b = g.reduce((x, y) => (ms(y) < ms(x) ? y : x));
    const [kernel, pass, S] = k.split("|");
    return { kernel, pass, S: Number(S), "best chunk size": Number(b.chunk_size), "runtime (ms)": ms(b) };
  });
  await showTable(best);
}
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (ok.length === 0) throw new Error("No measured rows in the results");
if (shownFigures().length < 3) throw new Error(`Expected 3 figures, got ${shownFigures().length}`);
// The runtime-vs-S figure must show lines, not single points, in both panels (fw left, fwbw right): a
// chunk-size sweep picked by mistake has one S and no fwbw rows. With an explicit MLSTM_NB_RESULTS only
// the panels its rows fill are required.
const panels = (["fw", "fwbw"] as const).map((pass, j) => ({
  pass,
  hasRows: ok.some((r) => r.mode === pass),
  lines: runtimeTraces.filter((t) => t.xaxis === `x${axisSuffix(j)}` && (t.x as number[]).length > 1).length,
}));
const required = explicitResults ? panels.filter((p) => p.hasRows) : panels;
const flat = required.filter((p) => p.lines === 0);
if (required.length === 0 || flat.length) {
  throw new Error(`Runtime vs S (${resultsPath}): no trace with more than one S in the ${flat.map((p) => p.pass).join(" and ") || "fw/fwbw"} panel`);
}
console.log(`runtime vs S: ${panels.map((p) => `${p.pass} ${p.lines} line(s)`).join(", ")}`);
await reportFigures();
