// Host CPU time per decoding step of xLSTM Large: the 7B's block count (32 blocks) at tiny widths
// (the dispatch count, not the sizes, sets the encoding cost), old vs new encoding paths measured
// in the same process, alternating, so that both see the same machine load.
//
//   deno run -A bench/decode_cpu_bench.ts [--blocks 32] [--steps-per-submit 32] [--submits 20]
//     [--batch 1] [--vocab 4096] [--rounds 3] [--out DIR]
//
// Variants: "old" = unfused step (9 dispatches per block), bind groups made per command buffer;
// "cache" = unfused step, bind groups and validations kept across command buffers; "new" = the
// fused step (6 dispatches per block: RMSNorms as matvec prologues, the projection writing q, k,
// v, o and the gates itself) with kept bind groups. Each variant encodes `submits` command
// buffers of `steps-per-submit` steps (each step + greedy token choice) like the generation loop
// and reports the CPU ms per step of the encoding (DispatchBatch + prepare) and the dispatches
// per step. Writes decode_cpu.csv under DIR when given.

import { parseArgs } from "node:util";
import "../mod.ts";
import { getGpu } from "../kernels/runtime.ts";
import { measureDecodeCpu } from "./_decode_cpu.ts";

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    blocks: { type: "string", default: "32" },
    "steps-per-submit": { type: "string", default: "32" },
    submits: { type: "string", default: "20" },
    batch: { type: "string", default: "1" },
    vocab: { type: "string", default: "4096" },
    rounds: { type: "string", default: "3" },
    out: { type: "string" },
  },
});
const gpu = await getGpu();
const res = await measureDecodeCpu(gpu, {
  blocks: Number(values.blocks),
  vocab: Number(values.vocab),
  B: Number(values.batch),
  stepsPerSubmit: Number(values["steps-per-submit"]),
  submits: Number(values.submits),
  rounds: Number(values.rounds),
});
const rows = [[
  "variant",
  "dispatches_per_step",
  "cpu_ms_per_step_median",
  "cpu_ms_per_step_min",
  "cpu_ms_per_step_all",
]];
for (const r of res) {
  const all = r.msPerStep;
  const med = [...all].sort((a, b) => a - b)[Math.floor(all.length / 2)]!;
  rows.push([
    r.variant,
    String(r.dispatchesPerStep),
    med.toFixed(3),
    Math.min(...all).toFixed(3),
    all.map((a) => a.toFixed(3)).join(" "),
  ]);
  console.log(
    `decode CPU ${r.variant}: ${r.dispatchesPerStep} dispatches/step, ${
      med.toFixed(3)
    } ms/step median, min ${Math.min(...all).toFixed(3)} (${
      all.map((a) => a.toFixed(3)).join(", ")
    }) [${values.blocks} blocks, B ${values.batch}, ${
      values["steps-per-submit"]
    } steps per submit]`,
  );
}
if (values.out) {
  await Deno.mkdir(values.out, { recursive: true });
  await Deno.writeTextFile(
    `${values.out}/decode_cpu.csv`,
    rows.map((r) => r.join(",")).join("\n") + "\n",
  );
}
