// Source of 05_profiling.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Profiling a forward (and backward) pass
//
// Attaches the profiler of `profiling/` (the GPU runtime's dispatch observer: every dispatch in its own
// compute pass with timestamp queries, CPU encode and submit times) to one forward pass of a WebGPU kernel
// (and its backward pass, where the kernel has one), then shows
//
// - the **dispatch timeline**: one bar per dispatch on the GPU clock (a Gantt-like chart, one row per
//   dispatch label), beside the CPU lane of encode and submit times;
// - the **per-kernel summary**: calls, total and mean time, share, achieved FLOP/s and bytes/s against the
//   measured ceilings.
//
// Without timestamp queries the profiler falls back to wall time per submit batch (it says so). Without
// the profiler or a GPU, the notebook times the phases of a float64 reference call on the CPU instead.
//
// Parameters (environment): `MLSTM_NB_KERNEL` (default `chunkwise--xl_chunk`), `MLSTM_NB_SIZE=small|full`.
// %%
import * as mlstm from "../mod.ts";
import { envString, gpuKernelNames, loadGpu, nbSize, optionalModule, REPO_ROOT, showTable } from "./_env.ts";
import { groupBy } from "./_data.ts";
import { show, reportFigures, shownFigures } from "./_plot.ts";

const size = nbSize();
const gpu = await loadGpu();
const profiling = await optionalModule("profiling/mod.ts");
const dims = size === "full" ? { B: 1, NH: 8, S: 2048, DQK: 128, DHV: 128 } : { B: 1, NH: 2, S: 128, DQK: 16, DHV: 16 };
const chunkSize = size === "full" ? 128 : 32;
const wanted = envString("MLSTM_NB_KERNEL", "chunkwise--xl_chunk");
const names = gpuKernelNames();
const kernelName = names.includes(wanted) ? wanted : (names[0] ?? "reference--chunkwise");
const useProfiler = Boolean(gpu.gpu && profiling && !kernelName.startsWith("reference"));
console.log({ kernel: kernelName, ...dims, chunkSize, adapter: gpu.adapter ?? gpu.reason, profiler: useProfiler });
// %% [markdown]
// ## Profile
// One warm-up call compiles the pipelines (cached), so the profiled call shows the kernel's steady state.
// %%
const kernel = mlstm.getMlstmKernel(kernelName);
const x = mlstm.randomMlstmInputs(dims, new mlstm.Random(0));
const opts = { chunkSize };
type Bar = { lane: string; label: string; startMs: number; ms: number; batch: number; phase: string };
const bars: Bar[] = [];
let summaryRows: Record<string, unknown>[] = [];
let note = "";
if (useProfiler) {
  const upload = (t: mlstm.Tensor) => gpu.runtime.GpuTensor.fromTensor(gpu.gpu, t, "f32");
  const dx = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, upload(t as mlstm.Tensor)])) as unknown as mlstm.MlstmInputs;
  const dh = upload(x.v);
  const hasBackward = typeof kernel.backward === "function";
  // Warm-up (pipelines), then the profiled run.
  await (await kernel.forward(dx, opts)).h;
  if (hasBackward) await kernel.backward!(dx, dh, opts);
  await gpu.runtime.waitIdle?.(gpu.gpu);
  const p = profiling.startProfiling(gpu.gpu);
  p.annotate?.({ phase: "forward" });
  const out = await kernel.forward(dx, opts);
  if (hasBackward) {
    p.annotate?.({ phase: "backward" });
    await kernel.backward!(dx, dh, opts);
  }
  const report = await p.stop();
  await (out.h as mlstm.DeviceTensor).read();
  note = `${report.note} ${hasBackward ? "" : `${kernelName} has no backward pass yet: forward only.`}`;
  const gpuT0 = Math.min(...report.records.map((r: { gpuStartNs: number }) => r.gpuStartNs).filter(Number.isFinite));
  for (const r of report.records) {
    const phase = String(r.meta?.phase ?? "forward");
    bars.push({
      lane: `GPU: ${r.label}`,
      label: r.label,
      startMs: Number.isFinite(r.gpuStartNs) ? (r.gpuStartNs - gpuT0) / 1e6 : r.cpuStartMs,
      ms: r.gpuMs,
      batch: r.batch,
      phase,
    });
    bars.push({ lane: "CPU: encode", label: r.label, startMs: r.cpuStartMs, ms: r.cpuEncodeMs, batch: r.batch, phase });
  }
  for (const b of report.batches) {
    if (Number.isFinite(b.submitStartMs)) {
      bars.push({ lane: "CPU: submit", label: `batch ${b.index}`, startMs: b.submitStartMs, ms: b.submitMs, batch: b.index, phase: "submit" });
    }
  }
  const ceilings = await profiling.measureCeilings(gpu.gpu, size === "full" ? {} : { copyBytes: 16 * 2 ** 20, matmulSize: 128, dispatchesPerPass: 2, passes: 3 });
  summaryRows = report.summary(ceilings).map((r: Record<string, number | string>) => ({
    kernel: r.label,
    calls: r.calls,
    "total ms": r.totalMs,
    "mean µs": Number(r.meanMs) * 1e3,
    "share %": Number(r.share) * 100,
    "encode µs/call": (Number(r.cpuEncodeMs) / Number(r.calls)) * 1e3,
    "GFLOP/s": Number(r.flopsPerSecond) / 1e9,
    "% FLOP peak": Number(r.flopsFraction) * 100,
    "GB/s": Number(r.bytesPerSecond) / 1e9,
    "% bw peak": Number(r.bytesFraction) * 100,
  }));
  const dir = `${REPO_ROOT}/profile_outputs/${new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z")}_notebook`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/trace.json`, JSON.stringify(report.toChromeTrace()));
  await Deno.writeTextFile(`${dir}/dispatches.csv`, report.toCsv());
  console.log(`${report.records.length} dispatches in ${report.batches.length} batches on ${report.device}`);
  console.log(`Chrome trace (chrome://tracing, Perfetto): ${dir}/trace.json; CSV: ${dir}/dispatches.csv`);
  console.log(report.formatSummary(ceilings));
} else {
  // CPU fallback: phases of a float64 reference call, timed with the wall clock.
  note = `No profiler run (${gpu.gpu ? "no profiling/ module or no WebGPU kernel" : gpu.reason}): wall-clock phases of ${kernelName} on the CPU.`;
  const t0 = performance.now();
  const mark = async (label: string, phase: string, fn: () => unknown) => {
    const s = performance.now();
    await fn();
    bars.push({ lane: `CPU: ${label}`, label, startMs: s - t0, ms: performance.now() - s, batch: 0, phase });
  };
  await mark("inputs", "setup", () => mlstm.randomMlstmInputs(dims, new mlstm.Random(1)));
  await mark("forward", "forward", () => kernel.forward(x, opts));
  if (kernel.backward) await mark("backward", "backward", () => kernel.backward!(x, x.v, opts));
  summaryRows = [...groupBy(bars, (b) => b.label)].map(([label, g]) => ({ kernel: label, calls: g.length, "total ms": g.reduce((a, b) => a + b.ms, 0) }));
}
console.log(note);
// %% [markdown]
// ## Dispatch timeline
// Each bar is one dispatch (GPU lanes, on the GPU's clock from the first timestamp) or one CPU encode /
// submit (CPU lanes, on the CPU clock from the profiler's start): the two clocks are not synchronized, so
// compare lengths, not positions across the two kinds of lanes. Hover for the details.
// %%
const phaseColor: Record<string, string> = { forward: "#1f77b4", backward: "#d62728", submit: "#7f7f7f", setup: "#2ca02c" };
const lanes = [...new Set(bars.map((b) => b.lane))];
await show({
  data: [...groupBy(bars, (b) => b.phase)].map(([phase, g]) => ({
    type: "bar",
    orientation: "h",
    name: phase,
    y: g.map((b) => b.lane),
    x: g.map((b) => Math.max(b.ms, 1e-4)),
    base: g.map((b) => b.startMs),
    customdata: g.map((b) => [b.label, b.batch, b.ms * 1e3]),
    hovertemplate: "%{customdata[0]}<br>batch %{customdata[1]}<br>start %{base:.3f} ms<br>%{customdata[2]:.1f} µs<extra></extra>",
    marker: { color: phaseColor[phase] ?? "#9467bd" },
  })),
  layout: {
    title: { text: `Dispatch timeline: ${kernelName} (B=${dims.B}, NH=${dims.NH}, S=${dims.S}, DQK=${dims.DQK}, DHV=${dims.DHV}, L=${chunkSize})` },
    barmode: "overlay",
    xaxis: { title: { text: "time (ms)" } },
    yaxis: { categoryorder: "array", categoryarray: [...lanes].reverse(), automargin: true },
    height: 200 + 28 * lanes.length,
    margin: { l: 220 },
  },
});
// %% [markdown]
// ## Per-kernel summary
// %%
await showTable(summaryRows);
const totals = summaryRows.filter((r) => Number(r["total ms"]) > 0);
await show({
  data: [{
    type: "bar",
    x: totals.map((r) => String(r.kernel)),
    y: totals.map((r) => Number(r["total ms"])),
    text: totals.map((r) => `${r.calls}×`),
    textposition: "auto",
  }],
  layout: { title: { text: `Time per dispatch label (${useProfiler ? "GPU" : "CPU wall clock"})` }, yaxis: { title: { text: "total ms" } }, height: 420, margin: { b: 140 } },
});
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (bars.length === 0) throw new Error("Nothing was profiled");
if (shownFigures().length < 2) throw new Error(`Expected 2 figures, got ${shownFigures().length}`);
await reportFigures();
