// The sweep runner end to end on a tiny config (CSV parsed back, HTML plot, PNG when Chromium is
// installed), config expansion (constant tokens, per-kernel overrides, skips), validation
// messages, and agreement of the Python script's columns with the Deno ones.

import assert from "node:assert/strict";
import { parse } from "npm:csv-parse@5.6.0/sync";
import { getBenchGpu } from "../bench/_gpu.ts";
import { RESULT_COLUMNS } from "../bench/_sweep/columns.ts";
import {
  expandSweep,
  loadSweepConfig,
  type SweepConfig,
  validateSweepConfig,
} from "../bench/_sweep/config.ts";
import { chromiumPath } from "../bench/_sweep/plot.ts";
import { runSweep } from "../bench/_sweep/run.ts";
import { quantile } from "../bench/_sweep/stats.ts";

const gpu = await getBenchGpu();

const tiny: SweepConfig = {
  name: "test-tiny",
  mode: "grid",
  params: { B: [1], NH: [1], S: [8, 16], DQK: [4], DHV: [4], pass: ["fw", "fwbw"] },
  kernels: [
    { kernel: "reference--parallel" },
    { kernel: "reference--chunkwise", chunkSize: [4, 8] },
    ...(gpu ? [{ kernel: "toy--copy_v" }, { kernel: "parallel--stablef" }] : []),
    { kernel: "no--such_kernel" },
  ],
  warmup: 1,
  reps: 2,
};

