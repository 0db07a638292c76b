// deno bench: the recurrent family: one step (step--fused, S=1 with initial states) and a
// sequence of fused steps (recurrent--sequence), against the float64 recurrent reference.

import { BENCH_SIZE, type BenchGroup, registerBenchGroups } from "./_bench.ts";

const large = BENCH_SIZE === "large";
const dims = large ? { NH: 16, DQK: 128, DHV: 256 } : { NH: 2, DQK: 16, DHV: 16 };

const groups: BenchGroup[] = [
  {
    group: "step fw",
    shape: { B: large ? 16 : 2, S: 1, ...dims },
    pass: "fw",
    step: true,
    calls: large ? 64 : 16,
    entries: [{ kernel: "reference--recurrent" }, { kernel: "step--fused" }],
  },
  ...(["fw", "fwbw"] as const).map((pass) => ({
    group: `recurrent ${pass}`,
    shape: { B: 1, S: large ? 1024 : 32, ...dims },
    pass,
    entries: [{ kernel: "reference--recurrent" }, { kernel: "recurrent--sequence" }],
  })),
];

await registerBenchGroups(groups);
