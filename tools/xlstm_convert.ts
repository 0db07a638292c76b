// Converts an xLSTM Large checkpoint folder (hub or xlstm-package layout, single or fused, F32 /
// F16 / BF16) into the hub layout with weight_mode "single" in another element type, e.g. the
// 27.5 GB float32 xLSTM-7b into 13.7 GB of F16 shards. One tensor in memory at a time; the input
// is validated completely before anything is written.
//
//   npx deno run -A tools/xlstm_convert.ts IN_DIR OUT_DIR [--dtype F16|BF16|F32] [--shard-mb 4096]

import { joinPath, readJsonFile, SafetensorsCheckpoint } from "../io/mod.ts";
import {
  parseXlstmLargeConfig,
  planXlstmLargeWeights,
  writeXlstmLargeCheckpoint,
  xlstmLargeWeightSpecs,
} from "../models/xlstm_large/mod.ts";
import { f16ToF32 } from "../io/dtype.ts";

const args = [...Deno.args];
const flag = (name: string, dflt: string) => {
  const j = args.indexOf(name);
  if (j < 0) return dflt;
  const v = args[j + 1];
  args.splice(j, 2);
  return v;
};
const dtype = flag("--dtype", "F16");
const shardMb = Number(flag("--shard-mb", "4096"));
const [input, output] = args;
if (!input || !output || !["F16", "BF16", "F32"].includes(dtype) || !(shardMb > 0)) {
  console.error(
    "usage: deno run -A tools/xlstm_convert.ts IN_DIR OUT_DIR [--dtype F16|BF16|F32] [--shard-mb 4096]",
  );
  Deno.exit(2);
}
const configPath = joinPath(input, "config.json");
const config = parseXlstmLargeConfig(await readJsonFile(configPath), configPath);
const ckpt = await SafetensorsCheckpoint.open(input);
try {
  const plan = planXlstmLargeWeights(config, ckpt, input);
  const byName = new Map(plan.sources.map((s) => [s.spec.name, s]));
  const t0 = performance.now();
  await writeXlstmLargeCheckpoint(output, { ...plan.config, weightMode: "single" }, {
    dtype: dtype as "F16" | "BF16" | "F32",
    maxShardBytes: shardMb * 2 ** 20,
    weight: async (spec) => {
      const s = byName.get(spec.name)!;
      const rows = spec.shape.slice(1).reduce((a, b) => a * b, 1);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      // F16 files are read as f16 bits and widened exactly; others as f32.
      const fileDtype = ckpt.entry(s.tensor).dtype;
      const raw = await ckpt.read(s.tensor, fileDtype === "F16" ? "f16" : "f32");
      const x = raw instanceof Uint16Array ? f16ToF32(raw) : raw;
      return x.subarray(s.rowStart * rows, s.rowStart * rows + n);
    },
  });
  const n = xlstmLargeWeightSpecs(plan.config).length;
  console.log(
    `wrote ${n} tensors as ${dtype} to ${output} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
} finally {
  ckpt.close();
}
