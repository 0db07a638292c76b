// deno bench: the recurrent family, exponential and sigmoid input gate: one step (step--fused,
// S=1 with initial states) and a sequence of steps (recurrent--sequence, one dispatch per step;
// recurrent--sequence_resident, the whole sequence in one dispatch), against the float64
// recurrent reference of the same gate. Forward only: these kernels have no backward pass.

import { BENCH_SIZE, type BenchGroup, registerBenchGroups } from "./_harness.ts";

const large = BENCH_SIZE === "large";
const dims = large ? { NH: 16, DQK: 128, DHV: 256 } : { NH: 2, DQK: 16, DHV: 16 };

const groups: BenchGroup[] = (["", "_siging"] as const).flatMap((sfx): BenchGroup[] => [
  {
    group: `step${sfx} fw`,
    shape: { B: large ? 16 : 2, S: 1, ...dims },
    pass: "fw",
    step: true,
    calls: large ? 64 : 16,
    entries: [{ kernel: `reference--recurrent${sfx}` }, { kernel: `step--fused${sfx}` }],
  },
  {
    group: `recurrent${sfx} fw`,
    shape: { B: 1, S: large ? 1024 : 32, ...dims },
    pass: "fw",
    entries: [
      { kernel: `reference--recurrent${sfx}` },
      { kernel: `recurrent--sequence${sfx}` },
      { kernel: `recurrent--sequence_resident${sfx}` },
    ],
  },
]);

await registerBenchGroups(groups);
