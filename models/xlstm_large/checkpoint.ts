/**
 * Writing xLSTM Large checkpoints: `config.json` plus safetensors (single file or shards) in the
 * Hugging Face hub layout or the xlstm package's, single or fused, from random weights or any
 * stream of canonical weights. For tests, for comparisons with other implementations, and for
 * saving converted weights (e.g. f16). File access goes through `io/safetensors.ts`, imported on
 * demand so that importing this module stays browser-safe.
 *
 * @module
 */

import type { SafetensorsDtype } from "../../io/safetensors_format.ts";
import type { TensorToWrite } from "../../io/safetensors.ts";
import { type XlstmLargeConfig, xlstmLargeConfigToJson } from "./config.ts";
import {
  randomXlstmLargeWeight,
  type XlstmLargeWeightSpec,
  xlstmLargeWeightSpecs,
} from "./weights.ts";

/** Options of {@linkcode writeXlstmLargeCheckpoint}. */
export interface WriteXlstmLargeCheckpointOptions {
  /** Seed of the random weights (used when `weight` is not given). @default {0} */
  seed?: number;
  /** Gives each canonical weight's float32 values; default: random weights of `seed`. */
  weight?: (spec: XlstmLargeWeightSpec) => Float32Array | Promise<Float32Array>;
  /** Element type in the files. @default {"F32"} */
  dtype?: SafetensorsDtype;
  /** "hub" (transformers' names) or "xlstm" (the xlstm package's `embedding.weight`). @default {"hub"} */
  layout?: "hub" | "xlstm";
  /** "single" or "fused" (q|k|v|o and i|f concatenated by rows). @default {"single"} */
  weightMode?: "single" | "fused";
  /** Shard the checkpoint with shards of at most this many bytes. @default {undefined} (one file) */
  maxShardBytes?: number;
  /** Extra keys merged into config.json (e.g. to test validation). */
  configOverrides?: Record<string, unknown>;
}

/**
 * The tensors of a checkpoint (names in the chosen layout, data produced on demand).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { xlstmLargeCheckpointTensors } from "./checkpoint.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const names = xlstmLargeCheckpointTensors(c, { layout: "xlstm", weightMode: "fused" }).map((t) => t.name);
 * assert.ok(names.includes("embedding.weight") && names.includes("backbone.blocks.0.mlstm_layer.qkv_opreact.weight"));
 * ```
 *
 * @param c The configuration.
 * @param options Layout, weight mode, dtype, weights.
 * @returns The tensors to write.
 */
export function xlstmLargeCheckpointTensors(
  c: XlstmLargeConfig,
  options: WriteXlstmLargeCheckpointOptions = {},
): TensorToWrite[] {
  const { seed = 0, dtype = "F32", layout = "hub", weightMode = "single" } = options;
  const specs = xlstmLargeWeightSpecs(c);
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = (s: XlstmLargeWeightSpec) =>
    options.weight ? options.weight(s) : randomXlstmLargeWeight(c, s, seed);
  const rename = (
    n: string,
  ) => (layout === "xlstm" && n === "backbone.embeddings.weight" ? "embedding.weight" : n);
  const out: TensorToWrite[] = [];
  const fusedParts = new Set<string>();
  if (weightMode === "fused") {
    for (let b = 0; b < c.numBlocks; b++) {
      const p = `backbone.blocks.${b}.mlstm_layer.`;
      const groups: [string, string[]][] = [
        [`${p}qkv_opreact.weight`, ["q", "k", "v", "ogate_preact"].map((x) => `${p}${x}.weight`)],
        [`${p}ifgate_preact.weight`, [`${p}igate_preact.weight`, `${p}fgate_preact.weight`]],
        [`${p}ifgate_preact.bias`, [`${p}igate_preact.bias`, `${p}fgate_preact.bias`]],
      ];
      if (c.useBias) {
        groups.push([
          `${p}qkv_opreact.bias`,
          ["q", "k", "v", "ogate_preact"].map((x) => `${p}${x}.bias`),
        ]);
      }
      for (const [name, parts] of groups) {
        const ps = parts.map((n) => byName.get(n)!);
        for (const n of parts) fusedParts.add(n);
        const rows = ps.reduce((a, s) => a + s.shape[0], 0);
        out.push({
          name,
          dtype,
          shape: [rows, ...ps[0].shape.slice(1)],
          data: async () => {
            const arrays = await Promise.all(ps.map(values));
            const all = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
            let o = 0;
            for (const x of arrays) {
              all.set(x, o);
              o += x.length;
            }
            return all;
          },
        });
      }
    }
  }
  for (const s of specs) {
    if (fusedParts.has(s.name)) continue;
    if (s.name === "lm_head.weight" && c.tieWordEmbeddings) continue;
    out.push({ name: rename(s.name), dtype, shape: s.shape, data: () => values(s) });
  }
  return out;
}

/**
 * Writes `config.json` and the weights (random by default) into a folder.
 *
 * @example A sharded bf16 checkpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { writeXlstmLargeCheckpoint } from "./checkpoint.ts";
 * const dir = await Deno.makeTempDir();
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 2, numHeads: 2 });
 * await writeXlstmLargeCheckpoint(dir, c, { dtype: "BF16", maxShardBytes: 40_000 });
 * const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
 * assert.ok(files.includes("model.safetensors.index.json") && files.includes("config.json"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param dir The folder (created if missing).
 * @param c The configuration.
 * @param options See {@linkcode WriteXlstmLargeCheckpointOptions}.
 */
export async function writeXlstmLargeCheckpoint(
  dir: string,
  c: XlstmLargeConfig,
  options: WriteXlstmLargeCheckpointOptions = {},
): Promise<void> {
  // Deno-only file access, imported on demand (the browser bundle leaves it out).
  if (typeof Deno === "undefined") {
    throw new Error(
      "writeXlstmLargeCheckpoint writes files through Deno: it does not run in a browser",
    );
  }
  const io = await import("../../io/safetensors.ts");
  await io.makeDir(dir);
  const json = {
    ...xlstmLargeConfigToJson(c),
    weight_mode: options.weightMode ?? "single",
    ...options.configOverrides,
  };
  await io.writeJsonFile(io.joinPath(dir, "config.json"), json);
  const tensors = xlstmLargeCheckpointTensors(c, options);
  const metadata = { format: "pt" };
  if (options.maxShardBytes !== undefined) {
    await io.writeSafetensorsSharded(dir, tensors, {
      maxShardBytes: options.maxShardBytes,
      metadata,
    });
  } else {
    await io.writeSafetensors(io.joinPath(dir, io.SAFETENSORS_SINGLE), tensors, { metadata });
  }
}
