// The profiler against a known sequence of dispatches of a trivial shader, its exports, the
// wall-clock fallback, the memory tracker and the ceilings. GPU tests are ignored without an
// adapter, and fail under REQUIRE_GPU=1 (getBenchGpu throws).

import assert from "node:assert/strict";
import { getBenchGpu } from "../bench/_gpu.ts";
import { DispatchBatch, getDispatchObserver, getPipeline } from "../kernels/runtime.ts";
import {
  measureCeilings,
  mlstmFlops,
  PROFILE_CSV_COLUMNS,
  startProfiling,
  trackGpuMemory,
  withProfiling,
} from "../profiling/mod.ts";

const gpu = await getBenchGpu();
const ignore = gpu === null;

const SHADER = `
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i < arrayLength(&buf)) {
    var x = buf[i];
    for (var j = 0u; j < 64u; j++) { x = x * 0.999 + 0.001; }
    buf[i] = x;
  }
}`;

async function encodeBatch(labels: string[], n = 4096) {
  const g = gpu!;
  const buf = g.device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE });
  const pipeline = await getPipeline(g, "profiler-test", () => SHADER);
  const batch = new DispatchBatch(g);
  for (const label of labels) {
    batch.dispatch({
      label,
      pipeline,
      buffers: [buf],
      workgroups: [n / 64, 1, 1],
      meta: { n },
      flops: 128 * n,
      bytes: 8 * n,
    });
  }
  await batch.submit();
  buf.destroy();
}

Deno.test({
  name: "startProfiling() records every dispatch with its label and a positive GPU duration",
  ignore,
  async fn() {
    const p = startProfiling(gpu!);
    await encodeBatch(["a", "a", "a"]);
    await encodeBatch(["b", "b"]);
    const report = await p.stop();
    assert.equal(getDispatchObserver(), null, "the observer is detached after stop()");
    assert.equal(report.records.length, 5);
    assert.equal(report.batches.length, 2);
    assert.deepEqual(report.records.map((r) => r.label), ["a", "a", "a", "b", "b"]);
    assert.deepEqual(report.batches.map((b) => b.dispatchCount), [3, 2]);
    const expected = gpu!.device.features.has("timestamp-query") ? "gpu-timestamps" : "wall";
    assert.equal(report.timing, expected);
    for (const r of report.records) {
      assert.ok(
        r.gpuMs > 0 && Number.isFinite(r.gpuMs),
        `gpuMs of dispatch ${r.index}: ${r.gpuMs}`,
      );
      assert.ok(r.cpuEncodeMs >= 0);
      assert.deepEqual(r.workgroups, [64, 1, 1]);
      assert.equal(r.meta.n, 4096);
    }
    for (const b of report.batches) assert.ok(b.submitMs >= 0);
    const s = report.summary({ flopsPerSecond: 1e12, bytesPerSecond: 1e12 });
    assert.deepEqual(s.map((r) => r.calls).sort(), [2, 3]);
    assert.ok(Math.abs(s.reduce((t, r) => t + r.share, 0) - 1) < 1e-9);
    assert.ok(s.every((r) => r.flopsPerSecond > 0 && r.flopsFraction > 0));
    const table = report.formatSummary();
    assert.match(table, /5 dispatches in 2 batches/);
    assert.deepEqual(gpu!.uncapturedErrors, []);
  },
});

