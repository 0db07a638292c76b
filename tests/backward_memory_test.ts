// chunkwiseBackwardBytes() is the scratch memory a chunkwise backward really allocates: measured
// with the allocation tracker (buffer pool off, so that every buffer is created and counted), as
// the peak beyond the inputs and the returned gradients.

import assert from "node:assert/strict";
import {
  getMlstmKernel,
  type MlstmGradients,
  randomMlstmInputs,
  randomTensor,
  type Tensor,
} from "../mod.ts";
import { chunkwiseBackwardBytes } from "../kernels/backward/backward.ts";
import {
  getBufferPoolLimit,
  GpuTensor,
  releaseBufferPool,
  setBufferPoolLimit,
} from "../kernels/runtime.ts";
import { trackGpuMemory } from "../profiling/memory.ts";
import { gpuMissing, needGpu } from "./_gpu.ts";
import { uploadInputs } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

Deno.test({
  name: "chunkwiseBackwardBytes() equals the scratch memory a chunkwise backward allocates",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    const limit = getBufferPoolLimit();
    setBufferPoolLimit(0);
    releaseBufferPool(gpu);
    try {
      const shape = { B: 2, NH: 3, S: 70, DQK: 16, DHV: 24 };
      for (const L of [16, 64]) {
        for (const withLast of [false, true]) {
          // Packed sequences: the start flags are the only extra buffer (one pass), so the
          // unaccounted remainder is the same as without them, to the byte.
          let extraUnpacked: number | undefined;
          for (const packed of [false, true]) {
            await t.step(
              `L=${L}${withLast ? " lastStateGradients" : ""}${packed ? " documentStarts" : ""}`,
              async () => {
                const rng = rngOf(1700 + L);
                const x = randomMlstmInputs({ ...shape, withInitialStates: withLast }, rng);
                const up = (v: Tensor) => GpuTensor.fromTensor(gpu, v);
                const xg = uploadInputs(gpu, x);
                const dh = up(randomTensor([2, 3, 70, 24], rng));
                const last = withLast
                  ? {
                    c: up(randomTensor([2, 3, 16, 24], rng)),
                    n: up(randomTensor([2, 3, 16], rng)),
                  }
                  : undefined;
                const mem = trackGpuMemory(gpu.device);
                let grads: MlstmGradients;
                try {
                  grads = await getMlstmKernel("chunkwise--xl_chunk").backward!(xg, dh, {
                    chunkSize: L,
                    ...(last ? { lastStateGradients: last } : {}),
                    ...(packed ? { documentStarts: [[1, 16, 17, 40], [69]] } : {}),
                  });
                  await gpu.device.queue.onSubmittedWorkDone();
                } finally {
                  mem.stop();
                }
                const outputs = Object.values(grads).reduce(
                  (a, g) => a + (g as GpuTensor).byteSize,
                  0,
                );
                const predicted = chunkwiseBackwardBytes(
                  2,
                  3,
                  70,
                  16,
                  24,
                  L,
                  Infinity,
                  withLast,
                  true,
                  packed,
                );
                // The batch uniform buffer comes on top (a few hundred bytes; the smallest state
                // buffer here, the last states with lastStateGradients, is 9600 bytes).
                const extra = mem.peakBytes - outputs - predicted;
                assert.ok(
                  extra >= 0 && extra <= 4096, // measured: 288 bytes
                  `peak ${mem.peakBytes} = outputs ${outputs} + scratch ${predicted} + ${extra}`,
                );
                if (packed) assert.equal(extra, extraUnpacked, "the flags are 4·B·S bytes");
                else extraUnpacked = extra;
                for (const g of Object.values(grads)) (g as GpuTensor).destroy();
                for (const v of [...Object.values(xg), dh, ...(last ? [last.c, last.n] : [])]) {
                  v.destroy();
                }
              },
            );
          }
        }
      }
    } finally {
      setBufferPoolLimit(limit);
    }
  },
});
