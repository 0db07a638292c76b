// The WebGPU runtime: device, tensors, pipelines, batches, limit checks, error reporting.

import assert from "node:assert/strict";
import {
  bufferPoolStats,
  checkBindingSize,
  checkWorkgroupLimits,
  DispatchBatch,
  type DispatchObserver,
  getBufferPoolLimit,
  getGpu,
  getPipeline,
  GpuError,
  GpuTensor,
  NoAdapterError,
  readTensors,
  releaseBufferPool,
  setBufferPoolLimit,
  setDispatchObserver,
} from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";

const ignore = await gpuMissing();

const FILL = `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
struct U { value: f32, n: u32 }
@group(0) @binding(1) var<uniform> u: U;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < u.n) { out[g.x] = u.value + f32(g.x); }
}`;

function uniforms(value: number, n: number): ArrayBuffer {
  const b = new ArrayBuffer(8);
  new DataView(b).setFloat32(0, value, true);
  new DataView(b).setUint32(4, n, true);
  return b;
}

Deno.test("NoAdapterError() names the fix", () => {
  const e = new NoAdapterError("No WebGPU adapter found");
  assert.match(e.message, /apt-get install -y mesa-vulkan-drivers/);
  assert.match(e.message, /DENO_WEBGPU_BACKEND=vulkan/);
});

Deno.test({
  name: "getGpu() gives a device with f16, timestamps and the adapter's limits",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const al = gpu.adapter.limits;
    assert.equal(gpu.limits.maxComputeWorkgroupStorageSize, al.maxComputeWorkgroupStorageSize);
    assert.equal(gpu.limits.maxStorageBufferBindingSize, al.maxStorageBufferBindingSize);
    assert.equal(gpu.hasF16, gpu.adapter.features.has("shader-f16"));
    assert.equal(gpu.hasTimestamps, gpu.adapter.features.has("timestamp-query"));
    console.log(
      `adapter ${gpu.adapterName}; f16 ${gpu.hasF16}; timestamps ${gpu.hasTimestamps}; ` +
        `workgroup storage ${gpu.limits.maxComputeWorkgroupStorageSize}`,
    );
  },
});

