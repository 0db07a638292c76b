// deno bench: the sLSTM, forward and forward+backward, float64 reference against slstm--fused on
// the WebGPU adapter (CPU tensors in and out, so each GPU entry includes its uploads and one
// read-back). Small shapes by default; MLSTM_BENCH_SIZE=large uses B 16, S 1024, NH 4, DH 64 (GPU
// only; the float64 reference is skipped there). GPU entries are ignored without an adapter.
// Speed on the GPU machine with timestamps: bench/slstm_gpu.sh.

import { getSlstmKernel, Random, randomSlstmInputs, randomTensor } from "../mod.ts";
import { BENCH_SIZE } from "./_harness.ts";
import { getBenchGpu } from "./_gpu.ts";

const large = BENCH_SIZE === "large";
const shape = large ? { B: 16, S: 1024, NH: 4, DH: 64 } : { B: 2, S: 32, NH: 2, DH: 16 };
const x = randomSlstmInputs(shape, new Random(0));
const dy = randomTensor([shape.B, shape.S, shape.NH, shape.DH], new Random(1));
const noGpu = (await getBenchGpu()) === null;
const label = `B ${shape.B} S ${shape.S} NH ${shape.NH} DH ${shape.DH}`;

for (const name of ["reference--slstm", "slstm--fused"]) {
  const k = getSlstmKernel(name);
  const ignore = name === "slstm--fused" ? noGpu : large;
  Deno.bench({
    name: `${name} fw`,
    group: `slstm fw ${label}`,
    baseline: name === "reference--slstm",
    ignore,
    async fn() {
      await k.forward(x);
    },
  });
  Deno.bench({
    name: `${name} fw+bw`,
    group: `slstm fwbw ${label}`,
    baseline: name === "reference--slstm",
    ignore,
    async fn() {
      await k.forward(x);
      await k.backward(x, dy);
    },
  });
}