Deno.test({
  name: "ProfileReport.toChromeTrace() writes valid trace JSON with one X event per dispatch",
  ignore,
  async fn() {
    const { report } = await withProfiling(gpu!, async () => {
      await encodeBatch(["k1", "k2"]);
      await encodeBatch(["k1"]);
    });
    const path = await Deno.makeTempFile({ suffix: ".json" });
    await Deno.writeTextFile(path, JSON.stringify(report.toChromeTrace()));
    const trace = JSON.parse(await Deno.readTextFile(path));
    await Deno.remove(path);
    assert.ok(Array.isArray(trace.traceEvents));
    const x = trace.traceEvents.filter((e: { ph: string }) => e.ph === "X");
    const gpuEv = x.filter((e: { pid: number }) => e.pid === 2);
    const encEv = x.filter((e: { pid: number; tid: number }) => e.pid === 1 && e.tid === 1);
    const subEv = x.filter((e: { pid: number; tid: number }) => e.pid === 1 && e.tid === 2);
    assert.equal(gpuEv.length, 3);
    assert.equal(encEv.length, 3);
    assert.equal(subEv.length, 2);
    for (const e of x) {
      assert.equal(typeof e.ts, "number");
      assert.ok(e.dur >= 0 && Number.isFinite(e.ts), JSON.stringify(e));
    }
    assert.ok(gpuEv.every((e: { dur: number }) => e.dur > 0));
    assert.deepEqual(gpuEv.map((e: { name: string }) => e.name), ["k1", "k2", "k1"]);
    // GPU events are ordered in time.
    for (let j = 1; j < gpuEv.length; j++) assert.ok(gpuEv[j].ts >= gpuEv[j - 1].ts);
    const csv = report.toCsv().trim().split("\n");
    assert.equal(csv.length, 4);
    assert.equal(csv[0], PROFILE_CSV_COLUMNS.join(","));
  },
});

Deno.test({
  name: "startProfiling() spills past one query set (more than 2048 dispatches in a batch)",
  ignore,
  async fn() {
    const p = startProfiling(gpu!);
    await encodeBatch(Array.from({ length: 2050 }, (_, j) => `d${j % 3}`), 64);
    const report = await p.stop();
    assert.equal(report.records.length, 2050);
    assert.ok(report.records.every((r) => r.gpuMs > 0), "every dispatch has a duration");
  },
});

Deno.test({
  name: "startProfiling({ timestamps: false }) falls back to wall time and says so",
  ignore,
  async fn() {
    const p = startProfiling(gpu!, { timestamps: false });
    assert.equal(p.usesTimestamps, false);
    await encodeBatch(["w", "w"]);
    const report = await p.stop();
    assert.equal(report.timing, "wall");
    assert.match(report.note, /No timestamp-query/);
    assert.equal(report.records.length, 2);
    assert.ok(report.records.every((r) => r.gpuMs > 0));
    assert.equal(report.records[0].gpuMs, report.records[1].gpuMs);
  },
});

Deno.test({
  name: "startProfiling() refuses a second profiler; withProfiling() detaches when fn throws",
  ignore,
  async fn() {
    const p = startProfiling(gpu!);
    assert.throws(() => startProfiling(gpu!), /already attached/);
    await p.stop();
    await assert.rejects(p.stop(), /already stopped/);
    await assert.rejects(
      withProfiling(gpu!, () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(getDispatchObserver(), null);
  },
});

Deno.test({
  name: "trackGpuMemory() counts live bytes and the peak",
  ignore,
  fn() {
    const mem = trackGpuMemory(gpu!.device);
    try {
      const a = gpu!.device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
      const b = gpu!.device.createBuffer({ size: 4096, usage: GPUBufferUsage.STORAGE });
      assert.equal(mem.currentBytes, 5120);
      a.destroy();
      assert.equal(mem.currentBytes, 4096);
      mem.resetPeak();
      assert.equal(mem.peakBytes, 4096);
      b.destroy();
      assert.equal(mem.currentBytes, 0);
      assert.equal(mem.buffersCreated, 2);
      assert.throws(() => trackGpuMemory(gpu!.device), /already tracked/);
    } finally {
      mem.stop();
    }
    const again = trackGpuMemory(gpu!.device);
    gpu!.device.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE }).destroy();
    assert.equal(again.peakBytes, 256);
    again.stop();
  },
});

