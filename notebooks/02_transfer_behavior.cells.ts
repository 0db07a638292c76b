// Source of 02_transfer_behavior.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Transfer behaviour of the mLSTM cell (TFLA paper, SPEC §7)
//
// How much of its input's scale does one mLSTM cell pass on? We run the cell on random q, k, v with the
// gate pre-activations held at constants `i0` (input gate) and `f0` (forget gate) at every step, and
// measure the **gain**: a statistic of the output h divided by the same statistic of v (by default the
// paper's `abs-max`: the mean over steps of max_j |h_t,j|). Sweeping `i0 ∈ [-12, 8]` and `f0 ∈ [-5, 12]`
// gives one heatmap per cell variant:
//
// - **mLSTMexp** (exponential input gate), normalized: h = C̃q / (max(|n·q|, e^{-m}) + eps), and
//   unnormalized (the stabilized numerator alone, `denom_one` in `mlstm_kernels`);
// - **mLSTMsig** (sigmoid input gate), normalized: divide by max(|n·q|, 1) + eps, and unnormalized.
//
// Then the same after the per-head RMS norm that follows the cell in xLSTM, for norm eps ∈ {1e-2, 1e-6,
// 1e-8}, and the normalizer itself: its value and how often max(|·|, lower bound) takes the bound.
//
// Parameters (environment): `MLSTM_NB_SIZE=small|full`, `MLSTM_NB_GRID` (points per axis; 9 small, 100
// full; the paper used 200), `MLSTM_NB_METRIC=abs-max|max|std`, `MLSTM_NB_QK_STD`, `MLSTM_NB_V_STD`.
// %%
import { envNumber, envString, gpuKernelNames, loadGpu, nbSize, showTable, toDevice } from "./_env.ts";
import { axisSuffix, gridLayout, line, PIYG, show, reportFigures, shownFigures } from "./_plot.ts";
import {
  checkAgainstKernel,
  type GainMetric,
  kernelGainGrid,
  linspace,
  transferInputs,
  transferSweep,
  variantLabel,
} from "./_transfer.ts";
import { getMlstmKernel } from "../mod.ts";

const size = nbSize();
const gridN = envNumber("MLSTM_NB_GRID", size === "full" ? 100 : 9);
const metric = envString("MLSTM_NB_METRIC", "abs-max") as GainMetric;
if (!["abs-max", "max", "std"].includes(metric)) throw new Error(`MLSTM_NB_METRIC must be abs-max, max or std, not ${metric}`);
const config = size === "full"
  ? { NH: 1, S: 512, DQK: 128, DHV: 128 }
  : { NH: 2, S: 192, DQK: 32, DHV: 32 };
const qkStd = envNumber("MLSTM_NB_QK_STD", 1), vStd = envNumber("MLSTM_NB_V_STD", 1);
const normEps = [1e-2, 1e-6, 1e-8];
const iGrid = linspace(-12, 8, gridN), fGrid = linspace(-5, 12, gridN);
console.log({ size, ...config, qkStd, vStd, grid: `${gridN}×${gridN}`, metric, normEps });
// %% [markdown]
// ## Run the sweep
// For constant gates the stabilized parallel form factorizes (see `_transfer.ts`): one O(S²·DHV) pass per
// forget-gate offset gives every input-gate offset and every variant at once, so even the paper's 200×200
// grid takes seconds. The next section checks the factorized outputs against the registered kernels.
// %%
const x = transferInputs({ ...config, qkStd, vStd, seed: 0 });
const t0 = performance.now();
const results = transferSweep(x, { iGrid, fGrid, metric, normEps });
console.log(`sweep: ${(performance.now() - t0).toFixed(0)} ms`);
// %% [markdown]
// ## Cross-check with the kernels
// At a few grid points the factorized output is compared with the forward pass of registered kernels:
// the float64 parallel reference (the same stabilizer convention, agreement to rounding), the recurrent
// reference (its stabilizer includes m0 = 0, so it differs through the `eps·exp(m)` term only, SPEC §1),
// and every WebGPU kernel registered in this checkout (f32; expect ~1e-6 where the cell is well scaled).
// %%
const points: [number, number][] = [[-12, -5], [-2, 3], [4, 8], [8, 12]];
const small = transferInputs({ NH: 1, S: 64, DQK: 16, DHV: 16, qkStd, vStd, seed: 1 });
const gpu = await loadGpu();
const names = ["reference--parallel", "reference--recurrent", "reference--parallel_siging", ...gpuKernelNames()]
  .filter((n) => getMlstmKernel(n).form !== "step");
