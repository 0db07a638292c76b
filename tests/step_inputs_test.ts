// step--fused's single-step layout (q of shape (B, NH, DQK)): every other argument is checked
// against it before anything reaches the GPU, with the argument, the expected and the received
// shape in the message.

import assert from "node:assert/strict";
import { getMlstmKernel, Random, randomTensor } from "../mod.ts";

Deno.test("step--fused() names the argument and both shapes for a malformed single step", async () => {
  const r = new Random(0);
  const step = {
    q: randomTensor([2, 3, 16], r),
    k: randomTensor([2, 3, 16], r),
    v: randomTensor([2, 3, 8], r),
    i: randomTensor([2, 3], r),
    f: randomTensor([2, 3], r),
  };
  const cases: [Partial<typeof step>, string][] = [
    [
      { v: randomTensor([2, 3, 1, 8], r) },
      "Argument v must have rank 3 (B, NH, DHV), received shape (2, 3, 1, 8)",
    ],
    [
      { k: randomTensor([2, 3, 15], r) },
      "Argument k must have shape (B, NH, DQK) = (2, 3, 16), received (2, 3, 15)",
    ],
    [
      { i: randomTensor([3, 2], r) },
      "Argument i must have shape (B, NH) = (2, 3) or (B, NH, 1), received (3, 2)",
    ],
    [
      { f: randomTensor([2, 3, 2], r) },
      "Argument f must have shape (B, NH) = (2, 3) or (B, NH, 1), received (2, 3, 2)",
    ],
  ];
  for (const name of ["step--fused", "step--fused_siging"]) {
    for (const [bad, message] of cases) {
      await assert.rejects(
        () => getMlstmKernel(name).forward({ ...step, ...bad }),
        (e: unknown) => e instanceof RangeError && e.message === message,
        `${name}: ${message}`,
      );
    }
  }
});