Deno.test({
  name: "DispatchBatch() runs a trivial shader with uniforms, several dispatches in one submit",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const p = await getPipeline(gpu, "test-fill", () => FILL);
    const a = GpuTensor.empty(gpu, [100], "f32", { poison: true });
    const b = GpuTensor.empty(gpu, [3], "f32", { poison: true });
    const batch = new DispatchBatch(gpu);
    batch.dispatch({
      label: "fill a",
      pipeline: p,
      buffers: [a],
      uniforms: uniforms(1, 100),
      workgroups: [2],
    });
    batch.dispatch({
      label: "fill b",
      pipeline: p,
      buffers: [b],
      uniforms: uniforms(-5, 3),
      workgroups: [1],
    });
    await batch.submit();
    const [ta, tb] = await readTensors([a, b]);
    assert.deepEqual([...ta!.data.slice(0, 3)], [1, 2, 3]);
    assert.equal(ta!.data[99], 100);
    assert.deepEqual([...tb!.data], [-5, -4, -3]);
    assert.throws(
      () => batch.dispatch({ label: "x", pipeline: p, buffers: [a], workgroups: [1] }),
      GpuError,
    );
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "GpuTensor.destroy() pools the buffer; a reused buffer is zeros, poisoned or overwritten",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    releaseBufferPool(gpu);
    const data = new Float32Array([1, 2, 3, 4, 5]);
    const a = GpuTensor.fromTensor(gpu, { shape: [5], data });
    const buffer = a.buffer;
    a.destroy();
    assert.equal(bufferPoolStats(gpu).freeBuffers, 1);
    assert.equal(bufferPoolStats(gpu).freeBytes, 20);
    const hits = bufferPoolStats(gpu).hits;
    // Same byte size: the same buffer, cleared (a fresh WebGPU buffer is zeros too).
    const z = GpuTensor.empty(gpu, [5]);
    assert.equal(z.buffer, buffer);
    assert.equal(bufferPoolStats(gpu).hits, hits + 1);
    assert.deepEqual([...(await z.read()).data], [0, 0, 0, 0, 0]);
    z.destroy();
    const p = GpuTensor.empty(gpu, [5], "f32", { poison: true });
    assert.equal(p.buffer, buffer);
    assert.ok([...(await p.read()).data].every(Number.isNaN));
    p.destroy();
    const u = GpuTensor.fromTensor(gpu, { shape: [5], data: new Float32Array([9, 8, 7, 6, 5]) });
    assert.equal(u.buffer, buffer);
    assert.deepEqual([...(await u.read()).data], [9, 8, 7, 6, 5]);
    // A destroyed tensor cannot be dispatched (its buffer may serve another tensor by now).
    u.destroy();
    const pipeline = await getPipeline(gpu, "test-fill", () => FILL);
    assert.throws(
      () =>
        new DispatchBatch(gpu).dispatch({
          label: "fill",
          pipeline,
          buffers: [u],
          uniforms: uniforms(1, 5),
          workgroups: [1],
        }),
      (e: unknown) =>
        e instanceof GpuError &&
        e.message === "Dispatch fill binding 0 is a destroyed GpuTensor (shape (5))",
    );
    // Limit 0: nothing is kept; releaseBufferPool frees what is held.
    releaseBufferPool(gpu); // also holds the read-back staging buffers
    assert.equal(bufferPoolStats(gpu).freeBytes, 0);
    const before = getBufferPoolLimit();
    try {
      setBufferPoolLimit(0);
      GpuTensor.empty(gpu, [7]).destroy();
      assert.equal(bufferPoolStats(gpu).freeBytes, 0);
      setBufferPoolLimit(48);
      GpuTensor.empty(gpu, [5]).destroy();
      assert.equal(bufferPoolStats(gpu).freeBytes, 20);
      GpuTensor.empty(gpu, [8]).destroy(); // 32 bytes: the older 20-byte buffer is evicted
      assert.deepEqual(
        [bufferPoolStats(gpu).freeBuffers, bufferPoolStats(gpu).freeBytes],
        [1, 32],
      );
      assert.throws(() => setBufferPoolLimit(-1), /Buffer pool limit must be/);
    } finally {
      setBufferPoolLimit(before);
    }
    releaseBufferPool(gpu);
    assert.deepEqual([bufferPoolStats(gpu).freeBuffers, bufferPoolStats(gpu).freeBytes], [0, 0]);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "GpuTensor() round trips f32 exactly and f16 to f16 rounding; poison is NaN",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const data = new Float64Array([0.1, -2.5, 1e-3, 65504, 3.14159, 7]);
    const t32 = GpuTensor.fromTensor(gpu, { shape: [2, 3], data });
    const r32 = await t32.read();
    assert.deepEqual(r32.shape, [2, 3]);
    assert.deepEqual([...r32.data], [...Float32Array.from(data)]);
    for (const n of [1, 5, 6]) {
      const d = data.slice(0, n);
      const t16 = GpuTensor.fromTensor(gpu, { shape: [n], data: d }, "f16");
      assert.equal(t16.byteSize, Math.ceil(n / 2) * 4);
      const r16 = await t16.read();
      const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
      assert.deepEqual([...r16.data], [...Float32Array.from(F16.from(d))]);
      t16.destroy();
    }
    const p16 = GpuTensor.empty(gpu, [3], "f16", { poison: true });
    const p32 = GpuTensor.empty(gpu, [3], "f32", { poison: true });
    const z = GpuTensor.empty(gpu, [3], "f32");
    const [a, b, c] = await readTensors([p16, p32, z]);
    assert.ok([...a!.data, ...b!.data].every(Number.isNaN));
    assert.deepEqual([...c!.data], [0, 0, 0]);
    t32.destroy();
    await assert.rejects(() => t32.read(), /destroyed/);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "getPipeline() throws with the WGSL message on bad code, and caches good pipelines",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    await assert.rejects(
      () =>
        getPipeline(gpu, "test-bad", () => "@compute @workgroup_size(1) fn main() { let x = ; }"),
      (e: unknown) => e instanceof GpuError && /does not compile|failed/.test(e.message),
    );
    await assert.rejects(
      () => getPipeline(gpu, "test-bad-entry", () => FILL, "nope"),
      GpuError,
    );
    let calls = 0;
    const gen = () => (calls++, FILL);
    const p1 = await getPipeline(gpu, "test-cache", gen);
    const p2 = await getPipeline(gpu, "test-cache", gen);
    assert.equal(p1, p2);
    assert.equal(calls, 1);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "DispatchBatch.submit() throws on a validation error instead of dropping it",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const p = await getPipeline(gpu, "test-fill", () => FILL);
    const a = GpuTensor.empty(gpu, [4]);
    const batch = new DispatchBatch(gpu);
    // Missing the uniform binding: the bind group does not match the layout.
    batch.dispatch({ label: "bad bind", pipeline: p, buffers: [a], workgroups: [1] });
    await assert.rejects(
      () => batch.submit(),
      (e: unknown) => e instanceof GpuError && /bad bind/.test(e.message),
    );
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "checkBindingSize() and checkWorkgroupLimits() name the limit, the size and the fix",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const lim = gpu.limits.maxStorageBufferBindingSize;
    checkBindingSize(gpu, lim, "ok");
    assert.throws(
      () => checkBindingSize(gpu, lim + 4, "the state C"),
      (e: unknown) =>
        e instanceof GpuError && e.message.includes("maxStorageBufferBindingSize") &&
        e.message.includes(String(lim + 4)) && /smaller batch/.test(e.message),
    );
    const ws = gpu.limits.maxComputeWorkgroupStorageSize;
    assert.throws(
      () => checkWorkgroupLimits(gpu, { storageBytes: ws + 1, invocations: 64 }, "kernel X"),
      (e: unknown) =>
        e instanceof GpuError && e.message.includes("maxComputeWorkgroupStorageSize") &&
        e.message.includes(String(ws + 1)) && /smaller chunk size/.test(e.message),
    );
    assert.throws(() => GpuTensor.empty(gpu, [lim / 4 + 1]), /maxStorageBufferBindingSize/);
    const p = await getPipeline(gpu, "test-fill", () => FILL);
    assert.throws(
      () =>
        new DispatchBatch(gpu).dispatch({
          label: "huge",
          pipeline: p,
          buffers: [],
          workgroups: [70000],
        }),
      /maxComputeWorkgroupsPerDimension/,
    );
  },
});

