/**
 * Random tensors generated on the GPU with the counter-based hash of core/hash_random.ts: element
 * j of a named tensor is `center + half·x(seed, name, j)`, the same numbers the CPU computes (the
 * GPU rounds once more, to f32 or f16 storage). Used by `XlstmLarge.random` so that the 7B shape
 * needs no CPU arrays.
 *
 * @module
 */

import { HASH_ROUND_CONSTANT, streamKey } from "../../core/hash_random.ts";
import { type DispatchBatch, getPipeline, type GpuTensor } from "../runtime.ts";
import { GRID_BUILTINS, grid } from "./_common.ts";

const WG = 256;

/**
 * The WGSL of the fill kernel for a storage type. Bindings: out, uniforms
 * `{ n, offset, key, center (f32 bits), half (f32 bits) }`.
 *
 * @example
 * ```ts
 * import { randomFillWgsl } from "./random.ts";
 * console.assert(randomFillWgsl("f16").includes("f16(v)"));
 * ```
 *
 * @param dtype Storage type.
 * @returns The WGSL source.
 */
export function randomFillWgsl(dtype: "f32" | "f16"): string {
  return [
    dtype === "f16" ? "enable f16;" : "",
    `struct U { n: u32, offset: u32, key: u32, center: f32, half: f32, p0: u32, p1: u32, p2: u32 }`,
    `@group(0) @binding(0) var<storage, read_write> O: array<${dtype}>;`,
    `@group(0) @binding(1) var<uniform> u: U;`,
    `const WG = ${WG}u;`,
    `fn mix32(x0: u32) -> u32 {`,
    `  var x = x0;`,
    `  x = x ^ (x >> 16u);`,
    `  x = x * 0x7feb352du;`,
    `  x = x ^ (x >> 15u);`,
    `  x = x * 0x846ca68bu;`,
    `  x = x ^ (x >> 16u);`,
    `  return x;`,
    `}`,
    `@compute @workgroup_size(${WG})`,
    `fn main(${GRID_BUILTINS}) {`,
    `  let g = (wid.y * nwg.x + wid.x) * WG + lid.x;`,
    `  if (g >= u.n) { return; }`,
    `  let h = mix32(mix32((g + u.offset) ^ u.key) + ${HASH_ROUND_CONSTANT >>> 0}u);`,
    `  let x = f32(h >> 8u) * ${2 ** -23} - 1.0;`,
    `  let v = u.center + u.half * x;`,
    `  O[g] = ${dtype === "f16" ? "f16(v)" : "v"};`,
    `}`,
  ].filter((l) => l !== "").join("\n");
}

/**
 * Encodes the fill of `out` with elements `offset … offset + size - 1` of the random tensor
 * `name` under `seed` (an offset lets the row blocks of a split weight continue one stream).
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeRandomFill } from "./random.ts";
 * const gpu = await getGpu();
 * const w = GpuTensor.empty(gpu, [4, 4]);
 * const batch = new DispatchBatch(gpu);
 * await encodeRandomFill(batch, w, { seed: 1, name: "w", center: 0, half: 0.1 });
 * await batch.submit();
 * ```
 *
 * @param batch The batch.
 * @param out The tensor to fill (f32 or f16).
 * @param spec Seed, tensor name, interval, and the index of out's first element in the stream.
 */
export async function encodeRandomFill(
  batch: DispatchBatch,
  out: GpuTensor,
  spec: { seed: number; name: string; center: number; half: number; offset?: number },
): Promise<void> {
  const n = out.size;
  if (n === 0) return;
  const gpu = batch.gpu;
  const pipeline = await getPipeline(gpu, `randomfill:${out.dtype}`, () =>
    randomFillWgsl(out.dtype));
  const u = new ArrayBuffer(32);
  const dv = new DataView(u);
  dv.setUint32(0, n, true);
  dv.setUint32(4, spec.offset ?? 0, true);
  dv.setUint32(8, streamKey(spec.seed, spec.name), true);
  dv.setFloat32(12, spec.center, true);
  dv.setFloat32(16, spec.half, true);
  batch.dispatch({
    label: `random fill ${spec.name}`,
    pipeline,
    buffers: [out],
    uniforms: u,
    workgroups: grid(n, WG, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
