/**
 * File formats: safetensors checkpoints (single files and sharded folders) and the exact f16 /
 * bf16 conversions they need. `safetensors.ts` reads and writes files through `Deno.*`; the
 * format and the conversions are platform-free.
 *
 * @example Write and read back a tensor
 * ```ts
 * import assert from "node:assert/strict";
 * import { SafetensorsCheckpoint, writeSafetensors } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, [{ name: "w", dtype: "F16", shape: [2], data: [0.5, 3] }]);
 * const ck = await SafetensorsCheckpoint.open(path);
 * assert.deepEqual([...await ck.read("w")], [0.5, 3]);
 * ck.close();
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export * from "./dtype.ts";
export * from "./safetensors_format.ts";
export * from "./safetensors.ts";
