// Source of 01_quickstart.ipynb (build: deno run -A tools/build_notebooks.ts).
// %% [markdown]
// # Quickstart: three ways to run an mLSTM kernel
//
// The toolkit offers every mLSTM form (recurrent, parallel, chunkwise; exponential or sigmoid input
// gate) under the names of the `mlstm_kernels` Python package. This notebook runs one problem
//
// 1. through the **backend module** (`MlstmBackend`, which picks the kernel per call),
// 2. by **direct import** of a kernel object,
// 3. **by name** through the registry (`getMlstmKernel`),
//
// beside the **float64 reference**, with CPU tensors and (when a WebGPU adapter and the GPU kernels are
// present) GPU tensors, and checks that the routes give the same `h`.
//
// Parameters (environment): `MLSTM_NB_SIZE=small|full`.
// %%
import * as mlstm from "../mod.ts";
import {
  envNumber,
  gpuKernelNames,
  loadGpu,
  nbSize,
  referenceFor,
  referenceKernelNames,
  showTable,
  toDevice,
} from "./_env.ts";
import { line, show, reportFigures, shownFigures } from "./_plot.ts";

const size = nbSize();
const dims = size === "full"
  ? { B: 1, NH: 4, S: 512, DQK: 64, DHV: 64 }
  : { B: 1, NH: 2, S: 64, DQK: 16, DHV: 16 };