Deno.test({
  name: "setDispatchObserver() gives each dispatch its own pass with timestamps",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    if (!gpu.hasTimestamps) return;
    const p = await getPipeline(gpu, "test-fill", () => FILL);
    const qs = gpu.device.createQuerySet({ type: "timestamp", count: 4 });
    const resolve = gpu.device.createBuffer({
      size: 32,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = gpu.device.createBuffer({
      size: 32,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const labels: string[] = [];
    let after = 0;
    const obs: DispatchObserver = {
      timestampWrites(info) {
        labels.push(info.label);
        return {
          querySet: qs,
          beginningOfPassWriteIndex: 2 * info.index,
          endOfPassWriteIndex: 2 * info.index + 1,
        };
      },
      beforeFinish(enc) {
        enc.resolveQuerySet(qs, 0, 4, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 32);
      },
      afterSubmit() {
        after++;
      },
    };
    const a = GpuTensor.empty(gpu, [64]);
    setDispatchObserver(obs);
    try {
      const batch = new DispatchBatch(gpu);
      batch.dispatch({
        label: "one",
        pipeline: p,
        buffers: [a],
        uniforms: uniforms(0, 64),
        workgroups: [1],
      });
      batch.dispatch({
        label: "two",
        pipeline: p,
        buffers: [a],
        uniforms: uniforms(1, 64),
        workgroups: [1],
      });
      await batch.submit();
    } finally {
      setDispatchObserver(null);
    }
    await read.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    assert.deepEqual(labels, ["one", "two"]);
    assert.equal(after, 1);
    assert.ok(ts[1]! >= ts[0]! && ts[3]! >= ts[2]!, `timestamps ${ts}`);
    assert.equal((await a.read()).data[1], 2);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "getGpu() records uncaptured errors, and after device loss throws and then recreates",
  ignore,
  fn: async () => {
    await needGpu();
    // A second device (another option key), so that the shared one stays intact.
    const g = await getGpu({ powerPreference: "low-power" });
    assert.equal(await getGpu({ powerPreference: "low-power" }), g);
    // An error outside any scope: recorded, not thrown, not silent.
    g.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    await g.device.queue.onSubmittedWorkDone();
    assert.equal(g.uncapturedErrors.length, 1, `recorded: ${g.uncapturedErrors.join("; ")}`);
    assert.match(g.uncapturedErrors[0]!, /GPUValidationError/);
    const t = GpuTensor.fromTensor(g, { shape: [2], data: new Float32Array([1, 2]) });
    g.device.destroy();
    await g.device.lost;
    assert.ok(g.lost !== undefined);
    assert.throws(() => GpuTensor.empty(g, [4]), /was lost.*getGpu\(\) again/);
    await assert.rejects(() => t.read(), /was lost/);
    await assert.rejects(() => getPipeline(g, "after-loss", () => FILL), /was lost/);
    const fresh = await getGpu({ powerPreference: "low-power" });
    assert.notEqual(fresh, g);
    const u = GpuTensor.fromTensor(fresh, { shape: [2], data: new Float32Array([3, 4]) });
    assert.deepEqual([...(await u.read()).data], [3, 4]);
    fresh.device.destroy();
  },
});

Deno.test({
  name: "getPipeline() with a BindingLayout: one bind group, uniforms by dynamic offset",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const p = await getPipeline(
      gpu,
      "test-dynamic",
      () => `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
struct U { idx: u32, value: f32 }
@group(0) @binding(2) var<uniform> u: U;
@compute @workgroup_size(1) fn main() { out[u.idx] = u.value + src[0]; }`,
      "main",
      { storage: ["read", "read_write"], uniform: true },
    );
    const src = GpuTensor.fromTensor(gpu, { shape: [1], data: new Float32Array([0.5]) });
    const out = GpuTensor.empty(gpu, [5], "f32", { poison: true });
    const batch = new DispatchBatch(gpu);
    for (let j = 0; j < 5; j++) {
      const u = new ArrayBuffer(8);
      new DataView(u).setUint32(0, j, true);
      new DataView(u).setFloat32(4, 10 * j, true);
      batch.dispatch({
        label: `dyn ${j}`,
        pipeline: p,
        buffers: [src, out],
        uniforms: u,
        workgroups: [1],
      });
    }
    await batch.submit();
    assert.deepEqual([...(await out.read()).data], [0.5, 10.5, 20.5, 30.5, 40.5]);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "getPipeline() attributes errors right when pipelines compile concurrently",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const good = (j: number) => FILL.replace("u.value + f32(g.x)", `u.value + f32(g.x) + ${j}.0`);
    const results = await Promise.allSettled([
      getPipeline(gpu, "conc-0", () => good(0)),
      getPipeline(gpu, "conc-bad", () => "fn main( {"),
      getPipeline(gpu, "conc-1", () => good(1)),
      getPipeline(gpu, "conc-bad-entry", () => good(2), "missing"),
      getPipeline(gpu, "conc-2", () => good(3)),
    ]);
    assert.deepEqual(results.map((r) => r.status), [
      "fulfilled",
      "rejected",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    for (const r of results) {
      if (r.status === "rejected") assert.ok(r.reason instanceof GpuError, String(r.reason));
    }
    assertNoUncapturedErrors(gpu);
  },
});
