// One validation of options and inputs, the same for every kernel (references, WebGPU kernels,
// step kernels, backward passes, forwardBackward, the backend): unknown keys named with the nearest
// valid one, strict types, normalize: false rejected by the exponential gate, zero dimensions
// named; GpuTensor data and buffer sizes; checkFinite naming dh and values beyond f32/f16 before
// upload; f32 gradients from f16 storage. Issue #11, parts 2 and 3.

import assert from "node:assert/strict";
import {
  forwardBackward,
  getAvailableMlstmKernels,
  getGpu,
  getMlstmKernel,
  GpuTensor,
  MlstmBackend,
  type MlstmInputs,
  mlstmStepReference,
  mlstmStepWebGpu,
  Random,
  randomMlstmInputs,
  randomTensor,
  type Tensor,
} from "../mod.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { roundInputs, uploadInputs } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();
const NAMES = getAvailableMlstmKernels();

/** Inputs every kernel takes: S = 1 (the step kernels' length), states for those that take them. */
function inputsFor(name: string, B = 1, NH = 2): MlstmInputs<Tensor> {
  const k = getMlstmKernel(name);
  return randomMlstmInputs(
    { B, NH, S: 1, DQK: 4, DHV: 4, withInitialStates: k.supportsStates },
    new Random(1),
  );
}

/** The forward and, where there is one, the backward of a kernel, for the same arguments. */
function passes(name: string, x: MlstmInputs, o: object): [string, () => Promise<unknown>][] {
  const k = getMlstmKernel(name);
  const out: [string, () => Promise<unknown>][] = [[`${name} forward`, () => k.forward(x, o)]];
  if (k.backward) {
    const dh = randomTensor([...x.v.shape], new Random(2));
    out.push([`${name} backward`, () => k.backward!(x, dh, o)]);
  }
  return out;
}

Deno.test("every kernel names an unknown option and the nearest valid one, forward and backward", async (t) => {
  const cases: [object, string | RegExp][] = [
    [{ chunk_size: 16 }, "Unknown option chunk_size: did you mean chunkSize?"],
    [{ returnLastState: true }, "Unknown option returnLastState: did you mean returnLastStates?"],
    [{ check_finite: true }, "Unknown option check_finite: did you mean checkFinite?"],
    [{ normalise: false }, "Unknown option normalise: did you mean normalize?"],
    // Far from every name: all are listed (a kernel's own options after these).
    [
      { doc_starts: [[]] },
      new RegExp(
        "^Unknown option doc_starts: the options are returnLastStates, eps, chunkSize, " +
          "normalize, checkFinite, gradient, dtype, documentStarts",
      ),
    ],
  ];
  for (const name of NAMES) {
    await t.step(name, async () => {
      const x = inputsFor(name);
      for (const [o, message] of cases) {
        for (const [what, run] of passes(name, x, o)) {
          await assert.rejects(run, { name: "TypeError", message }, what);
        }
      }
    });
  }
});

Deno.test("every kernel checks option types strictly: no coercion, dtype f32 or f16", async (t) => {
  const cases: [object, string, string][] = [
    [{ normalize: "false" }, "TypeError", 'Option normalize must be a boolean, received "false"'],
    [{ normalize: 0 }, "TypeError", "Option normalize must be a boolean, received 0"],
    [{ returnLastStates: 1 }, "TypeError", "Option returnLastStates must be a boolean, received 1"],
    [{ checkFinite: "yes" }, "TypeError", 'Option checkFinite must be a boolean, received "yes"'],
    [{ dtype: "float16" }, "RangeError", 'Option dtype must be "f32" or "f16", received "float16"'],
    [{ dtype: 16 }, "TypeError", 'Option dtype must be "f32" or "f16", received 16'],
    [
      { chunkSize: "64" },
      "TypeError",
      'Option chunkSize must be a positive integer, received "64"',
    ],
    [{ chunkSize: 0 }, "RangeError", "Option chunkSize must be a positive integer, received 0"],
    [{ eps: "1e-6" }, "TypeError", 'Option eps must be a finite number >= 0, received "1e-6"'],
    [
      { gradient: "approx" },
      "RangeError",
      'Option gradient must be "exact" or "normalizer-constant", received "approx"',
    ],
    [
      { documentStarts: [3] },
      "TypeError",
      "Option documentStarts[0] must be an array of positions 0 < t < S = 1, received 3",
    ],
  ];
  for (const name of NAMES) {
    await t.step(name, async () => {
      const x = inputsFor(name);
      for (const [o, type, message] of cases) {
        for (const [what, run] of passes(name, x, o)) {
          await assert.rejects(run, { name: type, message }, `${what} ${JSON.stringify(o)}`);
        }
      }
    });
  }
});

