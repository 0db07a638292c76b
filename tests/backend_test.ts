// The backend routes calls by mode and length (both input gates alike), carries states across
// inference calls, validates its config, and runs the GPU kernels like one float64 call.

import assert from "node:assert/strict";
import { MlstmBackend, type MlstmBackendConfig } from "../kernels/backend.ts";
import {
  getAvailableMlstmKernels,
  getMlstmKernel,
  type MlstmInputs,
  type MlstmKernel,
  type MlstmOptions,
  randomMlstmInputs,
  registerMlstmKernels,
  sliceMlstmInputs,
  sliceSequence,
  type Tensor,
  type TensorLike,
} from "../mod.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { dimsOf, roundInputs } from "./_gpu_checks.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

// Spies around the references record which kernel each call reached, with its options.
const calls: { name: string; pass: "forward" | "backward"; options?: MlstmOptions }[] = [];
const names = () => calls.map((c) => c.name);
const spy = (name: string, target: string, withBackward = true): MlstmKernel => {
  const { backward, ...k } = getMlstmKernel(target);
  return {
    ...k,
    name,
    forward: (x: MlstmInputs, options?: MlstmOptions) => {
      calls.push({ name, pass: "forward", options });
      return k.forward(x, options);
    },
    ...(withBackward && backward
      ? {
        backward: (x: MlstmInputs, dh: TensorLike, options?: MlstmOptions) => {
          calls.push({ name, pass: "backward", options });
          return backward(x, dh, options);
        },
      }
      : {}),
  };
};
registerMlstmKernels([
  spy("test--chunkwise", "reference--chunkwise"),
  spy("test--sequence", "reference--recurrent"),
  spy("test--step", "reference--recurrent"),
  spy("test--chunkwise_siging", "reference--chunkwise_siging"),
  spy("test--sequence_siging", "reference--recurrent_siging"),
  spy("test--step_siging", "reference--recurrent_siging"),
  spy("test--chunkwise_nobackward", "reference--chunkwise", false),
]);
const config = {
  chunkwiseKernel: "test--chunkwise",
  sequenceKernel: "test--sequence",
  stepKernel: "test--step",
  chunkSize: 8,
};
const sigConfig = {
  chunkwiseKernel: "test--chunkwise_siging",
  sequenceKernel: "test--sequence_siging",
  stepKernel: "test--step_siging",
  chunkSize: 8,
};

const part = sliceMlstmInputs;

/** Steps of (B, NH, S, ...) tensors joined along S. */
function concatSequence(ts: Tensor[]): Tensor {
  const [B, NH] = ts[0].shape;
  const inner = ts[0].shape.slice(3).reduce((a, b) => a * b, 1);
  const S = ts.reduce((s, t) => s + t.shape[2], 0);
  const data = new Float64Array(B * NH * S * inner);
  for (let bh = 0; bh < B * NH; bh++) {
    let at = bh * S * inner;
    for (const t of ts) {
      const n = t.shape[2] * inner;
      data.set(t.data.subarray(bh * n, (bh + 1) * n), at);
      at += n;
    }
  }
  return { shape: [B, NH, S, ...ts[0].shape.slice(3)], data };
}

/** Runs the pieces [a, b) through one inference backend: h of each piece and the routes taken. */
async function runPieces(backend: MlstmBackend, x: MlstmInputs<Tensor>, pieces: number[][]) {
  const hs: Tensor[] = [];
  const routes: (string | undefined)[] = [];
  for (const [a, b] of pieces) {
    hs.push((await backend.forward(part(x, a, b))).h as Tensor);
    routes.push(backend.lastRoute);
  }
  return { hs, routes };
}

const pieces = [[0, 20], [20, 21], [21, 26], [26, 27], [27, 30]];
const pieceRoutes = ["chunkwise", "step", "sequence", "step", "sequence"];

