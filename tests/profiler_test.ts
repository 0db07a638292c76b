// The profiler against a known sequence of dispatches of a trivial shader and of real kernels
// (the toy copy kernel, the chunkwise forward and backward), its exports, the wall-clock
// fallback, the memory tracker and the ceilings. GPU tests are ignored without an adapter, and
// fail under REQUIRE_GPU=1 (getBenchGpu throws).

import assert from "node:assert/strict";
import { getBenchGpu } from "../bench/_gpu.ts";
import { loadKernels } from "../bench/_kernels.ts";
import {
  getMlstmKernel,
  type MlstmInputs,
  type MlstmOptions,
  Random,
  randomMlstmInputs,
  randomTensor,
  type Tensor,
} from "../mod.ts";
import { DispatchBatch, getDispatchObserver, getPipeline, GpuTensor } from "../kernels/runtime.ts";
import { gatesChunksPerGroup } from "../kernels/chunkwise/_wgsl.ts";
import {
  measureCeilings,
  mlstmFlops,
  PROFILE_CSV_COLUMNS,
  ProfileReport,
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
    2 * 3 * 64 * (4 * 16 * 32 + 2 * 16 * 48),
  );
  // SPEC §6's worked figure: TFLA shape, L = 64: 180,224 FLOP per token and head.
  const tfla = { form: "chunkwise", B: 1, NH: 16, S: 65536, DQK: 128, DHV: 256 } as const;
  assert.equal(mlstmFlops({ ...tfla, chunkSize: 64 }) / (16 * 65536), 180224);
  assert.equal(Number((mlstmFlops({ ...tfla, chunkSize: 64 }) / 1e11).toFixed(2)), 1.89);
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

/** The CSV's rows as objects (fields before `meta` hold no commas here). */
function csvRows(csv: string): Record<string, string>[] {
  const [head, ...lines] = csv.trim().split("\n");
  const cols = head.split(",");
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, j) => [cols[j], v])));
}

Deno.test("ProfileReport.toCsv() repeats each batch's submit time on its rows (batch_submit_ms)", () => {
  const rec = (index: number, batch: number) => ({
    index,
    batch,
    label: `k${index}`,
    workgroups: [1, 1, 1],
    meta: {},
    flops: undefined,
    bytes: undefined,
    cpuStartMs: index,
    cpuEncodeMs: 0.01,
    gpuStartNs: NaN,
    gpuMs: 1,
  });
  const report = new ProfileReport({
    timing: "gpu-timestamps",
    device: "test",
    wallMs: 5,
    records: [rec(0, 0), rec(1, 0), rec(2, 1)],
    batches: [
      {
        index: 0,
        firstDispatch: 0,
        dispatchCount: 2,
        submitStartMs: 1,
        submitMs: 0.25,
        wallMs: NaN,
      },
      {
        index: 1,
        firstDispatch: 2,
        dispatchCount: 1,
        submitStartMs: 3,
        submitMs: NaN,
        wallMs: NaN,
      },
    ],
  });
  assert.ok(PROFILE_CSV_COLUMNS.includes("batch_submit_ms"));
  const rows = csvRows(report.toCsv());
  assert.deepEqual(rows.map((r) => r.batch_submit_ms), ["0.25", "0.25", ""]);
  assert.deepEqual(rows.map((r) => r.cpu_encode_ms), ["0.01", "0.01", "0.01"]);
});

Deno.test({
  name: "the profiler CSV's batch_submit_ms is the recorded submit time of each row's batch",
  ignore,
  async fn() {
    const { report } = await withProfiling(gpu!, async () => {
      await encodeBatch(["s1", "s1", "s1"]);
      await encodeBatch(["s2"]);
    });
    const rows = csvRows(report.toCsv());
    assert.equal(rows.length, 4);
    for (const r of rows) {
      const b = report.batches[Number(r.batch)];
      assert.ok(Number.isFinite(b.submitMs) && b.submitMs >= 0, `submitMs ${b.submitMs}`);
      assert.equal(Number(r.batch_submit_ms), b.submitMs);
    }
    assert.deepEqual(rows.map((r) => r.batch), ["0", "0", "0", "1"]);
  },
});

/** CPU tensors of `x` uploaded (f32); `temps` collects them for destroy(). */
function upload(x: MlstmInputs<Tensor>, temps: GpuTensor[]): MlstmInputs {
  const out: Record<string, GpuTensor> = {};
  for (const [k, t] of Object.entries(x)) {
    if (t === undefined) continue;
    out[k] = GpuTensor.fromTensor(gpu!, t as Tensor);
    temps.push(out[k]);
  }
  return out as unknown as MlstmInputs;
}

function destroyAll(...xs: unknown[]): void {
  for (const x of xs) {
    if (x instanceof GpuTensor) x.destroy();
    else if (x && typeof x === "object") destroyAll(...Object.values(x));
  }
}

Deno.test({
  name: "toy--copy_v forward + backward records exactly its 2 copy dispatches",
  ignore,
  async fn() {
    await loadKernels(); // registers toy--copy_v
    const dims = { B: 1, NH: 2, S: 8, DQK: 4, DHV: 4 };
    const n = dims.B * dims.NH * dims.S * dims.DHV;
    const temps: GpuTensor[] = [];
    const x = upload(randomMlstmInputs(dims, new Random(0)), temps);
    const dh = GpuTensor.fromTensor(gpu!, randomTensor([1, 2, 8, 4], new Random(1)));
    temps.push(dh);
    const k = getMlstmKernel("toy--copy_v");
    const p = startProfiling(gpu!);
    const fw = await k.forward(x);
    const grads = await k.backward!(x, dh);
    const report = await p.stop();
    destroyAll(fw, grads, temps);
    assert.deepEqual(report.records.map((r) => r.label), ["toy--copy_v/fw", "toy--copy_v/bw"]);
    assert.deepEqual(report.batches.map((b) => b.dispatchCount), [1, 1]);
    for (const r of report.records) {
      assert.equal(r.bytes, 8 * n);
      assert.equal(r.flops, undefined);
      assert.deepEqual(r.workgroups, [1, 1, 1]);
      assert.equal(r.meta.elements, n);
      assert.ok(r.gpuMs > 0);
    }
  },
});

