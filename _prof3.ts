import "./mod.ts";
import { createXlstmLargeConfig } from "./models/xlstm_large/config.ts";
import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "./models/xlstm_large/webgpu.ts";
import { XlstmLargeDecoder } from "./models/xlstm_large/decode.ts";
import { DispatchBatch } from "./kernels/runtime.ts";
import { createSamplerState, encodeSampling } from "./kernels/layers/sampling.ts";
const c = createXlstmLargeConfig({ vocabSize: 512, embeddingDim: 64, numBlocks: 2, numHeads: 2 });
const m = await webgpuXlstmLargeBackend.random!(c, { dtype: "f16", seed: 1 }) as XlstmLargeWebgpu;
const dec = new XlstmLargeDecoder(m, 1);
const s = createSamplerState(m.gpu, 1, 512, 1000, "greedy", { ids: dec.ids.buffer });
const d = m.gpu.device;
for (let rep = 0; rep < 4; rep++) {
  const b = new DispatchBatch(m.gpu);
  const t0 = performance.now();
  for (let k = 0; k < 16; k++) { await dec.encodeStep(b); await encodeSampling(b, dec.logits, s); }
  const st = d.createBuffer({ size: 64, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  b.copy(s.history, 0, st, 0, 64);
  const t1 = performance.now();
  const p = b.submit();
  const t2 = performance.now();
  const mp = st.mapAsync(GPUMapMode.READ);
  const t3 = performance.now();
  await p;
  const t4 = performance.now();
  await mp;
  const t5 = performance.now();
  console.log(`encode ${(t1 - t0).toFixed(2)} submit-sync ${(t2 - t1).toFixed(2)} mapAsync-sync ${(t3 - t2).toFixed(2)} await-submit ${(t4 - t3).toFixed(2)} await-map ${(t5 - t4).toFixed(2)} ms (16 steps)`);
  st.destroy();
}
Deno.exit(0);
