import assert from "node:assert/strict";
import { Random, randomMlstmInputs, randomTensor } from "../mod.ts";

Deno.test("Random() is reproducible for a seed and differs across seeds", () => {
  const a = randomTensor([1000], new Random(42)), b = randomTensor([1000], new Random(42));
  assert.deepEqual(a.data, b.data);
  const c = randomTensor([1000], new Random(43));
  assert.notDeepEqual(a.data, c.data);
});

Deno.test("Random() normal and uniform draws have the right moments", () => {
  const rng = new Random(7);
  const n = 200_000;
  let s = 0, s2 = 0, u = 0, umin = 1, umax = 0;
  for (let j = 0; j < n; j++) {
    const x = rng.normal(2, 3);
    s += x;
    s2 += x * x;
    const y = rng.uniform();
    u += y;
    umin = Math.min(umin, y);
    umax = Math.max(umax, y);
  }
  const mean = s / n, std = Math.sqrt(s2 / n - mean * mean);
  assert.ok(Math.abs(mean - 2) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(std - 3) < 0.03, `std ${std}`);
  assert.ok(Math.abs(u / n - 0.5) < 0.005 && umin >= 0 && umax < 1);
});

Deno.test("randomMlstmInputs() draws gates around the requested offsets", () => {
  const x = randomMlstmInputs(
    { B: 2, NH: 2, S: 500, DQK: 4, DHV: 4, iMean: 20, fMean: -10 },
    new Random(1),
  );
  const mean = (d: ArrayLike<number>) => Array.from(d).reduce((a, b) => a + b, 0) / d.length;
  assert.ok(Math.abs(mean(x.i.data) - 20) < 0.2 && Math.abs(mean(x.f.data) + 10) < 0.2);
});
