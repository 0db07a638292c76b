// deno bench: the parallel family (stablef, siging) against the float64 parallel reference.

import { BENCH_SIZE, type BenchGroup, registerBenchGroups } from "./_harness.ts";

const shape = BENCH_SIZE === "large"
  ? { B: 4, NH: 16, S: 2048, DQK: 128, DHV: 256 }
  : { B: 1, NH: 2, S: 64, DQK: 16, DHV: 16 };

const groups: BenchGroup[] = (["fw", "fwbw"] as const).flatMap((pass) => [
  {
    group: `parallel ${pass}`,
    shape,
    pass,
    entries: [{ kernel: "reference--parallel" }, { kernel: "parallel--stablef" }],
  },
  {
    group: `parallel_siging ${pass}`,
    shape,
    pass,
    entries: [{ kernel: "reference--parallel_siging" }, { kernel: "parallel--siging" }],
  },
]);

await registerBenchGroups(groups);
