// deviation() (core/metrics.ts) and the deviation log (tests/_deviation_log.ts): the metrics on
// known inputs, and that a failing comparison is logged (pass=false) before assertDeviation throws.

import assert from "node:assert/strict";
import { deviation } from "../mod.ts";
import {
  assertDeviation,
  DEVIATION_COLUMNS,
  logDeviation,
  runDirName,
  setTestRunDir,
} from "./_deviation_log.ts";

Deno.test("deviation() percentiles are nearest-rank: |d| = 1..100 gives p50 50, p99 99, p100 100", () => {
  // core/metrics.ts: p-th percentile = the ceil(p/100 · N)-th smallest |out − ref| (nearest rank).
  const N = 100;
  const ref = Float64Array.from({ length: N }, (_, j) => 1000 + j);
  // |d| = 1..100 in shuffled order and alternating sign: the percentiles must sort |d|.
  const mags = Array.from({ length: N }, (_, j) => ((j * 37) % N) + 1);
  const out = Float64Array.from(ref, (r, j) => r + (j % 2 ? -1 : 1) * mags[j]);
  const d = deviation(out, ref);
  assert.equal(d.p50, 50);
  assert.equal(d.p99, 99);
  assert.equal(d.p100, 100);
  assert.equal(d.maxAbs, 100);
  assert.equal(d.nonFinite, 0);
  let num = 0, den = 0;
  for (let j = 0; j < N; j++) {
    num += mags[j] ** 2;
    den += ref[j] ** 2;
  }
  assert.ok(Math.abs(d.relL2 - Math.sqrt(num / den)) <= 1e-15 * d.relL2);
  // Nearest rank on N = 10: p50 is the 5th smallest, p99 the 10th (ceil(9.9) = 10).
  const ten = deviation(Float64Array.from({ length: 10 }, (_, j) => j + 1), new Float64Array(10));
  assert.deepEqual([ten.p50, ten.p99, ten.p100], [5, 10, 10]);
  // N = 1000: p99 is the 990th smallest.
  const k = deviation(Float64Array.from({ length: 1000 }, (_, j) => j + 1), new Float64Array(1000));
  assert.deepEqual([k.p50, k.p99, k.p100], [500, 990, 1000]);
});

Deno.test("deviation(): max abs, relative L2, an all-zero reference, non-finite outputs, lengths", () => {
  const d = deviation(new Float32Array([1, 2.5, -3]), new Float64Array([1, 2, -1]));
  assert.equal(d.maxAbs, 2);
  assert.equal(d.relL2, Math.sqrt((0.25 + 4) / (1 + 4 + 1)));
  // All-zero reference: relL2 falls back to the absolute L2 norm of the output.
  const z = deviation(new Float64Array([3, -4]), new Float64Array(2));
  assert.deepEqual({ maxAbs: z.maxAbs, relL2: z.relL2, p100: z.p100 }, {
    maxAbs: 4,
    relL2: 5,
    p100: 4,
  });
  const same = deviation(new Float64Array(3), new Float64Array(3));
  assert.deepEqual([same.maxAbs, same.relL2, same.p50], [0, 0, 0]);
  // Non-finite outputs make every metric NaN and are counted.
  const bad = deviation(new Float64Array([1, NaN, Infinity]), new Float64Array(3));
  assert.equal(bad.nonFinite, 2);
  assert.ok([bad.maxAbs, bad.relL2, bad.p50, bad.p99, bad.p100].every(Number.isNaN));
  assert.throws(() => deviation(new Float64Array(2), new Float64Array(3)), {
    message: "Output has 2 elements but the reference has 3",
  });
});

Deno.test("assertDeviation() logs a failing comparison with pass=false, header once, then throws", () => {
  // A temporary directory for this module's log alone (setTestRunDir): test files run in
  // parallel share the process environment, so pointing MLSTM_TEST_RUN_DIR there would collect
  // their rows too.
  const tmp = Deno.makeTempDirSync({ prefix: "mlstm-devlog-" });
  try {
    setTestRunDir(tmp);
    const c = {
      test: "metrics test",
      kernel: "k",
      baseline: "b",
      output: "h",
      dims: { B: 1, NH: 2, S: 3, DQK: 4, DHV: 5 },
      dtype: "f32",
      tolerance: 1e-5,
    };
    const ok = logDeviation(c, new Float64Array([1, 1]), new Float64Array([1, 1]));
    assert.equal(ok.pass, true);
    assert.equal(ok.path, `${tmp}/deviations.csv`);
    assert.throws(
      () =>
        assertDeviation(
          { ...c, chunkSize: 64 },
          new Float64Array([1, 2]),
          new Float64Array([1, 1]),
        ),
      {
        message: "k vs b, h (metrics test): rel L2 7.071068e-1 > tolerance 1.000000e-5; " +
          "max abs 1.000000e+0, p99 1.000000e+0, non-finite 0",
      },
    );
    // NaN never passes.
    assert.throws(() => assertDeviation(c, [NaN], [1]), /rel L2 NaN > tolerance/);
    const lines = Deno.readTextFileSync(ok.path).trimEnd().split("\n");
    assert.equal(lines.length, 4);
    assert.equal(lines[0], DEVIATION_COLUMNS.join(","));
    assert.equal(lines.filter((l) => l.startsWith("test,")).length, 1);
    assert.equal(
      lines[1],
      "metrics test,k,b,h,1,2,3,4,5,,f32,0.000000e+0,0.000000e+0,0.000000e+0,0.000000e+0," +
        "0.000000e+0,1.000000e-5,true",
    );
    assert.equal(
      lines[2],
      "metrics test,k,b,h,1,2,3,4,5,64,f32,1.000000e+0,7.071068e-1,0.000000e+0,1.000000e+0," +
        "1.000000e+0,1.000000e-5,false",
    );
    assert.ok(lines[3].endsWith(",NaN,NaN,NaN,NaN,NaN,1.000000e-5,false"), lines[3]);
  } finally {
    setTestRunDir(undefined);
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("a run's deviation log goes under MLSTM_TEST_OUTPUTS, in a directory named by its UTC start", () => {
  assert.equal(
    runDirName("test_outputs", new Date("2026-12-06T23:38:11.123Z")),
    "test_outputs/2026-12-06T23-38-11Z",
  );
});