for (
  const [gate, cfg, ref] of [
    ["exp", config, "reference--recurrent"],
    ["sig", sigConfig, "reference--recurrent_siging"],
  ] as const
) {
  Deno.test(`MlstmBackend() inference routes by length and carries the states (${gate} gate)`, async () => {
    const backend = new MlstmBackend({ ...cfg, mode: "inference" });
    const x = randomMlstmInputs({ B: 2, NH: 2, S: 30, DQK: 4, DHV: 6 }, rngOf(3));
    calls.length = 0;
    const { hs, routes } = await runPieces(backend, x, pieces);
    assert.deepEqual(routes, pieceRoutes);
    assert.deepEqual(names(), [
      cfg.chunkwiseKernel,
      cfg.stepKernel,
      cfg.sequenceKernel,
      cfg.stepKernel,
      cfg.sequenceKernel,
    ]);
    const whole = await getMlstmKernel(ref).forward(x, { returnLastStates: true });
    pieces.forEach(([a, b], j) => {
      assertDeviation(
        {
          test: `backend state carrying (${gate})`,
          kernel: "backend(inference)",
          baseline: ref,
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
}

Deno.test("MlstmBackend() train mode always uses the chunkwise kernel and has a backward", async () => {
  const backend = new MlstmBackend({ ...config, mode: "train", returnLastStates: false });
  calls.length = 0;
  const x = randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, rngOf(4));
  const out = await backend.forward(x);
  assert.equal(out.last, undefined);
  await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 4, DHV: 4 }, rngOf(5)));
  assert.deepEqual(names(), ["test--chunkwise", "test--chunkwise"]);
  const g = await backend.backward(x, out.h);
  assert.deepEqual(g.dq.shape, [1, 1, 1, 4]);
});

Deno.test("MlstmBackend() backward runs with the options of the forward pass", async () => {
  // normalize: false is for the sigmoid gate only (the exp-gate config is rejected otherwise).
  for (
    const [cfg, dtype, normalize] of [[config, "f32", true], [sigConfig, "f16", false]] as const
  ) {
    const backend = new MlstmBackend({
      ...cfg,
      chunkSize: 3,
      eps: 1e-4,
      normalize,
      autocastDtype: dtype,
      returnLastStates: false,
    });
    calls.length = 0;
    const x = randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 4, DHV: 4 }, rngOf(8));
    const { h } = await backend.forward(x);
    await backend.backward(x, h);
    assert.deepEqual(calls.map((c) => [c.name, c.pass]), [
      [cfg.chunkwiseKernel, "forward"],
      [cfg.chunkwiseKernel, "backward"],
    ]);
    const [fw, bw] = calls.map((c) => c.options);
    const want = { chunkSize: 3, eps: 1e-4, normalize, dtype, returnLastStates: false };
    assert.deepEqual(fw, want);
    assert.deepEqual(bw, want);
  }
});

Deno.test("MlstmBackend() sigmoid-gate kernels default to the sigmoid twins and route like exp ones", () => {
  const exp = new MlstmBackend({ mode: "inference", chunkSize: 16 });
  const sig = new MlstmBackend({
    mode: "inference",
    chunkwiseKernel: "chunkwise--xl_chunk_siging",
    chunkSize: 16,
  });
  assert.deepEqual(
    [exp.config.chunkwiseKernel, exp.config.sequenceKernel, exp.config.stepKernel],
    ["chunkwise--xl_chunk", "recurrent--sequence", "step--fused"],
  );
  assert.deepEqual(
    [sig.config.chunkwiseKernel, sig.config.sequenceKernel, sig.config.stepKernel],
    ["chunkwise--xl_chunk_siging", "recurrent--sequence_siging", "step--fused_siging"],
  );
  for (const [S, route] of [[1, "step"], [2, "sequence"], [15, "sequence"], [16, "chunkwise"]]) {
    const e = exp.route(S as number), s = sig.route(S as number);
    assert.deepEqual([e.route, s.route], [route, route]);
    assert.equal(s.kernel.name, sig.config[`${route as "step"}Kernel`]);
    assert.equal(s.kernel.inputGate, "sig");
  }
  // A kernel given explicitly is kept; the other one still follows the gate.
  const resident = new MlstmBackend({
    chunkwiseKernel: "chunkwise--xl_chunk_siging",
    sequenceKernel: "recurrent--sequence_resident_siging",
  });
  assert.equal(resident.config.sequenceKernel, "recurrent--sequence_resident_siging");
  assert.equal(resident.config.stepKernel, "step--fused_siging");
  // Train mode sends every call to the chunkwise kernel, either gate.
  assert.equal(new MlstmBackend({ ...sigConfig }).route(1).route, "chunkwise");
});

