// The notebooks' helper modules, tested without Jupyter: the transfer-behaviour factorization against
// the float64 references, the notebook builder (committed .ipynb files match their sources), the
// grid layout, the CSV helpers and the cost model.

import assert from "node:assert/strict";
import { getMlstmKernel } from "../mod.ts";
import {
  checkAgainstKernel,
  factorizedOutput,
  linspace,
  meanRowStat,
  rmsNorm,
  transferInputs,
  transferSweep,
} from "../notebooks/_transfer.ts";
import { parseCells, toNotebook } from "../tools/build_notebooks.ts";
import { axisSuffix, gridLayout, htmlFragment } from "../notebooks/_plot.ts";
import { outputsNewestFirst, parseCsv, reduceBy } from "../notebooks/_data.ts";
import {
  benchMs,
  isChunkSizeSweep,
  isSSweep,
  newestChunkSizeSweep,
  newestSSweep,
  normalizeBenchRows,
  sCoverage,
} from "../notebooks/_bench.ts";
import { chunkwiseCost, formOf, parallelCost } from "../notebooks/_cost.ts";

const x = transferInputs({ NH: 2, S: 24, DQK: 8, DHV: 6, seed: 3 });
const points: [number, number][] = [[-12, -5], [-3, 0], [0, 3], [8, 12]];

Deno.test("checkAgainstKernel() factorized transfer outputs equal the parallel references", async () => {
  for (const name of ["reference--parallel", "reference--parallel_siging"]) {
    const rows = await checkAgainstKernel(x, name, points);
    assert.ok(rows.length >= points.length);
    for (const r of rows) {
      assert.ok(r.relL2 < 1e-12, `${name} ${r.variant} at ${r.i0},${r.f0}: ${r.relL2}`);
    }
  }
});

Deno.test("checkAgainstKernel() recurrent reference differs only through the eps term", async () => {
  for (const r of await checkAgainstKernel(x, "reference--recurrent", points)) {
    assert.ok(r.relL2 < 1e-5, `${r.i0},${r.f0}: ${r.relL2}`);
  }
});

Deno.test("transferSweep() gains equal the statistics of the factorized outputs", () => {
  const iGrid = [-6, 2], fGrid = [0, 5];
  const [expNorm, , , sigUnnorm] = transferSweep(x, { iGrid, fGrid, normEps: [1e-6] });
  const vStat = meanRowStat(x.v.data, x.DHV, "abs-max");
  for (const [ir, i0] of iGrid.entries()) {
    for (const [fc, f0] of fGrid.entries()) {
      const h = factorizedOutput(x, { gate: "exp", normalize: true }, i0, f0);
      const g = meanRowStat(h, x.DHV, "abs-max") / vStat;
      assert.ok(Math.abs(expNorm.gain[ir][fc] - g) <= 1e-12 * Math.max(1, g));
      const gn = meanRowStat(rmsNorm(h, x.DHV, 1e-6), x.DHV, "abs-max") / vStat;
      assert.ok(Math.abs(expNorm.gainAfterNorm[0][ir][fc] - gn) <= 1e-12 * Math.max(1, gn));
      const hs = factorizedOutput(x, { gate: "sig", normalize: false }, i0, f0);
      const gs = meanRowStat(hs, x.DHV, "abs-max") / vStat;
      assert.ok(Math.abs(sigUnnorm.gain[ir][fc] - gs) <= 1e-12 * Math.max(1, gs));
    }
  }
  assert.ok(expNorm.boundFraction.flat().every((b) => b >= 0 && b <= 1));
  assert.ok(sigUnnorm.boundFraction.flat().every(Number.isNaN));
});

Deno.test("linspace() includes both ends", () => {
  assert.deepEqual(linspace(-12, 8, 5), [-12, -7, -2, 3, 8]);
});

