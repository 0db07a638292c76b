// Source of 03_numerical_deviation.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Numerical deviation of the kernels from the float64 references
//
// Every cross-check of the test suite appends a row to `test_outputs/<timestamp>/deviations.csv`: the
// kernel, its baseline, which output (h, a state, a gradient), the shape, chunk size, storage dtype, max
// abs error, relative L2 error ‖out−ref‖/‖ref‖, the 50/99/100th percentiles of |out−ref|, the tolerance
// and pass/fail. This notebook plots the error against the sequence length S and the chunk size, per
// kernel and dtype, with the tolerances, and lists the worst cases.
//
// Parameters (environment): `MLSTM_NB_DEVIATIONS=<path to a deviations.csv>` (default: the newest under
// `test_outputs/`; when there is none, a small cross-check below creates one), `MLSTM_NB_SIZE`.
// %%
import * as mlstm from "../mod.ts";
import { envString, gpuKernelNames, loadGpu, nbSize, REPO_ROOT, referenceFor, showTable, toDevice } from "./_env.ts";
import { groupBy, newestOutput, parseCsv, reduceBy, type Row } from "./_data.ts";
import { axisSuffix, gridLayout, show, reportFigures, shownFigures } from "./_plot.ts";

let csvPath = envString("MLSTM_NB_DEVIATIONS", "") || newestOutput("test_outputs", "deviations.csv");
console.log(csvPath ? `deviation log: ${csvPath}` : "no deviation log found: running a small cross-check");
// %% [markdown]
// ## A cross-check of our own (only when no log exists)
// Runs each registered WebGPU kernel (f32 and f16 storage) or, without them, the chunkwise and parallel
// references, against the float64 reference of the same form over a few sequence lengths and chunk sizes,
// and logs the rows with the test suite's own logger. For f16 rows the reference runs on the inputs rounded
// to f16, so the error is the kernel's arithmetic (f32 accumulation over f16 data), not the input rounding.
// %%
if (!csvPath) {
  Deno.env.set("MLSTM_TEST_OUTPUTS", `${REPO_ROOT}/test_outputs`);
  const { logDeviation } = await import("../tests/_deviation_log.ts");
  const gpu = await loadGpu();
  const gpuNames = gpu.gpu ? gpuKernelNames() : [];
  const names = gpuNames.length ? gpuNames : ["reference--chunkwise", "reference--parallel", "reference--chunkwise_siging"];
  const Ss = nbSize() === "full" ? [64, 128, 256, 512, 1024] : [16, 32, 64, 96];
  const chunks = nbSize() === "full" ? [16, 32, 64, 128, 256] : [8, 16, 32];
  const dtypes: ("f32" | "f16")[] = gpuNames.length ? ["f32", "f16"] : [];
  let n = 0;
  for (const name of names) {
    const k = mlstm.getMlstmKernel(name);
    if (k.form === "step") continue;
    for (const S of Ss) {
      const dims = { B: 1, NH: 2, S, DQK: 16, DHV: 16 };
      const x = mlstm.randomMlstmInputs(dims, new mlstm.Random(S));
      // The baseline sees the inputs as the kernel stores them: rounded to f16 for the f16 rows, so
      // that the deviation measures the kernel's arithmetic, not the rounding of its inputs.
      const round16 = (t: mlstm.Tensor) => ({ shape: t.shape, data: Float64Array.from(new Float16Array(t.data)) });
      const x16 = Object.fromEntries(Object.entries(x).map(([key, t]) => [key, round16(t as mlstm.Tensor)])) as unknown as mlstm.MlstmInputs;
      const refs = {
        f64: await mlstm.getMlstmKernel(referenceFor(name)).forward(x, { chunkSize: 16 }),
        f32: await mlstm.getMlstmKernel(referenceFor(name)).forward(x, { chunkSize: 16 }),
        f16: await mlstm.getMlstmKernel(referenceFor(name)).forward(x16, { chunkSize: 16 }),
      };
      for (const chunkSize of k.form === "chunkwise" ? chunks.filter((c) => c <= S) : [16]) {
        for (const dtype of k.backend === "webgpu" ? dtypes : ["f64" as const]) {
          let inputs: mlstm.MlstmInputs = x;
          if (dtype !== "f64") {
            try {
              inputs = Object.fromEntries(Object.entries(x).map(([key, t]) => [key, toDevice(gpu, t as mlstm.Tensor, dtype)])) as unknown as mlstm.MlstmInputs;
            } catch {
              continue;
            }
          }
          const out = await k.forward(inputs, { chunkSize });
          const h = "data" in out.h ? out.h : await out.h.read();
          const r = logDeviation({
            test: "notebook 03 cross-check",
            kernel: name,
            baseline: referenceFor(name),
            output: "h",
            dims,
            chunkSize: k.form === "chunkwise" ? chunkSize : undefined,
            dtype,
            tolerance: dtype === "f64" ? 1e-12 : dtype === "f32" ? 1e-5 : 1e-3,
          }, h.data, (refs[dtype].h as mlstm.Tensor).data);
          csvPath = r.path;
          n++;
        }
      }
    }
  }
  console.log(`${n} comparisons logged to ${csvPath}`);
}
// %% [markdown]
// ## Load the log
// %%
const rows: Row[] = parseCsv(await Deno.readTextFile(csvPath!));
const kernels = [...new Set(rows.map((r) => String(r.kernel)))];
console.log(`${rows.length} rows, ${kernels.length} kernels: ${kernels.join(", ")}`);
await showTable(
  [...groupBy(rows, (r) => `${r.kernel}|${r.dtype}`).entries()].map(([key, g]) => {
    const [kernel, dtype] = key.split("|");
    const rel = g.map((r) => Number(r.rel_l2)).filter((v) => !Number.isNaN(v));
    return {
      kernel,
      dtype,
      comparisons: g.length,
      failed: g.filter((r) => String(r.pass) !== "true").length,
      "worst rel_l2": Math.max(...rel),
      "median rel_l2": rel.sort((a, b) => a - b)[Math.floor(rel.length / 2)] ?? NaN,
    };
  }),
);
// %% [markdown]
// ## Error against the sequence length and the chunk size
// Each point is the worst relative L2 error over all rows of that kernel, dtype and S (left) or chunk size
// (right); forward outputs (h and the last states) above, gradients below. Grey lines: the most common
// tolerance of each dtype in those rows (rows may carry their own, conditioning-aware tolerance; the
// worst-case table compares each row with its own). Exact zeros (identical outputs) are drawn at 1e-18.
// %%
const isGrad = (r: Row) => /^d/.test(String(r.output));
const panels = [
  { title: "forward: error vs S", rows: rows.filter((r) => !isGrad(r)), x: "S" },
  { title: "forward: error vs chunk size", rows: rows.filter((r) => !isGrad(r)), x: "chunk_size" },
  { title: "backward: error vs S", rows: rows.filter(isGrad), x: "S" },
  { title: "backward: error vs chunk size", rows: rows.filter(isGrad), x: "chunk_size" },
].filter((p) => p.rows.length > 0); // no gradient rows: no backward panels
const panelRows = Math.ceil(panels.length / 2);
const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const dashOf: Record<string, string> = { f64: "solid", f32: "dash", f16: "dot", bf16: "dashdot" };
const traces: Record<string, unknown>[] = [];
const shapes: Record<string, unknown>[] = [];
const annotations: Record<string, unknown>[] = [];
panels.forEach((p, j) => {
  for (const [key, g] of groupBy(p.rows, (r) => `${r.kernel}|${r.dtype}`)) {
    const [kernel, dtype] = key.split("|");
    const { x, y } = reduceBy(g, p.x, "rel_l2");
    if (x.length === 0) continue;
    traces.push({
      type: "scatter",
      mode: "lines+markers",
      x,
      y: y.map((v) => Math.max(v, 1e-18)),
      name: `${kernel} (${dtype})`,
      legendgroup: key,
      showlegend: !traces.some((t) => t.legendgroup === key),
      line: { color: palette[kernels.indexOf(kernel) % palette.length], dash: dashOf[dtype] ?? "solid" },
      xaxis: `x${axisSuffix(j)}`,
      yaxis: `y${axisSuffix(j)}`,
    });
  }
  // One line per dtype: its most common tolerance (the suite also uses conditioning-aware
  // tolerances per row; the worst-case table below divides each row by its own).
  for (const [dtype, g] of groupBy(p.rows, (r) => String(r.dtype))) {
    const counts = new Map<number, number>();
    for (const r of g) {
      const t = Number(r.tolerance);
      if (Number.isFinite(t)) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    if (counts.size === 0) continue;
    const tol = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    shapes.push({
      type: "line",
      xref: `x${axisSuffix(j)} domain`,
      x0: 0,
      x1: 1,
      yref: `y${axisSuffix(j)}`,
      y0: tol,
      y1: tol,
      line: { color: "#999", dash: dashOf[dtype] === "solid" ? "longdash" : dashOf[dtype] ?? "dash", width: 1 },
    });
    annotations.push({
      xref: `x${axisSuffix(j)} domain`,
      yref: `y${axisSuffix(j)}`,
      x: 1,
      y: Math.log10(tol),
      xanchor: "right",
      yanchor: "bottom",
      text: `${dtype} tolerance`,
      showarrow: false,
      font: { size: 9, color: "#666" },
    });
  }
});
const layout: Record<string, unknown> = {
  ...gridLayout(panelRows, 2, panels.map((p) => p.title), {}, { y: "rel L2" }, { x: { type: "log" }, y: { type: "log", exponentformat: "power" } }),
  title: { text: `Relative L2 error vs float64 (${csvPath!.replace(REPO_ROOT + "/", "")})` },
  shapes,
  height: Math.max(80 + 340 * panelRows, 140 + 28 * new Set(rows.map((r) => `${r.kernel}|${r.dtype}`)).size),
};
layout.annotations = [...(layout.annotations as Record<string, unknown>[]), ...annotations];
for (let j = 0; j < panels.length; j++) {
  (layout[`xaxis${axisSuffix(j)}`] as Record<string, unknown>).title = { text: panels[j].x === "S" ? "S" : "chunk size" };
}
await show({ data: traces, layout });
// %% [markdown]
// ## Error percentiles per kernel
// The 50th, 99th and 100th percentile of |out − ref| per row, as box plots per kernel and dtype: the spread
// shows whether a kernel's worst case is an outlier or typical.
// %%
const boxes = [...groupBy(rows, (r) => `${r.kernel}|${r.dtype}`)].flatMap(([key, g]) =>
  (["p50", "p99", "p100"] as const).map((p, j) => ({
    type: "box",
    name: p,
    x: g.map(() => key.replace("|", " ")),
    y: g.map((r) => Math.max(Number(r[p]), 1e-18)),
    legendgroup: p,
    marker: { color: ["#1f77b4", "#ff7f0e", "#d62728"][j] },
    offsetgroup: p,
  }))
);
await show({
  data: boxes.map((b, j) => ({ ...b, showlegend: j < 3 })),
  layout: { title: { text: "|out − ref| percentiles per row" }, boxmode: "group", yaxis: { type: "log", exponentformat: "power" }, height: 460, margin: { b: 160 } },
});
// %% [markdown]
// ## The worst cases
// Rows sorted by rel L2 / tolerance (how close each came to failing; above 1 failed).
// %%
const worst = rows
  .map((r) => ({ ...r, "rel_l2/tol": Number(r.rel_l2) / Number(r.tolerance) }))
  .sort((a, b) => (Number.isNaN(b["rel_l2/tol"]) ? 1 : b["rel_l2/tol"]) - (Number.isNaN(a["rel_l2/tol"]) ? 1 : a["rel_l2/tol"]))
  .slice(0, 15);
await showTable(worst, ["test", "kernel", "baseline", "output", "S", "chunk_size", "dtype", "rel_l2", "max_abs", "tolerance", "rel_l2/tol", "pass"]);
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (rows.length === 0) throw new Error("The deviation log is empty");
if (shownFigures().length < 2) throw new Error(`Expected 2 figures, got ${shownFigures().length}`);
await reportFigures();
