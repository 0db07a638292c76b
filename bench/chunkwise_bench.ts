// deno bench: the chunkwise family (limit_chunk, xl_chunk, xl_chunk_siging) against the float64
// chunkwise reference (small shapes) or limit_chunk (MLSTM_BENCH_SIZE=large).

import { BENCH_SIZE, type BenchGroup, registerBenchGroups } from "./_harness.ts";

const shape = BENCH_SIZE === "large"
  ? { B: 4, NH: 16, S: 4096, DQK: 128, DHV: 256 }
  : { B: 1, NH: 2, S: 64, DQK: 16, DHV: 16 };
const chunks = BENCH_SIZE === "large" ? [64, 128, 256] : [16, 32];

const groups: BenchGroup[] = (["fw", "fwbw"] as const).flatMap((pass) => [
  {
    group: `chunkwise ${pass}`,
    shape,
    pass,
    calls: 4,
    entries: [
      { kernel: "reference--chunkwise", chunkSize: chunks[0] },
      { kernel: "chunkwise--limit_chunk", chunkSize: BENCH_SIZE === "large" ? 64 : 16 },
      ...chunks.map((chunkSize) => ({ kernel: "chunkwise--xl_chunk", chunkSize })),
    ],
  },
  {
    group: `chunkwise_siging ${pass}`,
    shape,
    pass,
    calls: 4,
    entries: [
      { kernel: "reference--chunkwise_siging", chunkSize: chunks[0] },
      ...chunks.map((chunkSize) => ({ kernel: "chunkwise--xl_chunk_siging", chunkSize })),
    ],
  },
]);

await registerBenchGroups(groups);
