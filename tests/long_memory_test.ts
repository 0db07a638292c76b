// Long memory: S 512, DQK = DHV = 16, forget gates f ~ N(6, 1) (sigmoid(f) ≈ 0.9975: the state
// keeps hundreds of steps). Each step's log forget gate logsig(f) ≈ -0.0025 enters the state's
// decay and the stable forget-gate sums hundreds of times, so a small error in it compounds: with
// the former logsig (about 6e-8 absolute error from log(1 + e), e = exp(-f)) an H200 measured
// 1.6e-5 (recurrent--sequence) and 1.1e-5 (parallel--stablef) where lavapipe stayed under 1e-5.
// The shared logsig is now accurate to a few ulp relative (tests/gates_test.ts), so every kernel is
// held to the base f32 tolerance, 1e-5; the κ-based bound of tests/_gpu_checks.ts is logged next
// to it (not used) for the record. On the GPU machine:
//
//   REQUIRE_GPU=1 npx deno test -A tests/long_memory_test.ts
//
// (the deviation log in test_outputs/<run>/deviations.csv has one row per kernel and seed).

import assert from "node:assert/strict";
import { getMlstmKernel, type MlstmOptions, randomMlstmInputs, type Tensor } from "../mod.ts";
import { check, conditionedTolerance, roundInputs, tolerance } from "./_gpu_checks.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

const KERNELS = [
  "recurrent--sequence",
  "recurrent--sequence_resident",
  "parallel--stablef",
  "chunkwise--xl_chunk",
  "chunkwise--limit_chunk",
  "recurrent--sequence_siging",
  "parallel--siging",
  "chunkwise--xl_chunk_siging",
];

Deno.test({
  name: "long memory (S 512, f ~ N(6, 1)): every kernel within 1e-5 of the float64 reference",
  ignore,
  async fn(t) {
    const gpu = await needGpu();
    const rows: string[] = [];
    for (const seed of [1130, 1131, 1132]) {
      const config = { B: 1, NH: 2, S: 512, DQK: 16, DHV: 16, fMean: 6, gateStd: 1 };
      const raw = randomMlstmInputs(config, rngOf(seed));
      const x = roundInputs(raw, "f32");
      for (const name of KERNELS) {
        await t.step(`${name} seed ${seed}`, async () => {
          const k = getMlstmKernel(name);
          const o: MlstmOptions = k.form === "chunkwise" ? { chunkSize: 64 } : {};
          const refName = `reference--chunkwise${k.inputGate === "sig" ? "_siging" : ""}`;
          const ref = await getMlstmKernel(refName).forward(x, o);
          const out = await k.forward(raw, o);
          const kappaBound = conditionedTolerance("f32", x, k.inputGate);
          const tol = tolerance("f32");
          try {
            const d = check(
              `long memory S=512 fMean=6 seed ${seed}`,
              name,
              refName,
              "h",
              x,
              "f32",
              (out.h as Tensor).data,
              (ref.h as Tensor).data,
              tol,
            );
            rows.push(
              `${name} seed ${seed}: ${d.relL2.toExponential(2)} (κ bound ${
                kappaBound.toExponential(2)
              })`,
            );
          } catch (e) {
            rows.push(`${name} seed ${seed}: FAILED (κ bound ${kappaBound.toExponential(2)})`);
            throw e;
          }
        });
      }
    }
    console.log(`${gpu.adapterName}\n${rows.join("\n")}`);
    assert.equal(rows.length, 3 * KERNELS.length);
    assertNoUncapturedErrors(gpu);
  },
});