Deno.test("MlstmBackend() rejects an invalid config, naming the field, the value and what is expected", () => {
  const available = getAvailableMlstmKernels().join(", ");
  const cases: [MlstmBackendConfig, ErrorConstructor, string][] = [
    [
      { mode: "inferance" as "inference" },
      RangeError,
      'Config mode must be "train" or "inference", received "inferance"',
    ],
    [{ chunkSize: 0 }, RangeError, "Config chunkSize must be a positive integer, received 0"],
    [{ chunkSize: 2.5 }, RangeError, "Config chunkSize must be a positive integer, received 2.5"],
    [
      { chunkSize: "64" as unknown as number },
      RangeError,
      'Config chunkSize must be a positive integer, received "64"',
    ],
    [
      { autocastDtype: "f64" as "f32" },
      RangeError,
      'Config autocastDtype must be "f32" or "f16", received "f64"',
    ],
    [{ eps: -1 }, RangeError, "Config eps must be a finite number >= 0, received -1"],
    [{ eps: NaN }, RangeError, "Config eps must be a finite number >= 0, received NaN"],
    [
      { returnLastStates: "yes" as unknown as boolean },
      TypeError,
      'Config returnLastStates must be a boolean, received "yes"',
    ],
    [
      { normalize: 1 as unknown as boolean },
      TypeError,
      "Config normalize must be a boolean, received 1",
    ],
    [
      { chunk_size: 32 } as MlstmBackendConfig,
      RangeError,
      'Config has no field "chunk_size" (did you mean chunkSize?); the fields are chunkwiseKernel, sequenceKernel, stepKernel, chunkSize, returnLastStates, mode, autocastDtype, eps, normalize',
    ],
    [
      { normalize: false },
      TypeError,
      'Config normalize false is for sigmoid-gate kernels only: "chunkwise--xl_chunk" has the exponential input gate, which always normalizes',
    ],
    ...(["chunkwiseKernel", "sequenceKernel", "stepKernel"] as const).map((
      field,
    ): [MlstmBackendConfig, ErrorConstructor, string] => [
      { [field]: "nope" },
      RangeError,
      `Config ${field} must be a registered mLSTM kernel name, received "nope"; available: ${available}`,
    ]),
    [
      { chunkwiseKernel: "reference--parallel" },
      TypeError,
      'Config chunkwiseKernel must be a kernel that takes and returns states, received "reference--parallel" (a parallel kernel without states)',
    ],
    [
      { sequenceKernel: "step--fused" },
      TypeError,
      'Config sequenceKernel must be a kernel for any sequence length, received "step--fused" (a step kernel: S = 1 only)',
    ],
    [
      { chunkwiseKernel: "chunkwise--xl_chunk_siging", stepKernel: "step--fused" },
      TypeError,
      'Config kernels must share one input gate, received chunkwiseKernel "chunkwise--xl_chunk_siging" (sig), sequenceKernel "recurrent--sequence_siging" (sig), stepKernel "step--fused" (exp)',
    ],
    [
      { sequenceKernel: "recurrent--sequence_siging" },
      TypeError,
      'Config kernels must share one input gate, received chunkwiseKernel "chunkwise--xl_chunk" (exp), sequenceKernel "recurrent--sequence_siging" (sig), stepKernel "step--fused" (exp)',
    ],
  ];
  for (const [bad, type, message] of cases) {
    assert.throws(() => new MlstmBackend(bad), { name: type.name, message }, JSON.stringify(bad));
  }
  assert.throws(() => new MlstmBackend(null as unknown as MlstmBackendConfig), {
    name: "TypeError",
    message: "Config must be an object, received null",
  });
  // A field given as undefined takes its default; the config is frozen after validation.
  const b = new MlstmBackend({ mode: undefined, chunkSize: undefined });
  assert.deepEqual([b.config.mode, b.config.chunkSize], ["train", 64]);
  assert.ok(Object.isFrozen(b.config));
});

