// Bad input gets a clear error naming the argument, the expected and the received shape.

import assert from "node:assert/strict";
import {
  getAvailableMlstmKernels,
  getMlstmKernel,
  type MlstmInputs,
  Random,
  randomMlstmInputs,
  type Tensor,
  validateMlstmInputs,
} from "../mod.ts";

const z = (...shape: number[]): Tensor => ({
  shape,
  data: new Float64Array(shape.reduce((a, b) => a * b, 1)),
});
const good = (): MlstmInputs<Tensor> => ({
  q: z(2, 3, 5, 4),
  k: z(2, 3, 5, 4),
  v: z(2, 3, 5, 6),
  i: z(2, 3, 5),
  f: z(2, 3, 5),
});

Deno.test("validateMlstmInputs() accepts good inputs and reads the dimensions", () => {
  assert.deepEqual(validateMlstmInputs(good()), {
    B: 2,
    NH: 3,
    S: 5,
    DQK: 4,
    DHV: 6,
    hasInitialStates: false,
  });
  const x = { ...good(), cInitial: z(2, 3, 4, 6), nInitial: z(2, 3, 4), mInitial: z(2, 3, 1) };
  assert.equal(validateMlstmInputs(x).hasInitialStates, true);
});

Deno.test("validateMlstmInputs() names the argument and both shapes", async (t) => {
  const cases: [string, MlstmInputs<Tensor>, string][] = [
    [
      "wrong rank of q",
      { ...good(), q: z(2, 3, 5) },
      "Argument q must have rank 4 (B, NH, S, DQK), received shape (2, 3, 5)",
    ],
    [
      "k with another DQK",
      { ...good(), k: z(2, 3, 5, 8) },
      "Argument k must have shape (B, NH, S, DQK) = (2, 3, 5, 4), received (2, 3, 5, 8)",
    ],
    [
      "v with another S",
      { ...good(), v: z(2, 3, 4, 6) },
      "Argument v must have shape (B, NH, S, DHV) = (2, 3, 5, 6), received (2, 3, 4, 6)",
    ],
    [
      "i with another B",
      { ...good(), i: z(1, 3, 5) },
      "Argument i must have shape (B, NH, S) = (2, 3, 5), received (1, 3, 5)",
    ],
    [
      "f with another NH",
      { ...good(), f: z(2, 2, 5) },
      "Argument f must have shape (B, NH, S) = (2, 3, 5), received (2, 2, 5)",
    ],
    ["cInitial of the wrong shape", {
      ...good(),
      cInitial: z(2, 3, 6, 4),
      nInitial: z(2, 3, 4),
      mInitial: z(2, 3),
    }, "Argument cInitial must have shape (B, NH, DQK, DHV) = (2, 3, 4, 6), received (2, 3, 6, 4)"],
    ["mInitial of the wrong shape", {
      ...good(),
      cInitial: z(2, 3, 4, 6),
      nInitial: z(2, 3, 4),
      mInitial: z(2, 3, 2),
    }, "Argument mInitial must have shape (B, NH) = (2, 3) or (B, NH, 1), received (2, 3, 2)"],
    ["data length not matching the shape", {
      ...good(),
      v: { shape: [2, 3, 5, 6], data: new Float64Array(10) },
    }, "Argument v has shape (2, 3, 5, 6) (180 elements) but its data holds 10 elements"],
    [
      "initial states given partially (cInitial only)",
      { ...good(), cInitial: z(2, 3, 4, 6) },
      "Initial states must be given together: missing nInitial (B, NH, DQK) = (2, 3, 4) and mInitial (B, NH) = (2, 3)",
    ],
    [
      "initial states given partially (mInitial missing)",
      { ...good(), cInitial: z(2, 3, 4, 6), nInitial: z(2, 3, 4) },
      "Initial states must be given together: missing mInitial (B, NH) = (2, 3)",
    ],
    [
      "initial states given partially (nInitial only)",
      { ...good(), nInitial: z(2, 3, 4) },
      "Initial states must be given together: missing cInitial (B, NH, DQK, DHV) = (2, 3, 4, 6) and mInitial (B, NH) = (2, 3)",
    ],
    ["a plain array instead of a typed array", {
      ...good(),
      i: { shape: [2, 3, 5], data: [1, 2] as unknown as Float64Array },
    }, "Argument i must hold a Float64Array or Float32Array, received Array"],
    ["S = 0", {
      q: z(1, 1, 0, 4),
      k: z(1, 1, 0, 4),
      v: z(1, 1, 0, 4),
      i: z(1, 1, 0),
      f: z(1, 1, 0),
    }, "Argument q must have S >= 1, received shape (1, 1, 0, 4)"],
  ];
  for (const [name, x, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => validateMlstmInputs(x), { message });
    });
  }
});

Deno.test("validateMlstmInputs() rejects a chunk size that is not a positive integer", async (t) => {
  for (const chunkSize of [0, -4, 2.5, NaN]) {
    await t.step(`chunkSize ${chunkSize}`, () => {
      assert.throws(() => validateMlstmInputs(good(), { chunkSize }), {
        message: `Option chunkSize must be a positive integer, received ${chunkSize}`,
      });
    });
  }
  assert.throws(() => validateMlstmInputs(good(), { eps: -1 }), {
    message: "Option eps must be a finite number >= 0, received -1",
  });
});

Deno.test("checkFinite reports non-finite inputs instead of propagating them", async () => {
  const x = good();
  x.f.data[7] = NaN;
  assert.throws(() => validateMlstmInputs(x, { checkFinite: true }), {
    message: "Argument f (2, 3, 5) holds a non-finite value NaN at flat index 7",
  });
  await assert.rejects(getMlstmKernel("reference--recurrent").forward(x, { checkFinite: true }), {
    message: "Argument f (2, 3, 5) holds a non-finite value NaN at flat index 7",
  });
  // Without the option, NaN propagates (the check costs a pass over the data).
  const { h } = await getMlstmKernel("reference--recurrent").forward(x) as { h: Tensor };
  assert.ok(h.data.some(Number.isNaN));
});

Deno.test("checkFinite reports an output that overflows", async () => {
  const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 2, DHV: 2 }, new Random(1));
  x.q.data.fill(1e200);
  x.k.data.fill(1e200);
  await assert.rejects(
    getMlstmKernel("reference--parallel").forward(x, { checkFinite: true }),
    /Output h holds a non-finite value/,
  );
});

Deno.test("getMlstmKernel() lists the available names for an unknown one", () => {
  assert.throws(() => getMlstmKernel("chunkwise--nope"), (e: Error) => {
    assert.match(e.message, /^Unknown mLSTM kernel "chunkwise--nope"; available: /);
    for (const n of getAvailableMlstmKernels()) assert.ok(e.message.includes(n));
    return true;
  });
});

Deno.test("the parallel reference rejects states, and backward rejects a wrong dh", async () => {
  const x = { ...good(), cInitial: z(2, 3, 4, 6), nInitial: z(2, 3, 4), mInitial: z(2, 3) };
  await assert.rejects(getMlstmKernel("reference--parallel").forward(x), /takes no initial states/);
  await assert.rejects(
    getMlstmKernel("reference--parallel").forward(good(), { returnLastStates: true }),
    /returns no last states/,
  );
  await assert.rejects(getMlstmKernel("reference--parallel").backward!(good(), z(2, 3, 5, 4)), {
    message: "Argument dh must have shape (B, NH, S, DHV) = (2, 3, 5, 6), received (2, 3, 5, 4)",
  });
});