Deno.test("runSweep() writes a well-formed results.csv and a self-contained HTML plot", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "sweep_test_" });
  try {
    // CI installs Chromium, so there the PNG is required; elsewhere it is checked when present.
    const png = (chromiumPath() !== null || Deno.env.get("CI") === "true") &&
      Deno.env.get("MLSTM_TEST_PNG") !== "0";
    const out = await runSweep(tiny, { outDir, png, progress: false });
    const text = await Deno.readTextFile(out.csvPath);
    const records: string[][] = parse(text);
    assert.deepEqual(records[0], [...RESULT_COLUMNS]);
    const rows: Record<string, string>[] = parse(text, { columns: true });
    const expected = expandSweep(tiny).length;
    assert.equal(rows.length, expected);
    assert.equal(expected, 2 * 2 * (1 + 2 + (gpu ? 2 : 0) + 1));
    for (const r of rows) {
      if (r.kernel === "no--such_kernel") {
        assert.match(r.status, /^skipped: kernel not registered/);
        continue;
      }
      if (r.kernel === "parallel--stablef") {
        // fwbw until the GPU parallel backward lands.
        if (r.pass === "fwbw" && r.status === "skipped: kernel has no backward") continue;
      }
      assert.equal(r.status, "ok", `${r.label} ${r.pass} S=${r.S}: ${r.status}`);
      assert.ok(Number(r.wall_ms_median) > 0);
      assert.ok(Number(r.wall_ms_p25) <= Number(r.wall_ms_median));
      assert.ok(Number(r.wall_ms_median) <= Number(r.wall_ms_p75));
      assert.ok(Number(r.flops) > 0 && Number(r.tflops_per_s) > 0);
      assert.equal(Number(r.tokens), Number(r.B) * Number(r.S));
      if (r.backend === "webgpu") {
        if (gpu!.hasTimestamps) {
          assert.equal(r.timing, "gpu-timestamps");
          assert.ok(Number(r.gpu_ms_median) > 0);
          assert.ok(Number(r.gpu_ms_min) <= Number(r.gpu_ms_max));
        }
        assert.ok(Number(r.peak_mem_bytes) > 0, "peak memory recorded");
        assert.ok(Number(r.dispatches_per_call) >= 1);
      } else {
        assert.equal(r.timing, "cpu-wall");
        assert.equal(r.gpu_ms_median, "");
      }
    }
    const html = await Deno.readTextFile(out.htmlPath!);
    assert.match(html, /Plotly\.newPlot/);
    assert.ok(html.length > 1_000_000, "the plotly bundle is inlined");
    assert.ok(!/<script[^>]+src=/.test(html), "no external scripts");
    const fig = JSON.parse(html.match(/const fig = (.*);\n/)![1]);
    const names = new Set(fig.data.map((d: { name: string }) => d.name));
    assert.ok(names.has("reference--chunkwise cs=4"), [...names].join());
    if (png) {
      const bytes = await Deno.readFile(out.pngPath!);
      assert.deepEqual([...bytes.slice(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    }
    const config = JSON.parse(await Deno.readTextFile(`${outDir}/config.json`));
    assert.equal(config.name, "test-tiny");
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

Deno.test("expandSweep() applies constant tokens, per-kernel overrides and maxS (tfla config)", async () => {
  const config = await loadSweepConfig(
    new URL("../bench/configs/tfla.json", import.meta.url).pathname,
  );
  const cases = expandSweep(config);
  for (const c of cases.filter((c) => c.kernel.startsWith("chunkwise"))) {
    assert.equal(c.B * c.S, 65536);
    assert.equal(c.NH, 16);
    assert.equal(c.DQK, 128);
    assert.equal(c.DHV, 256);
  }
  const xl = cases.filter((c) => c.kernel === "chunkwise--xl_chunk");
  assert.deepEqual([...new Set(xl.map((c) => c.chunkSize))], [64, 128, 256]);
  assert.equal(xl.length, 3 * 2 * 3);
  const par = cases.filter((c) => c.kernel === "parallel--stablef");
  assert.deepEqual(par.filter((c) => c.skip).map((c) => c.S), [8192, 8192]);
  const step = cases.filter((c) => c.kernel === "step--fused");
  assert.equal(step.length, 1);
  assert.deepEqual([step[0].B, step[0].NH, step[0].S, step[0].pass], [16, 16, 1, "fw"]);
  for (const name of ["tiny", "xl_chunk_chunksize"]) {
    const c = await loadSweepConfig(
      new URL(`../bench/configs/${name}.json`, import.meta.url).pathname,
    );
    assert.ok(expandSweep(c).length > 0);
  }
});

Deno.test("validateSweepConfig() names the offending field", () => {
  assert.throws(() => validateSweepConfig({}), /`name` must be a non-empty string/);
  assert.throws(
    () =>
      validateSweepConfig({
        name: "x",
        mode: "const_tokens",
        params: {},
        kernels: [{ kernel: "a" }],
      }),
    /`tokens` \(B·S\) must be a positive integer/,
  );
  assert.throws(
    () => validateSweepConfig({ name: "x", params: { S: [0] }, kernels: [{ kernel: "a" }] }),
    /params\.S must be a list of positive integers/,
  );
  assert.throws(
    () =>
      expandSweep(
        validateSweepConfig({ name: "x", params: { S: [4] }, kernels: [{ kernel: "a" }] }),
      ),
    /no NH values for kernel a/,
  );
  const c = validateSweepConfig({
    name: "x",
    mode: "const_tokens",
    tokens: 100,
    params: { NH: [1], S: [30, 50], DQK: [4], DHV: [4] },
    kernels: [{ kernel: "a" }],
  });
  assert.deepEqual(expandSweep(c).map((k) => [k.B, k.skip !== undefined]), [[3, true], [2, false]]);
});

Deno.test("quantile() interpolates and ignores non-finite samples", () => {
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
  assert.equal(quantile([NaN, 7], 0), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("bench/mlstm_kernels_sweep.py writes the same columns as the Deno sweep", async () => {
  const py = await Deno.readTextFile(new URL("../bench/mlstm_kernels_sweep.py", import.meta.url));
  const block = py.match(/RESULT_COLUMNS = \[([\s\S]*?)\]/);
  assert.ok(block, "RESULT_COLUMNS list in the Python script");
  const cols = [...block[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(cols, [...RESULT_COLUMNS]);
});

const python = (() => {
  try {
    return new Deno.Command("python3", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "mlstm_kernels_sweep.py --dry-run expands configs like the Deno sweep (rows, labels, FLOP)",
  ignore: !python,
  async fn() {
    for (const name of ["tfla", "tiny", "xl_chunk_chunksize"]) {
      const outDir = await Deno.makeTempDir({ prefix: "py_sweep_" });
      try {
        const root = new URL("..", import.meta.url).pathname;
        const out = await new Deno.Command("python3", {
          args: ["bench/mlstm_kernels_sweep.py", "--config", name, "--dry-run", "--out", outDir],
          cwd: root,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const rows: Record<string, string>[] = parse(
          await Deno.readTextFile(`${outDir}/results.csv`),
          { columns: true },
        );
        const config = await loadSweepConfig(`${root}bench/configs/${name}.json`);
        const cases = expandSweep(config);
        assert.equal(rows.length, cases.length, name);
        const { baseRow } = await import("../bench/_sweep/measure.ts");
        cases.forEach((c, j) => {
          const r = rows[j];
          assert.deepEqual(
            [r.kernel, r.label, r.pass, r.B, r.S, r.chunk_size],
            [c.kernel, c.label, c.pass, String(c.B), String(c.S), String(c.chunkSize ?? "")],
          );
          const deno = baseRow(config, c, null);
          assert.equal(Number(r.flops), deno.flops, `${name} ${c.label} flops`);
          assert.equal(Number(r.bytes), deno.bytes, `${name} ${c.label} bytes`);
        });
      } finally {
        await Deno.remove(outDir, { recursive: true });
      }
    }
  },
});

Deno.test({
  name: "bench/torch_chunkwise.py parses and, without torch, exits 2 saying so",
  ignore: !python,
  async fn() {
    const out = await new Deno.Command("python3", {
      args: ["bench/torch_chunkwise.py", "--help"],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    if (out.code === 2) assert.match(err, /^torch is not installed/);
    else assert.equal(out.code, 0, err); // torch present: --help printed the usage
  },
});