const chunkSize = envNumber("MLSTM_NB_CHUNK", size === "full" ? 64 : 16);
console.log(`size=${size}`, dims, `chunkSize=${chunkSize}`);
// The GPU runtime and the WebGPU kernels, when this checkout and machine have them:
const gpu = await loadGpu();
console.log(gpu.gpu ? `WebGPU adapter: ${gpu.adapter}` : `No GPU route: ${gpu.reason}`);
console.log("registered kernels:", mlstm.getAvailableMlstmKernels().join(", "));
// %% [markdown]
// ## Inputs
// `randomMlstmInputs` draws q, k, v ~ N(0, 1) and gate pre-activations (input gate around 0, forget gate
// around 3), as row-major float64 CPU tensors `{ shape, data }`.
// %%
const x = mlstm.randomMlstmInputs(dims, new mlstm.Random(0));
Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.shape.join("×")]));
// %% [markdown]
// ## The float64 reference
// The oracle every kernel is tested against: `reference--recurrent` is the definition (a loop of steps).
// %%
const ref = await mlstm.getMlstmKernel("reference--recurrent").forward(x, { returnLastStates: true });
const hRef = ref.h as mlstm.Tensor;
console.log("h", hRef.shape, "C", ref.last!.c.shape, "n", ref.last!.n.shape, "m", ref.last!.m.shape);
// %% [markdown]
// ## Route 1: the backend module
// `MlstmBackend` mirrors `mlstm_kernels`' `mLSTMBackend`: in `train` mode every call goes to the chunkwise
// kernel; in `inference` mode length-1 inputs go to the step kernel, short ones to the sequence kernel,
// long ones to the chunkwise kernel, and the states are carried between calls. The WebGPU kernels are the
// defaults; where they are not registered in this checkout we name the float64 references.
// %%
const gpuNames = gpuKernelNames();
const pick = (gpu: string, fallback: string) => (gpuNames.includes(gpu) ? gpu : fallback);
const backendConfig = {
  chunkwiseKernel: pick("chunkwise--xl_chunk", "reference--chunkwise"),
  sequenceKernel: pick("recurrent--sequence", "reference--recurrent"),
  stepKernel: pick("step--fused", "reference--recurrent"),
  chunkSize,
};
const backend = new mlstm.MlstmBackend({ ...backendConfig, mode: "train" });
const viaBackend = await backend.forward(x);
console.log("backend kernels:", backendConfig, "route:", backend.lastRoute);
// %% [markdown]
// ## Route 2: direct import of a kernel
// Each kernel is also a plain object exported by its module. The references live in `reference/`
// (`referenceKernels`); the WebGPU kernels in `kernels/<form>/…` export theirs the same way.
// %%
import { referenceKernels } from "../reference/kernels.ts";
const chunkwiseRef = referenceKernels.find((k) => k.name === "reference--chunkwise")!;
const viaImport = await chunkwiseRef.forward(x, { chunkSize });
// the float64 functions themselves are exported too:
const viaFunction = await mlstm.mlstmParallelReference(x);
console.log(chunkwiseRef.name, chunkwiseRef.backend, chunkwiseRef.form, chunkwiseRef.inputGate);
// %% [markdown]
// ## Route 3: by name through the registry
// `getMlstmKernel(name)` for any name from `getAvailableMlstmKernels()`. This runs every registered
// sequence kernel (the WebGPU kernels too, when there is an adapter) and compares each with the float64
// reference of its form.
// %%
const rows: Record<string, unknown>[] = [];
const hs = new Map<string, ArrayLike<number>>();
for (const name of [...referenceKernelNames(), ...gpuKernelNames()]) {
  const k = mlstm.getMlstmKernel(name);
  if (k.form === "step") continue; // one token at a time: see the backend's inference mode
  const t0 = performance.now();
  const out = await k.forward(x, { chunkSize });
  const h = "data" in out.h ? out.h : await out.h.read();
  const ms = performance.now() - t0;
  hs.set(name, h.data);
  const base = await mlstm.getMlstmKernel(referenceFor(name)).forward(x, { chunkSize });
  const d = mlstm.deviation(h.data, (base.h as mlstm.Tensor).data);
  rows.push({ kernel: name, backend: k.backend, baseline: referenceFor(name), rel_l2: d.relL2, max_abs: d.maxAbs, ms });
}
await showTable(rows);
// %% [markdown]
// ## CPU and GPU tensors
// Kernels given CPU tensors return CPU tensors; given device tensors (`GpuTensor` of the GPU runtime)
// they return device tensors, which stay on the GPU until `read()` (one round trip, ~11 ms in Deno).
// The float64 references accept device tensors too (they read them back).
// %%
if (gpu.gpu && gpuNames.length > 0) {
  const name = gpuNames.find((n) => n.startsWith("chunkwise--xl_chunk")) ?? gpuNames[0];
  const k = mlstm.getMlstmKernel(name);
  const dx = Object.fromEntries(Object.entries(x).map(([key, t]) => [key, toDevice(gpu, t as mlstm.Tensor)]));
  // deno-lint-ignore no-explicit-any
  const out = await k.forward(dx as any, { chunkSize });
  const onGpu = out.h as mlstm.DeviceTensor;
  console.log(`${name}: h on the device, dtype ${onGpu.dtype}, shape ${onGpu.shape}`);
  const back = await onGpu.read();
  console.log("rel L2 vs float64 reference:", mlstm.deviation(back.data, hRef.data).relL2);
} else {
  console.log("No GPU tensors in this run:", gpu.reason ?? "no WebGPU kernels registered");
}
// %% [markdown]
// ## Do the routes agree?
// The backend's chunkwise route, the directly imported chunkwise kernel and the recurrent reference must
// give the same `h` (the parallel form differs from the others by ~1e-9 relative through the `eps·exp(m)`
// term, SPEC §1).
// %%
const agree = [
  ["backend", (viaBackend.h as mlstm.Tensor).data],
  ["direct import (chunkwise)", (viaImport.h as mlstm.Tensor).data],
  ["parallel function", (viaFunction.h as mlstm.Tensor).data],
] as const;
for (const [label, data] of agree) {
  const d = mlstm.deviation(data, hRef.data);
  console.log(`${label.padEnd(28)} rel L2 vs recurrent reference ${d.relL2.toExponential(2)}`);
}
const tol = backendConfig.chunkwiseKernel.startsWith("reference") ? 1e-10 : 1e-4;
if (!(mlstm.deviation((viaBackend.h as mlstm.Tensor).data, hRef.data).relL2 < tol)) {
  throw new Error("The backend route and the reference disagree");
}
if (!(mlstm.deviation((viaImport.h as mlstm.Tensor).data, hRef.data).relL2 < 1e-10)) {
  throw new Error("The imported chunkwise reference and the recurrent reference disagree");
}
// %% [markdown]
// ## A look at h
// The first channels of head 0 over time, from the reference and from each kernel run above.
// %%
const S = dims.S, DHV = dims.DHV;
const t = Array.from({ length: S }, (_, j) => j);
const channel = (data: ArrayLike<number>, c: number) => t.map((s) => data[s * DHV + c]);
const traces = [...hs.entries()].flatMap(([name, data]) =>
  [0, 1].map((c) => line(t, channel(data, c), `${name} h[:, ${c}]`, { mode: "lines" }))
);
await show({
  data: traces,
  layout: { title: { text: "h of head 0, channels 0 and 1, every route" }, xaxis: { title: { text: "t" } }, height: 420 },
});
// %%
// Guard: Deno's kernel fails silently on unresolvable npm imports, so check what was produced.
if (shownFigures().length < 1) throw new Error("No figure was produced");
await reportFigures();
