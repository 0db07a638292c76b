// deno bench: the tooling's own GPU path (the toy copy kernel through the observer-aware
// dispatcher), so that a broken timing setup shows up before the real kernels are blamed.

import { BENCH_SIZE, registerBenchGroups } from "./_harness.ts";

await registerBenchGroups(["fw", "fwbw"].map((pass) => ({
  group: `tooling ${pass}`,
  shape: BENCH_SIZE === "large"
    ? { B: 8, NH: 16, S: 4096, DQK: 128, DHV: 256 }
    : { B: 1, NH: 2, S: 64, DQK: 16, DHV: 16 },
  pass: pass as "fw" | "fwbw",
  entries: [{ kernel: "toy--copy_v" }],
})));