Deno.test("every kernel names an unknown input and the nearest valid one", async (t) => {
  for (const name of NAMES) {
    await t.step(name, async () => {
      const x = inputsFor(name);
      const c = randomTensor([1, 2, 4, 4], new Random(3));
      for (
        const [key, near] of [["c_initial", "cInitial"], ["n_initial", "nInitial"], [
          "m_initial",
          "mInitial",
        ], ["Q", "q"]]
      ) {
        const bad = { ...x, [key]: c } as MlstmInputs;
        for (const [what, run] of passes(name, bad, {})) {
          await assert.rejects(
            run,
            { name: "TypeError", message: `Unknown input ${key}: did you mean ${near}?` },
            what,
          );
        }
      }
    });
  }
});

Deno.test("the exponential-gate kernels reject normalize: false, forward and backward alike", async (t) => {
  for (const name of NAMES.filter((n) => getMlstmKernel(n).inputGate === "exp")) {
    await t.step(name, async () => {
      for (const [what, run] of passes(name, inputsFor(name), { normalize: false })) {
        await assert.rejects(run, {
          name: "TypeError",
          message:
            /always normalizes( \(exponential input gate\))?: drop normalize: false, which only the sigmoid-gate kernels take$/,
        }, what);
      }
    });
  }
});

Deno.test("every kernel names a zero dimension (B = 0, NH = 0)", async (t) => {
  for (const name of NAMES) {
    await t.step(name, async () => {
      for (const [B, NH, dim] of [[0, 2, "B"], [1, 0, "NH"]] as const) {
        const x = inputsFor(name, B, NH);
        for (const [what, run] of passes(name, x, {})) {
          await assert.rejects(run, {
            name: "RangeError",
            message: `Argument q must have ${dim} >= 1, received shape (${B}, ${NH}, 1, 4)`,
          }, what);
        }
      }
    });
  }
});

Deno.test("step functions, forwardBackward and the backend share the validation", async () => {
  const s = randomMlstmInputs(
    { B: 1, NH: 1, S: 1, DQK: 4, DHV: 4, withInitialStates: true },
    new Random(4),
  );
  const step = {
    q: { shape: [1, 1, 4], data: s.q.data },
    k: { shape: [1, 1, 4], data: s.k.data },
    v: { shape: [1, 1, 4], data: s.v.data },
    i: { shape: [1, 1], data: s.i.data },
    f: { shape: [1, 1], data: s.f.data },
    c: s.cInitial!,
    n: { shape: [1, 1, 4], data: s.nInitial!.data },
    m: s.mInitial!,
  };
  const badKey = { ...step, C: step.c } as typeof step;
  assert.throws(() => mlstmStepReference(badKey), { message: "Unknown input C: did you mean c?" });
  await assert.rejects(() => mlstmStepWebGpu(badKey), {
    message: "Unknown input C: did you mean c?",
  });
  assert.throws(() => mlstmStepReference(step, { eps_: 1 } as never), {
    message: "Unknown option eps_: did you mean eps?",
  });
  await assert.rejects(() => mlstmStepWebGpu(step, { normalize: false }, "exp"), {
    message: /^The exponential input gate always normalizes/,
  });
  const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 4, DHV: 4 }, new Random(5));
  const dh = randomTensor([1, 1, 3, 4], new Random(6));
  await assert.rejects(
    () => forwardBackward("reference--parallel", x, dh, { chunk_size: 2 } as never),
    {
      message: "Unknown option chunk_size: did you mean chunkSize?",
    },
  );
  const backend = new MlstmBackend({ chunkwiseKernel: "reference--chunkwise" });
  await assert.rejects(() => backend.forward({ ...x, c_initial: x.q } as never), {
    message: "Unknown input c_initial: did you mean cInitial?",
  });
  assert.throws(() => new MlstmBackend({ normalize: false }), {
    name: "TypeError",
    message: /^Config normalize false is for sigmoid-gate kernels only/,
  });
});