Deno.test("parseCells() splits percent-format sources into code and markdown cells", () => {
  const cells = parseCells(
    "// header\n// %% [markdown]\n// # T\n//\n// text\n// %%\nconst a = 1;\n\n// %%\n\n",
  );
  assert.deepEqual(cells, [
    { kind: "markdown", lines: ["# T", "", "text"] },
    { kind: "code", lines: ["const a = 1;"] },
  ]);
  const nb = JSON.parse(toNotebook(cells, "01_x"));
  assert.equal(nb.metadata.kernelspec.name, "deno");
  assert.deepEqual(nb.cells[1].outputs, []);
});

Deno.test("notebooks/*.ipynb match their .cells.ts sources", () => {
  const dir = new URL("../notebooks/", import.meta.url);
  const sources = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.endsWith(".cells.ts")
  );
  assert.ok(sources.length >= 6);
  for (const name of sources) {
    const stem = name.replace(/\.cells\.ts$/, "");
    const built = toNotebook(parseCells(Deno.readTextFileSync(new URL(name, dir))), stem);
    assert.equal(
      Deno.readTextFileSync(new URL(`${stem}.ipynb`, dir)),
      built,
      `notebooks/${stem}.ipynb is stale: run deno run -A tools/build_notebooks.ts`,
    );
  }
});

Deno.test("gridLayout() gives every panel its own non-overlapping domains", () => {
  const l = gridLayout(2, 3, ["a", "b", "c", "d", "e", "f"]);
  const dom = (k: string) => (l[k] as { domain: number[] }).domain;
  for (let j = 0; j < 6; j++) {
    const [x0, x1] = dom(`xaxis${axisSuffix(j)}`), [y0, y1] = dom(`yaxis${axisSuffix(j)}`);
    assert.ok(0 <= x0 && x0 < x1 && x1 <= 1 + 1e-12 && 0 <= y0 && y0 < y1 && y1 <= 1 + 1e-12);
  }
  assert.ok(dom("xaxis")[1] < dom("xaxis2")[0]);
  assert.ok(dom("yaxis4")[1] < dom("yaxis")[0]);
  assert.equal((l.annotations as unknown[]).length, 6);
});

Deno.test("htmlFragment() escapes the figure JSON for a script element", () => {
  const html = htmlFragment({ data: [{ name: "</script><b>" }] }, false);
  assert.ok(!html.includes("</script><b>"));
  assert.ok(html.includes("window.Plotly.newPlot"));
});

Deno.test("parseCsv() converts numeric fields and reduceBy() takes the max per x", () => {
  const rows = parseCsv("kernel,S,rel_l2\na,16,1e-6\na,16,3e-6\na,32,2e-6\nb,,NaN\n");
  assert.equal(rows[0].S, 16);
  assert.equal(rows[3].kernel, "b");
  assert.deepEqual(reduceBy(rows.slice(0, 3), "S", "rel_l2"), { x: [16, 32], y: [3e-6, 2e-6] });
});

Deno.test("normalizeBenchRows() maps column aliases and fills flop from the cost model", () => {
  const [r] = normalizeBenchRows([{
    kernel: "chunkwise--xl_chunk",
    pass: "fwbw",
    S: 64,
    median_ms: 2,
    B: 1,
    NH: 1,
    DQK: 8,
    DHV: 8,
    chunk_size: 16,
  }]);
  assert.equal(r.mode, "fwbw");
  assert.equal(r.runtime_ms, 2);
  assert.equal(r.flop, 3 * chunkwiseCost({ B: 1, NH: 1, S: 64, DQK: 8, DHV: 8 }, 16).flop);
});

Deno.test("chunkwiseCost() follows SPEC §6 and its intensity grows with the chunk size", () => {
  const d = { B: 2, NH: 4, S: 1024, DQK: 64, DHV: 128 };
  assert.equal(chunkwiseCost(d, 64).flop, 2 * 4 * 1024 * (4 * 64 * 128 + 2 * 64 * (64 + 128)));
  assert.ok(chunkwiseCost(d, 256).intensity > chunkwiseCost(d, 64).intensity);
  assert.equal(parallelCost(d).flop, 2 * 2 * 4 * 1024 * 1024 * (64 + 128));
  assert.equal(formOf("reference--parallel_siging"), "parallel");
  assert.equal(formOf("chunkwise--xl_chunk"), "chunkwise");
  assert.equal(getMlstmKernel("reference--chunkwise").form, "chunkwise");
});