Deno.test("MlstmBackend() needs a backward pass in train mode and mode train for backward", async () => {
  const message =
    'Config chunkwiseKernel "test--chunkwise_nobackward" has no backward pass; mode "train" needs one (mode "inference" does not)';
  assert.throws(
    () => new MlstmBackend({ ...config, chunkwiseKernel: "test--chunkwise_nobackward" }),
    { name: "TypeError", message },
  );
  const inference = new MlstmBackend({
    ...config,
    chunkwiseKernel: "test--chunkwise_nobackward",
    mode: "inference",
  });
  const x = randomMlstmInputs({ B: 1, NH: 1, S: 9, DQK: 4, DHV: 4 }, rngOf(9));
  const { h } = await inference.forward(x);
  assert.throws(() => inference.backward(x, h), {
    name: "TypeError",
    message: 'Backward needs mode "train"; this backend is in "inference" mode',
  });
});

// The default GPU kernels over pieces of one sequence (chunkwise, step, sequence, chunkwise) against
// one float64 call on the inputs as stored. Tolerances: relative L2 1e-5 (f32) and 2e-3 (f16: h is
// stored in f16) for h; the states are f32 in both and get 1e-5.
Deno.test({
  name:
    "MlstmBackend() default GPU kernels in inference over pieces [100, 1, 29, 70] equal one float64 call (exp/sig, f32/f16)",
  ignore,
  fn: async (t) => {
    const gpu = await needGpu();
    const lengths = [100, 1, 29, 70];
    const cuts = lengths.map((_, j) => lengths.slice(0, j).reduce((a, b) => a + b, 0));
    const gpuPieces = cuts.map((a, j) => [a, a + lengths[j]]);
    const chunkSize = 32;
    const TOL = { f32: 1e-5, f16: 2e-3 };
    let seed = 40;
    for (const gate of ["exp", "sig"] as const) {
      for (const dtype of ["f32", "f16"] as const) {
        await t.step(`${gate} gate, ${dtype}`, async () => {
          const backend = new MlstmBackend({
            mode: "inference",
            chunkSize,
            autocastDtype: dtype,
            ...(gate === "sig" ? { chunkwiseKernel: "chunkwise--xl_chunk_siging" } : {}),
          });
          const x = randomMlstmInputs(
            { B: 2, NH: 2, S: 200, DQK: 16, DHV: 24 },
            rngOf(seed++),
          );
          const { hs, routes } = await runPieces(backend, x, gpuPieces);
          assert.deepEqual(routes, ["chunkwise", "step", "sequence", "chunkwise"]);
          const refName = gate === "exp" ? "reference--recurrent" : "reference--recurrent_siging";
          const ref = await getMlstmKernel(refName).forward(roundInputs(x, dtype), {
            returnLastStates: true,
            eps: backend.config.eps,
            normalize: backend.config.normalize,
          });
          const base = {
            test: "backend inference on the GPU kernels",
            kernel:
              `backend(${backend.config.chunkwiseKernel} + ${backend.config.sequenceKernel} + ${backend.config.stepKernel})`,
            baseline: `${refName} one call (${dtype}-rounded inputs)`,
            dims: dimsOf(x),
            chunkSize,
            dtype,
          };
          assertDeviation(
            { ...base, output: "h (pieces concatenated)", tolerance: TOL[dtype] },
            concatSequence(hs).data,
            (ref.h as Tensor).data,
          );
          for (const s of ["c", "n", "m"] as const) {
            assertDeviation(
              { ...base, output: `carried ${s}`, tolerance: TOL.f32 },
              (backend.state![s] as Tensor).data,
              (ref.last![s] as Tensor).data,
            );
          }
          assertNoUncapturedErrors(gpu);
        });
      }
    }
  },
});
