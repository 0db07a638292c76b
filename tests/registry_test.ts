// The registry's guard that ties a backward pass to its forward (core/registry.ts), on the float64
// references (no GPU needed; the WebGPU side is in backward_test.ts): a backward on the inputs
// object of a forward must use the forward's function-changing options, defaults normalized.

import assert from "node:assert/strict";
import {
  getMlstmKernel,
  type MlstmKernel,
  Random,
  randomMlstmInputs,
  randomTensor,
  registerMlstmKernels,
} from "../mod.ts";

const x0 = () => randomMlstmInputs({ B: 1, NH: 1, S: 6, DQK: 3, DHV: 2 }, new Random(31));
const dh = randomTensor([1, 1, 6, 2], new Random(32));
const msg = (option: string, is: string, was: string, name: string) =>
  `Option ${option} of backward (${is}) differs from the forward's (${was}) on these inputs of ${name}: pass the forward's options`;

Deno.test("registry guard: a reference backward with another eps than its forward is a TypeError", async () => {
  const k = getMlstmKernel("reference--parallel");
  const x = x0();
  await k.forward(x, { eps: 0.01 });
  await assert.rejects(() => k.backward!(x, dh), {
    name: "TypeError",
    message: msg("eps", "1e-6", "0.01", "reference--parallel"),
  });
  await assert.rejects(() => k.backward!(x, dh, { eps: 0 }), {
    name: "TypeError",
    message: msg("eps", "0", "0.01", "reference--parallel"),
  });
  const g = await k.backward!(x, dh, { eps: 0.01, gradient: "normalizer-constant" });
  assert.deepEqual([...g.dq.shape], [1, 1, 6, 3]);
  // The last forward counts.
  await k.forward(x, {});
  await k.backward!(x, dh, { eps: 1e-6 });
});

Deno.test("registry guard: chunkSize (chunkwise forms only) and normalize (sigmoid gate only)", async () => {
  const c = getMlstmKernel("reference--chunkwise");
  const x = x0();
  await c.forward(x, { chunkSize: 4, returnLastStates: true, checkFinite: true });
  await assert.rejects(() => c.backward!(x, dh, { chunkSize: 2 }), {
    name: "TypeError",
    message: msg("chunkSize", "2", "4", "reference--chunkwise"),
  });
  await assert.rejects(() => c.backward!(x, dh), {
    name: "TypeError",
    message: msg("chunkSize", "64", "4", "reference--chunkwise"),
  });
  // Options that do not change the function (returnLastStates, checkFinite, gradient) may differ,
  // and so may normalize for the exponential gate and dtype for a float64 reference.
  await c.backward!(x, dh, { chunkSize: 4, gradient: "normalizer-constant", dtype: "f16" });
  const r = getMlstmKernel("reference--recurrent");
  await r.forward(x, { chunkSize: 4 });
  await r.backward!(x, dh, { chunkSize: 8 });
  const s = getMlstmKernel("reference--parallel_siging");
  await s.forward(x, { normalize: false });
  await assert.rejects(() => s.backward!(x, dh), {
    name: "TypeError",
    message: msg("normalize", "true", "false", "reference--parallel_siging"),
  });
  await s.backward!(x, dh, { normalize: false });
});

Deno.test("registry guard: defaults are normalized before comparing", async () => {
  const c = getMlstmKernel("reference--chunkwise_siging");
  const x = x0();
  await c.forward(x);
  await c.backward!(x, dh, { eps: 1e-6, chunkSize: 64, normalize: true });
  await c.forward(x, { eps: 1e-6, chunkSize: 64, normalize: true });
  await c.backward!(x, dh, {});
});

Deno.test("registry guard: a backward without a forward, or on other inputs or another kernel, recomputes", async () => {
  const x = x0();
  const p = getMlstmKernel("reference--parallel");
  await p.backward!(x, dh, { eps: 0.5 });
  await p.forward(x, { eps: 0.01 });
  // A copy of the inputs object is other inputs.
  await p.backward!({ ...x }, dh, { eps: 0.5 });
  // Another kernel's forward on the same inputs does not bind this kernel's backward.
  await getMlstmKernel("reference--recurrent").backward!(x, dh, { eps: 0.5 });
});

Deno.test("registry guard: a failed forward records nothing, and the kernel's own checks still run", async () => {
  const c = getMlstmKernel("reference--chunkwise");
  const x = x0();
  await assert.rejects(() => c.forward(x, { chunkSize: 0 }), RangeError);
  await c.backward!(x, dh, { chunkSize: 3 });
  await c.forward(x, { chunkSize: 3 });
  await assert.rejects(
    () => c.backward!(x, dh, { chunkSize: 3, gradient: "autograd" as "exact" }),
    { name: "RangeError", message: /^Option gradient must be "exact" or "normalizer-constant"/ },
  );
});

Deno.test("registry guard: registering a kernel from the registry again keeps one guard", async () => {
  const k = getMlstmKernel("reference--parallel");
  registerMlstmKernels([k]);
  assert.equal(getMlstmKernel("reference--parallel"), k);
  // A copy under another name is guarded under that name (and still checks the original's forward
  // through the copied backward).
  const copy: MlstmKernel = { ...k, name: "test--parallel_copy" };
  registerMlstmKernels([copy]);
  const c = getMlstmKernel("test--parallel_copy");
  const x = x0();
  await c.forward(x, { eps: 0.25 });
  await assert.rejects(() => c.backward!(x, dh), {
    name: "TypeError",
    message: msg("eps", "1e-6", "0.25", "test--parallel_copy"),
  });
});