Deno.test("checkFinite names NaN in dh, not an output, in every backward", async (t) => {
  const names = NAMES.filter((n) =>
    getMlstmKernel(n).backward && getMlstmKernel(n).form !== "step"
  );
  for (const name of names) {
    await t.step(name, async () => {
      const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 4, DHV: 4 }, new Random(7));
      const dh = randomTensor([1, 1, 3, 4], new Random(8));
      dh.data[5] = NaN;
      const message = "Argument dh (1, 1, 3, 4) holds a non-finite value NaN at flat index 5";
      await assert.rejects(() => getMlstmKernel(name).backward!(x, dh, { checkFinite: true }), {
        message,
      });
      await assert.rejects(() => forwardBackward(name, x, dh, { checkFinite: true }), { message });
    });
  }
});

Deno.test({
  name: "checkFinite names device dh holding NaN, and values beyond f32 or f16 before upload",
  ignore,
  async fn() {
    const gpu = await needGpu();
    const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 4, DHV: 4 }, new Random(9));
    const dh = randomTensor([1, 1, 3, 4], new Random(10));
    dh.data[2] = NaN;
    const dev = uploadInputs(gpu, x);
    const dhG = GpuTensor.fromTensor(gpu, dh);
    for (const name of ["parallel--stablef", "chunkwise--xl_chunk"]) {
      await assert.rejects(() => getMlstmKernel(name).backward!(dev, dhG, { checkFinite: true }), {
        message: "Argument dh (1, 1, 3, 4) holds a non-finite value NaN at flat index 2",
      });
      await assert.rejects(() => forwardBackward(name, dev, dhG, { checkFinite: true }), {
        message: "Argument dh (1, 1, 3, 4) holds a non-finite value NaN at flat index 2",
      });
    }
    for (const t of [...Object.values(dev), dhG]) t.destroy();
    // Finite in float64, Infinity in f32: named before upload by every WebGPU kernel.
    const big = randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, new Random(11));
    big.i.data[0] = 1e39;
    const f32Message = "Argument i (1, 1, 1) holds 1e+39 at flat index 0, beyond the f32 range " +
      "(|x| <= 3.4028234663852886e+38) of its device storage: it would become Infinity on upload";
    for (const name of NAMES.filter((n) => getMlstmKernel(n).backend === "webgpu")) {
      await assert.rejects(
        () => getMlstmKernel(name).forward(big, { checkFinite: true }),
        { message: f32Message },
        name,
      );
    }
    // The float64 references compute with it (finite there).
    const ref = await getMlstmKernel("reference--recurrent").forward(big, { checkFinite: true });
    assert.ok((ref.h as Tensor).data.every(Number.isFinite));
    // f16 storage of q, k, v: 65504 is the largest finite value.
    const half = randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, new Random(12));
    half.k.data[3] = -7e4;
    await assert.rejects(
      () =>
        getMlstmKernel("recurrent--sequence").forward(half, { checkFinite: true, dtype: "f16" }),
      {
        message: "Argument k (1, 1, 1, 4) holds -70000 at flat index 3, beyond the f16 range " +
          "(|x| <= 65504) of its device storage: it would become -Infinity on upload",
      },
    );
    const dhBig = randomTensor([1, 1, 1, 4], new Random(13));
    dhBig.data[1] = 1e5;
    await assert.rejects(
      () =>
        getMlstmKernel("parallel--stablef").backward!(half, dhBig, {
          checkFinite: true,
          dtype: "f16",
        }),
      { message: /^Argument (k|dh) .* beyond the f16 range/ },
    );
    half.k.data[3] = 1;
    await assert.rejects(
      () =>
        getMlstmKernel("parallel--stablef").backward!(half, dhBig, {
          checkFinite: true,
          dtype: "f16",
        }),
      { message: /^Argument dh \(1, 1, 1, 4\) holds 100000 at flat index 1, beyond the f16 range/ },
    );
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "GpuTensor checks data length against the shape, and the buffer size",
  ignore,
  async fn() {
    const gpu = await getGpu();
    assert.throws(
      () => GpuTensor.fromTensor(gpu, { shape: [2, 3], data: new Float32Array(5) }),
      {
        name: "RangeError",
        message: "Argument t has shape (2, 3) (6 elements) but its data holds 5 elements",
      },
    );
    assert.throws(
      () => GpuTensor.fromTensor(gpu, { shape: [2, 3], data: new Float64Array(7) }),
      {
        name: "RangeError",
        message: "Argument t has shape (2, 3) (6 elements) but its data holds 7 elements",
      },
    );
    const small = GpuTensor.empty(gpu, [4]);
    assert.throws(() => new GpuTensor(gpu, [2, 3], "f32", small.buffer), {
      name: "RangeError",
      message: "GpuTensor of shape (2, 3) f32 needs a buffer of 24 bytes, received one of 16 bytes",
    });
    // The same buffer viewed as a shape that fits is fine.
    assert.equal(new GpuTensor(gpu, [2, 2], "f32", small.buffer).size, 4);
    small.destroy();
  },
});