/** A results.csv text: one row per (pass, S) of one kernel, plus a skipped fwbw row. */
function sweepCsv(benchmark: string, passes: string[], Ss: number[]): string {
  const lines = ["benchmark,kernel,label,pass,S,chunk_size,status,gpu_ms_median,wall_ms_median"];
  for (const pass of passes) {
    for (const S of Ss) lines.push(`${benchmark},chunkwise--xl_chunk,xl,${pass},${S},64,ok,1.5,12`);
  }
  lines.push(`${benchmark},recurrent--sequence,seq,fwbw,64,,skipped: kernel has no backward,,`);
  return lines.join("\n") + "\n";
}

Deno.test("isSSweep() accepts S sweeps with fw and fwbw and refuses chunk-size sweeps", () => {
  const rows = (t: string) => normalizeBenchRows(parseCsv(t));
  const both = rows(sweepCsv("tiny", ["fw", "fwbw"], [32, 64, 128]));
  assert.deepEqual(sCoverage(both), { fw: 3, fwbw: 3 });
  assert.ok(isSSweep("/x/2026-01-01T00-00-00Z_tiny/results.csv", both));
  // The same rows in a chunk-size sweep's folder, or named so in the benchmark column: refused.
  assert.ok(!isSSweep("/x/2026-01-01T00-00-00Z_nb_xl_chunk_chunksize/results.csv", both));
  const named = rows(sweepCsv("xl_chunk_chunksize", ["fw", "fwbw"], [32, 64]));
  assert.ok(isChunkSizeSweep("/x/a/results.csv", named) && !isSSweep("/x/a/results.csv", named));
  // One S, or one pass only: refused.
  assert.ok(!isSSweep("/x/a/results.csv", rows(sweepCsv("a", ["fw", "fwbw"], [64]))));
  assert.ok(!isSSweep("/x/a/results.csv", rows(sweepCsv("a", ["fw"], [32, 64, 128]))));
  assert.equal(benchMs(both[0]), 1.5);
  assert.equal(benchMs({ wall_ms_median: 12, gpu_ms_median: NaN }), 12);
});

Deno.test("newestSSweep() skips a newer chunk-size sweep; missing folders give undefined", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (folder: string, text: string, mtime: Date) => {
      await Deno.mkdir(`${dir}/${folder}`);
      await Deno.writeTextFile(`${dir}/${folder}/results.csv`, text);
      await Deno.utime(`${dir}/${folder}/results.csv`, mtime, mtime);
    };
    await write(
      "2026-01-01T00-00-00Z_old_s",
      sweepCsv("s", ["fw", "fwbw"], [32, 64]),
      new Date(1e12),
    );
    await write(
      "2026-01-02T00-00-00Z_tfla",
      sweepCsv("t", ["fw", "fwbw"], [32, 64]),
      new Date(2e12),
    );
    await write("2026-01-03T00-00-00Z_fw_only", sweepCsv("f", ["fw"], [32, 64]), new Date(3e12));
    await write(
      "2026-01-04T00-00-00Z_nb_xl_chunk_chunksize",
      sweepCsv("nb_xl_chunk_chunksize", ["fw"], [256]),
      new Date(4e12),
    );
    assert.equal(outputsNewestFirst(dir, "results.csv").length, 4);
    assert.equal(newestSSweep(dir), `${dir}/2026-01-02T00-00-00Z_tfla/results.csv`);
    assert.equal(
      newestChunkSizeSweep(dir),
      `${dir}/2026-01-04T00-00-00Z_nb_xl_chunk_chunksize/results.csv`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(outputsNewestFirst(`${dir}/missing`, "results.csv"), []);
  assert.equal(newestSSweep(`${dir}/missing`), undefined);
  assert.equal(newestChunkSizeSweep(`${dir}/missing`), undefined);
});
