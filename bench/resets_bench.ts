// Cost of the exact gate arithmetic and of packed sequences (issue #11 part 1): median wall time
// (submit to onSubmittedWorkDone) of chunkwise--xl_chunk forward and forward+backward on device
// tensors, without document starts, with a start every `DOC` steps and with many short documents
// (a start every `SHORT` steps: 64 documents per row at the full size), where the backward's
// single pass costs what it costs without starts. Run it on this branch and on main to compare the
// "none" rows.
//
//   deno run -A bench/resets_bench.ts            # TFLA-like shape; MLSTM_BENCH_SIZE=small: tiny
//   prints one JSON object (shape, rows of { kernel, pass, starts, ms_median, ms_min })

import { getGpu, GpuTensor } from "../kernels/runtime.ts";
import {
  getMlstmKernel,
  type MlstmOptions,
  Random,
  randomMlstmInputs,
  type Tensor,
} from "../mod.ts";

const small = Deno.env.get("MLSTM_BENCH_SIZE") === "small";
const shape = small
  ? { B: 1, NH: 2, S: 256, DQK: 16, DHV: 16 }
  : { B: 4, NH: 16, S: 4096, DQK: 128, DHV: 256 };
const DOC = small ? 64 : 512;
const SHORT = small ? 16 : 64;
const calls = small ? 3 : 8;
const gpu = await getGpu();
const x = randomMlstmInputs(shape, new Random(0));
const up = (t: Tensor) => GpuTensor.fromTensor(gpu, t);
const xg = { q: up(x.q), k: up(x.k), v: up(x.v), i: up(x.i), f: up(x.f) };
const dh = up(randomMlstmInputs({ ...shape, DQK: shape.DHV }, new Random(1)).v);
const startsEvery = (every: number) =>
  Array.from(
    { length: shape.B },
    () => Array.from({ length: Math.ceil(shape.S / every) - 1 }, (_, j) => (j + 1) * every),
  );
const rows = [];
for (const kernel of ["chunkwise--xl_chunk", "chunkwise--xl_chunk_siging"]) {
  const k = getMlstmKernel(kernel);
  for (const pass of ["fw", "fwbw"] as const) {
    for (const every of [0, DOC, SHORT]) {
      const o: MlstmOptions = {
        chunkSize: 64,
        ...(every ? { documentStarts: startsEvery(every) } : {}),
      };
      const times: number[] = [];
      for (let c = 0; c < calls + 1; c++) {
        const t0 = performance.now();
        const r = await k.forward(xg, o);
        const g = pass === "fwbw" ? await k.backward!(xg, dh, o) : undefined;
        await gpu.device.queue.onSubmittedWorkDone();
        if (c > 0) times.push(performance.now() - t0);
        (r.h as GpuTensor).destroy();
        for (const t of Object.values(g ?? {})) (t as GpuTensor | undefined)?.destroy();
      }
      times.sort((a, b) => a - b);
      rows.push({
        kernel,
        pass,
        starts: every ? `every ${every}` : "none",
        ms_median: times[Math.floor(times.length / 2)],
        ms_min: times[0],
      });
    }
  }
}
console.log(JSON.stringify({ device: gpu.adapterName, shape, chunkSize: 64, rows }, null, 1));