const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
const scaled16 = (t: Tensor, by: number): Tensor => ({
  shape: [...t.shape],
  data: Float64Array.from(F16.from(t.data.map((v) => v * by))),
});

Deno.test({
  name: "backward passes of f16 inputs return f32 gradients: no overflow above 65504, no flush",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    if (!gpu.hasF16) {
      console.warn(`${gpu.adapterName} has no shader-f16: f16 gradient checks skipped`);
      return;
    }
    // (dh scale, v scale): gradients ~1e6 (f16 overflows to Infinity above 65504) and ~1e-8
    // (f16 flushes to 0 below 6e-8), while dh and v themselves are f16 numbers.
    const scales = [[1e4, 1e2, "overflow"], [1e-3, 1e-4, "flush"]] as const;
    for (const name of ["parallel--stablef", "chunkwise--xl_chunk", "chunkwise--xl_chunk_siging"]) {
      for (const [dhScale, vScale, what] of scales) {
        await t.step(`${name} ${what}`, async () => {
          const raw = randomMlstmInputs({ B: 1, NH: 2, S: 9, DQK: 8, DHV: 8 }, rngOf(1120));
          const x = roundInputs({ ...raw, v: scaled16(raw.v, vScale) }, "f16");
          const dh = scaled16(randomTensor([1, 2, 9, 8], rngOf(1121)), dhScale);
          const dev = uploadInputs(gpu, x, "f16");
          const dhG = GpuTensor.fromTensor(gpu, dh, "f16");
          const o = { chunkSize: 4 };
          const k = getMlstmKernel(name);
          const g = await k.backward!(dev, dhG, o);
          const refName = `reference--parallel${k.inputGate === "sig" ? "_siging" : ""}`;
          const ref = await getMlstmKernel(refName).backward!(x, dh, o);
          for (const key of ["dq", "dk", "dv", "di", "df"] as const) {
            const out = g[key] as GpuTensor;
            assert.equal(out.dtype, "f32", `${key} dtype`);
            const got = await out.read();
            out.destroy();
            assertDeviation(
              {
                test: `f32 gradients of f16 inputs (${what})`,
                kernel: name,
                baseline: refName,
                output: key,
                dims: { B: 1, NH: 2, S: 9, DQK: 8, DHV: 8 },
                chunkSize: 4,
                dtype: "f16",
                tolerance: 1e-4,
              },
              got.data,
              (ref[key] as Tensor).data,
            );
          }
          for (const tt of [...Object.values(dev), dhG]) (tt as GpuTensor).destroy();
        });
      }
    }
    assertNoUncapturedErrors(gpu);
  },
});