const XL = "chunkwise--xl_chunk";

Deno.test({
  name: "one chunkwise--xl_chunk forward records its 5 dispatches in one batch, in order",
  ignore,
  async fn() {
    const temps: GpuTensor[] = [];
    const x = upload(
      randomMlstmInputs({ B: 1, NH: 2, S: 40, DQK: 16, DHV: 16 }, new Random(2)),
      temps,
    );
    const p = startProfiling(gpu!);
    const out = await getMlstmKernel(XL).forward(x, { chunkSize: 16, returnLastStates: true });
    const report = await p.stop();
    destroyAll(out, temps);
    assert.deepEqual(
      report.records.map((r) => r.label),
      ["gates", "initial states", "states", "parallel", "last states"].map((s) => `${XL} ${s}`),
    );
    assert.equal(report.batches.length, 1);
    assert.equal(report.batches[0].dispatchCount, 5);
    // Workgroups of the gate kernel: one per G chunks (ceil(40 / 16) = 3 chunks; the staged gate
    // kernel takes G = 4 at chunk 16) and head (2).
    const G = gatesChunksPerGroup({ gate: "exp", dtype: "f32", L: 16, BQ: 64 });
    assert.equal(G, 4);
    assert.deepEqual(report.records[0].workgroups, [Math.ceil(3 / G), 2, 1]);
  },
});

// Dispatches without a FLOP count, by design: the gate scan (prep) and the gate gradients are
// element-wise, and the two chunk-boundary scans are element-wise recurrences over the states;
// none of them does matrix work, so the SPEC §6 cost model gives them no FLOP and their cost is
// memory traffic (bytes).
const NO_FLOPS = ["bw prep", "bw scan fwd", "bw scan bwd", "bw gates"].map((s) => `${XL} ${s}`);
// The forward's state copies (kernels/chunkwise/forward.ts) are copies: bytes, no FLOP.
const FORWARD_COPIES = ["initial states", "last states"].map((s) => `${XL} ${s}`);
const BACKWARD_LABELS = [
  "bw prep",
  "bw outer state",
  "bw scan fwd",
  "bw stats",
  "bw outer dstate",
  "bw scan bwd",
  "bw dq",
  "bw dkdv",
  "bw gates",
].map((s) => `${XL} ${s}`);

Deno.test({
  name:
    "every dispatch of a chunkwise--xl_chunk forward + backward has finite positive bytes and flops",
  ignore,
  async fn() {
    const dims = { B: 1, NH: 2, S: 40, DQK: 16, DHV: 16 };
    const BH = dims.B * dims.NH;
    const cases: { name: string; states: boolean; o: MlstmOptions }[] = [
      { name: "plain", states: false, o: { chunkSize: 16 } },
      {
        name: "initial and last states",
        states: true,
        o: { chunkSize: 16, returnLastStates: true },
      },
    ];
    for (const c of cases) {
      const temps: GpuTensor[] = [];
      const rng = new Random(3);
      const x = upload(randomMlstmInputs({ ...dims, withInitialStates: c.states }, rng), temps);
      const dh = GpuTensor.fromTensor(gpu!, randomTensor([1, 2, 40, 16], rng));
      temps.push(dh);
      const bwOptions = c.states
        ? {
          ...c.o,
          lastStateGradients: {
            c: GpuTensor.fromTensor(gpu!, randomTensor([1, 2, 16, 16], rng)),
            n: GpuTensor.fromTensor(gpu!, randomTensor([1, 2, 16], rng)),
          },
        }
        : c.o;
      const k = getMlstmKernel(XL);
      const p = startProfiling(gpu!);
      const fw = await k.forward(x, c.o);
      const grads = await k.backward!(x, dh, bwOptions as MlstmOptions);
      const report = await p.stop();
      destroyAll(fw, grads, temps, bwOptions);
      const labels = report.records.map((r) => r.label);
      assert.deepEqual(labels.filter((l) => l.includes(" bw ")), BACKWARD_LABELS, c.name);
      for (const r of report.records) {
        const what = `${c.name}: ${r.label}`;
        assert.ok(Number.isFinite(r.bytes) && r.bytes! > 0, `${what}: bytes ${r.bytes}`);
        if (FORWARD_COPIES.includes(r.label) && r.flops === undefined) continue;
        if (NO_FLOPS.includes(r.label) && r.flops === undefined) continue;
        assert.ok(Number.isFinite(r.flops) && r.flops! > 0, `${what}: flops ${r.flops}`);
      }
      // The bytes are at least the compulsory traffic: prep reads i, f and writes gi (vec4 f32);
      // dq reads q, k, v, dh and writes dq.
      const rec = (s: string) => report.records.find((r) => r.label === `${XL} ${s}`)!;
      assert.equal(rec("bw prep").bytes, BH * dims.S * (2 * 4 + 16), c.name);
      assert.ok(rec("bw dq").bytes! >= BH * dims.S * (3 * dims.DQK + 2 * dims.DHV) * 4, c.name);
      // So the per-kernel summary shows a bandwidth for every backward dispatch.
      for (const row of report.summary().filter((s) => s.label.includes(" bw "))) {
        assert.ok(Number.isFinite(row.bytesPerSecond) && row.bytesPerSecond > 0, row.label);
      }
    }
  },
});
