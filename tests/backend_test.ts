// The backend routes calls by mode and length and carries states across inference calls.

import assert from "node:assert/strict";
import { MlstmBackend } from "../kernels/backend.ts";
import {
  getMlstmKernel,
  type MlstmInputs,
  Random,
  randomMlstmInputs,
  registerMlstmKernels,
  sliceMlstmInputs,
  sliceSequence,
  type Tensor,
} from "../mod.ts";
import { assertDeviation } from "./_deviation_log.ts";

// Spies around the references record which kernel each call reached.
const calls: string[] = [];
const spy = (name: string, target: string) => {
  const k = getMlstmKernel(target);
  return {
    ...k,
    name,
    forward: (x: MlstmInputs, o?: object) => {
      calls.push(name);
      return k.forward(x, o);
    },
  };
};
registerMlstmKernels([
  spy("test--chunkwise", "reference--chunkwise"),
  spy("test--sequence", "reference--recurrent"),
  spy("test--step", "reference--recurrent"),
  spy("test--chunkwise_siging", "reference--chunkwise_siging"),
]);
const config = {
  chunkwiseKernel: "test--chunkwise",
  sequenceKernel: "test--sequence",
  stepKernel: "test--step",
  chunkSize: 8,
};

const part = sliceMlstmInputs;

Deno.test("MlstmBackend() inference routes by length and carries the states", async () => {
  const backend = new MlstmBackend({ ...config, mode: "inference" });
  const x = randomMlstmInputs({ B: 2, NH: 2, S: 30, DQK: 4, DHV: 6 }, new Random(3));
  calls.length = 0;
  const pieces = [[0, 20], [20, 21], [21, 26], [26, 27], [27, 30]];
  const hs: Tensor[] = [];
  for (const [a, b] of pieces) hs.push((await backend.forward(part(x, a, b))).h as Tensor);
  assert.deepEqual(calls, [
    "test--chunkwise",
    "test--step",
    "test--sequence",
    "test--step",
    "test--sequence",
  ]);
  const whole = await getMlstmKernel("reference--recurrent").forward(x, { returnLastStates: true });
  pieces.forEach(([a, b], j) => {
    assertDeviation(
      {
        test: "backend state carrying",
        kernel: "backend(inference)",
        baseline: "reference--recurrent",
        output: `h[${a}:${b}]`,
        dims: { B: 2, NH: 2, S: 30, DQK: 4, DHV: 6 },
        chunkSize: 8,
        dtype: "f64",
        tolerance: 1e-12,
      },
      hs[j].data,
      sliceSequence(whole.h as Tensor, a, b).data,
    );
  });
  const c = backend.state!.c as Tensor;
  assert.ok(c.data.every((y, j) => Math.abs(y - (whole.last!.c as Tensor).data[j]) < 1e-12));
  backend.resetState();
  assert.equal(backend.state, undefined);
});

Deno.test("MlstmBackend() train mode always uses the chunkwise kernel and has a backward", async () => {
  const backend = new MlstmBackend({ ...config, mode: "train", returnLastStates: false });
  calls.length = 0;
  const x = randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, new Random(4));
  const out = await backend.forward(x);
  assert.equal(out.last, undefined);
  await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 4, DHV: 4 }, new Random(5)));
  assert.deepEqual(calls, ["test--chunkwise", "test--chunkwise"]);
  const g = await backend.backward(x, out.h);
  assert.deepEqual(g.dq.shape, [1, 1, 1, 4]);
});

Deno.test("MlstmBackend() sends every sigmoid-gate call to its chunkwise kernel", async () => {
  const backend = new MlstmBackend({
    ...config,
    chunkwiseKernel: "test--chunkwise_siging",
    mode: "inference",
  });
  calls.length = 0;
  await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, new Random(6)));
  await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 4, DHV: 4 }, new Random(7)));
  assert.deepEqual(calls, ["test--chunkwise_siging", "test--chunkwise_siging"]);
});

Deno.test("MlstmBackend() rejects unknown kernels and kernels without states", () => {
  assert.throws(() => new MlstmBackend({ chunkwiseKernel: "nope" }), /Unknown mLSTM kernel "nope"/);
  assert.throws(
    () => new MlstmBackend({ chunkwiseKernel: "reference--parallel" }),
    /takes no states/,
  );
});