Deno.test({
  name: "measureCeilings() gives positive rates and a correct matmul",
  ignore,
  async fn() {
    const c = await measureCeilings(gpu!, {
      copyBytes: 1 << 20,
      matmulSize: 128,
      dispatchesPerPass: 2,
      passes: 1,
    });
    assert.ok(c.bytesPerSecond > 0 && Number.isFinite(c.bytesPerSecond));
    assert.ok(c.flopsPerSecond > 0 && Number.isFinite(c.flopsPerSecond));
    assert.ok(c.matmulMaxRelError < 1e-5, `matmul rel error ${c.matmulMaxRelError}`);
    assert.deepEqual(gpu!.uncapturedErrors, []);
  },
});

Deno.test("mlstmFlops() follows SPEC §6", () => {
  const s = { B: 2, NH: 3, S: 64, DQK: 16, DHV: 32 };
  assert.equal(
    mlstmFlops({ form: "chunkwise", ...s, chunkSize: 16 }),
    2 * 3 * 64 * 2 * (4 * 16 * 32 + 16 * 48),
  );
  assert.equal(mlstmFlops({ form: "parallel", ...s }), 2 * 3 * 64 * 2 * 64 * 48);
  assert.equal(mlstmFlops({ form: "step", ...s, S: 1 }), 2 * 3 * 4 * 16 * 32);
  assert.equal(
    mlstmFlops({ form: "parallel", ...s, pass: "fwbw" }),
    3 * mlstmFlops({ form: "parallel", ...s }),
  );
});

Deno.test({
  name:
    "Profiler.annotate() merges metadata into later records; dispatches before start are not recorded",
  ignore,
  async fn() {
    await encodeBatch(["before"]);
    const p = startProfiling(gpu!);
    await encodeBatch(["x"]);
    p.annotate({ S: 128, pass: "fw" });
    await encodeBatch(["y"]);
    p.annotate({ S: undefined });
    await encodeBatch(["z"]);
    const report = await p.stop();
    await encodeBatch(["after"]);
    assert.deepEqual(report.records.map((r) => r.label), ["x", "y", "z"]);
    assert.deepEqual(report.records.map((r) => r.meta), [
      { n: 4096 },
      { n: 4096, S: 128, pass: "fw" },
      { n: 4096, pass: "fw" },
    ]);
  },
});

Deno.test({
  name: "startProfiling() handles batches submitted concurrently",
  ignore,
  async fn() {
    const p = startProfiling(gpu!);
    await Promise.all([
      encodeBatch(["c1", "c1"]),
      encodeBatch(["c2"]),
      encodeBatch(["c3", "c3", "c3"]),
    ]);
    const report = await p.stop();
    assert.equal(report.records.length, 6);
    assert.equal(report.batches.length, 3);
    assert.deepEqual(report.batches.map((b) => b.dispatchCount).sort(), [1, 2, 3]);
    for (const r of report.records) assert.ok(r.gpuMs > 0, `${r.label}: ${r.gpuMs}`);
    for (const b of report.batches) {
      const labels = report.records.slice(b.firstDispatch, b.firstDispatch + b.dispatchCount)
        .map((r) => r.label);
      assert.equal(new Set(labels).size, 1, "a batch's dispatches are contiguous");
      assert.ok(b.submitMs >= 0);
    }
  },
});

Deno.test({
  name:
    'startProfiling({ granularity: "pass" }) records the runtime\'s shared passes, not dispatches',
  ignore,
  async fn() {
    const p = startProfiling(gpu!, { granularity: "pass" });
    assert.equal(p.passPerDispatch, false);
    await encodeBatch(["p", "q", "r"]);
    await encodeBatch(["s"]);
    const report = await p.stop();
    assert.equal(report.granularity, "pass");
    assert.deepEqual(report.records.map((r) => r.label), ["p", "s"]);
    assert.ok(report.records.every((r) => r.gpuMs > 0 && r.flops === undefined));
    assert.match(report.note, /compute pass/);
    assert.match(report.formatSummary(), /2 passes in 2 batches/);
    // The per-dispatch view of the same work has one record per dispatch.
    const q = startProfiling(gpu!);
    assert.equal(q.passPerDispatch, true);
    await encodeBatch(["p", "q", "r"]);
    assert.equal((await q.stop()).records.length, 3);
  },
});
