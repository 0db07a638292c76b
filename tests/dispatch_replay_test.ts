// DispatchBatch replays (the decoding step): a spec recorded into several command buffers keeps
// its bind group and its validation (setBindGroupCache), a static uniform buffer
// (DispatchSpec.uniformBuffer) binds like per-batch uniforms, and a spec whose tensor was
// destroyed since is refused again. Results are read back and compared with the expected values.

import assert from "node:assert/strict";
import {
  DispatchBatch,
  type DispatchSpec,
  getPipeline,
  GpuTensor,
  setBindGroupCache,
} from "../kernels/runtime.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";

const ignore = await gpuMissing();

const code = `
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
struct U { add: f32, pad0: f32, pad1: f32, pad2: f32 }
@group(0) @binding(1) var<uniform> u: U;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&a)) { a[g.x] = a[g.x] + u.add; }
}`;

for (const keep of [true, false]) {
  Deno.test({
    name: `DispatchBatch replays a spec over command buffers (bind groups kept: ${keep})`,
    ignore,
  }, async () => {
    const gpu = await needGpu();
    setBindGroupCache(keep);
    try {
      const pipeline = await getPipeline(gpu, "test-replay-add", () => code, "main", {
        storage: ["read_write"],
        uniform: true,
      });
      const a = GpuTensor.fromTensor(gpu, { shape: [100], data: new Float32Array(100) });
      const ub = gpu.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      gpu.device.queue.writeBuffer(ub, 0, new Float32Array([2, 0, 0, 0]));
      const viaBuffer: DispatchSpec = {
        label: "add 2",
        pipeline,
        buffers: [a],
        uniformBuffer: ub,
        workgroups: [2],
      };
      const viaData: DispatchSpec = {
        label: "add 3",
        pipeline,
        buffers: [a],
        uniforms: new Float32Array([3, 0, 0, 0]),
        workgroups: [2],
      };
      for (let k = 0; k < 3; k++) {
        const batch = new DispatchBatch(gpu);
        batch.dispatch(viaBuffer).dispatch(viaData).dispatch(viaBuffer);
        assert.equal(batch.dispatchCount, 3);
        await batch.submit();
      }
      const got = (await a.read()).data;
      assert.ok(got.every((v) => v === 3 * (2 + 3 + 2)), `got ${got[0]}…`);
      a.destroy();
      assert.throws(() => new DispatchBatch(gpu).dispatch(viaBuffer), /destroyed/);
      ub.destroy();
      assertNoUncapturedErrors(gpu);
    } finally {
      setBindGroupCache(true);
    }
  });
}