const checks = [];
for (const name of names) {
  const isGpu = getMlstmKernel(name).backend === "webgpu";
  if (isGpu && !gpu.gpu) continue;
  checks.push(...await checkAgainstKernel(small, name, points, isGpu ? (t) => toDevice(gpu, t) : undefined));
}
await showTable(checks.map((c) => ({ ...c })));
// %% [markdown]
// ## Gain before the norm
// Colour: log10 of the gain (white = gain 1, i.e. the cell keeps the scale of v; green above, pink below),
// clipped to ±3. x: forget-gate offset f0, y: input-gate offset i0.
// %%
const clip = (g: number) => Math.max(-3, Math.min(3, Math.log10(Math.max(g, 1e-300))));
const coloraxis = { colorscale: PIYG, cmin: -3, cmax: 3, colorbar: { title: { text: "log10 gain" } } };
function heat(z: number[][], j: number, extra: Record<string, unknown> = {}) {
  return {
    type: "heatmap",
    x: fGrid,
    y: iGrid,
    z: z.map((r) => r.map(clip)),
    customdata: z,
    hovertemplate: "f0 %{x:.2f}<br>i0 %{y:.2f}<br>gain %{customdata:.3g}<extra></extra>",
    xaxis: `x${axisSuffix(j)}`,
    yaxis: `y${axisSuffix(j)}`,
    coloraxis: "coloraxis",
    ...extra,
  };
}
const ax = { x: "f0 (forget gate)", y: "i0 (input gate)" };
await show({
  data: results.map((r, j) => heat(r.gain, j)),
  layout: {
    ...gridLayout(2, 2, results.map((r) => variantLabel(r.variant)), {}, ax),
    coloraxis,
    title: { text: `Gain before norm (${metric}, S=${config.S}, DHV=${config.DHV}, q,k std ${qkStd}, v std ${vStd})` },
    height: 760,
  },
});
// %% [markdown]
// **What it shows.** Where the normalizer |n·q| wins (large i0), normalized mLSTMexp outputs the ratio
// C̃q / |n·q|: its scale does not depend on i0, only on how much the q·k terms cancel in n·q (a ratio that
// can exceed 1 where n·q is small). In the low-i0 part of the grid the lower bound e^{-m} = e^{-i0} wins
// instead and the output becomes e^{i0}·C̃q, so the gain falls exponentially with i0 (pink towards
// i0 = -12); the normalizer figure below shows where the switch happens. The
// unnormalized exp cell depends on f0 only (the stabilizer cancels i0) and grows with the memory length
// 1/(1-σ(f0)). mLSTMsig normalized divides by its lower bound 1 over most of the grid (the normalizer
// figure below shows the bound taken at nearly every step for i0 < 0), so there it equals the unnormalized
// sig cell, σ(i0) times the decayed sum: it collapses for small i0 (σ(i0) ≈ e^{i0}) and grows with f0;
// only for large i0 and f0, where |n·q| exceeds 1, does the normalizer cap it.
// %% [markdown]
// ## The normalizer: its value and how often the lower bound wins
// Top: log10 of the mean normalizer max(|n·q|, bound) over steps and heads. Bottom: the fraction of steps
// where the bound (e^{-m} for exp, 1 for sig) is larger than |n·q|, i.e. where `max(|·|, bound)` takes the
// bound.
// %%
const normalized = results.filter((r) => r.variant.normalize);
await show({
  data: [
    ...normalized.map((r, j) => ({
      ...heat(r.log10Normalizer, j),
      z: r.log10Normalizer,
      customdata: r.log10Normalizer,
      hovertemplate: "f0 %{x:.2f}<br>i0 %{y:.2f}<br>log10 normalizer %{z:.3g}<extra></extra>",
      coloraxis: "coloraxis",
    })),
    ...normalized.map((r, j) => ({
      ...heat(r.boundFraction, j + 2),
      z: r.boundFraction,
      customdata: r.boundFraction,
      hovertemplate: "f0 %{x:.2f}<br>i0 %{y:.2f}<br>bound taken %{z:.2f}<extra></extra>",
      coloraxis: "coloraxis2",
    })),
  ],
  layout: {
    ...gridLayout(2, 2, [
      ...normalized.map((r) => `${variantLabel(r.variant)}: log10 normalizer`),
      ...normalized.map((r) => `${variantLabel(r.variant)}: fraction bound taken`),
    ], {}, ax),
    coloraxis: { colorscale: "Viridis", colorbar: { title: { text: "log10" }, x: 1.0, y: 0.78, len: 0.42 } },
    coloraxis2: { colorscale: "Greys", reversescale: true, cmin: 0, cmax: 1, colorbar: { title: { text: "fraction" }, x: 1.0, y: 0.22, len: 0.42 } },
    title: { text: "Normalizer of the normalized cells" },
    height: 760,
  },
});
// %% [markdown]
// ## Gain after the per-head RMS norm
// xLSTM follows the cell with a per-head RMS norm h/√(mean_j h² + eps). It restores unit scale wherever
// mean_j h² ≫ eps; where the cell's output has collapsed below √eps, the norm passes the collapse on. One row
// per variant, one column per norm eps.
// %%
const afterTraces = [];
const afterTitles = [];
for (const [vi, r] of results.entries()) {
  for (const [ei, e] of normEps.entries()) {
    afterTraces.push(heat(r.gainAfterNorm[ei], vi * normEps.length + ei));
    afterTitles.push(`${variantLabel(r.variant)}, eps ${e.toExponential(0)}`);
  }
}
await show({
  data: afterTraces,
  layout: {
    ...gridLayout(results.length, normEps.length, afterTitles, {}, ax),
    coloraxis,
    title: { text: `Gain after the RMS norm (${metric})` },
    height: 1250,
  },
});
// %% [markdown]
// ## How much of the grid keeps its scale?
// The share of the (i0, f0) grid where the gain lies within a factor 2 of 1, before and after the norm:
// the smaller the norm's eps, the further into the collapsed region the norm can restore the scale.
// %%
const within = (g: number[][]) => {
  const all = g.flat();
  return all.filter((v) => v >= 0.5 && v <= 2).length / all.length;
};
const share = results.map((r) => ({
  variant: variantLabel(r.variant),
  before: within(r.gain),
  ...Object.fromEntries(normEps.map((e, k) => [`after, eps ${e.toExponential(0)}`, within(r.gainAfterNorm[k])])),
}));
await showTable(share);
// %% [markdown]
// A slice: the gain along i0 at the forget-gate offset closest to 3 (a typical initialisation), before and
// after the norm, for the normalized cells.
// %%
const fc = fGrid.reduce((best, f, j) => (Math.abs(f - 3) < Math.abs(fGrid[best] - 3) ? j : best), 0);
const sliceTraces = normalized.flatMap((r) => [
  line(iGrid, r.gain.map((row) => row[fc]), `${variantLabel(r.variant)} before norm`),
  ...normEps.map((e, k) =>
    line(iGrid, r.gainAfterNorm[k].map((row) => row[fc]), `${variantLabel(r.variant)} after norm, eps ${e.toExponential(0)}`, { line: { dash: "dot" } })
  ),
]);
await show({
  data: sliceTraces,
  layout: {
    title: { text: `Gain along i0 at f0 = ${fGrid[fc].toFixed(2)}` },
    xaxis: { title: { text: "i0" } },
    yaxis: { title: { text: `gain (${metric})` }, type: "log" },
    height: 480,
  },
});
// %% [markdown]
// ## The sweep through a WebGPU kernel
// The same analysis with the kernel's own forward passes (one per grid point, f32 on the GPU) on a coarser
// grid: the kernel named by `MLSTM_NB_TB_KERNEL` (default `chunkwise--xl_chunk`, when registered; `none`
// skips this). Left: its gain before the norm (colours as above); right: log10 of its gain over the float64
// analysis at the same points (0 = agreement; f32 differs most where |n·q| is small and the ratio
// C̃q / |n·q| is ill-conditioned).
// %%
const tbKernel = envString("MLSTM_NB_TB_KERNEL", "chunkwise--xl_chunk");
const tbGridN = envNumber("MLSTM_NB_TB_KERNEL_GRID", size === "full" ? 21 : 5);
let kernelGrid;
if (tbKernel !== "none" && gpuKernelNames().includes(tbKernel) && gpu.gpu) {
  const ig = linspace(-12, 8, tbGridN), fg = linspace(-5, 12, tbGridN);
  const t1 = performance.now();
  kernelGrid = await kernelGainGrid(x, tbKernel, { iGrid: ig, fGrid: fg, metric, normEps, toDevice: (t) => toDevice(gpu, t) });
  const [ref] = transferSweep(x, { iGrid: ig, fGrid: fg, metric, normEps, variants: [kernelGrid.variant] });
  const ratio = kernelGrid.gain.map((row, r) => row.map((g, c) => Math.log10(g / ref.gain[r][c])));
  console.log(`${tbKernel}: ${tbGridN}×${tbGridN} forward passes in ${(performance.now() - t1).toFixed(0)} ms; ` +
    `max |log10(kernel gain / float64 gain)| = ${Math.max(...ratio.flat().map(Math.abs)).toExponential(2)}`);
  await show({
    data: [
      { ...heat(kernelGrid.gain, 0, { x: fg, y: ig }) },
      {
        type: "heatmap", x: fg, y: ig, z: ratio, xaxis: "x2", yaxis: "y2", coloraxis: "coloraxis2",
        hovertemplate: "f0 %{x:.2f}<br>i0 %{y:.2f}<br>log10 ratio %{z:.2e}<extra></extra>",
      },
    ],
    layout: {
      ...gridLayout(1, 2, [`${tbKernel}: gain before norm (${variantLabel(kernelGrid.variant)})`, "log10(kernel gain / float64 gain)"], {}, ax),
      coloraxis: { ...coloraxis, showscale: false }, // the colours of the figures above
      coloraxis2: { colorscale: "RdBu", cmid: 0, colorbar: { title: { text: "log10 ratio" } } },
      title: { text: `Transfer sweep through ${tbKernel} (f32, ${gpu.adapter})` },
      height: 460,
    },
  });
} else {
  console.log(`No kernel sweep: ${tbKernel === "none" ? "MLSTM_NB_TB_KERNEL=none" : `${tbKernel} is not registered (or no GPU)`}`);
}
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (shownFigures().length < 4) throw new Error(`Expected 4 figures, got ${shownFigures().length}`);
const bad = checks.filter((c) => c.kernel.startsWith("reference--parallel") && !(c.relL2 < 1e-12));
if (bad.length) throw new Error(`Factorized form disagrees with the parallel reference: ${JSON.stringify(bad)}`);
const badGpu = checks.filter((c) => !c.kernel.startsWith("reference") && !(c.relL2 < 1e-3));
if (badGpu.length) throw new Error(`WebGPU kernels disagree with the analysis: ${JSON.stringify(badGpu)}`);
if (results.some((r) => r.gain.flat().some((g) => !Number.isFinite(g)))) throw new Error("Non-finite gain");
await reportFigures();
