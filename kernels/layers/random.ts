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
import { grid, GRID_BUILTINS } from "./_common.ts";

const WG = 256;

/**
 * The WGSL of the fill kernel for a storage type. Bindings: out, uniforms
 * `{ n, offset, key, center (f32 bits), half (f32 bits) }`.
 *
 * @example
 * ```ts
 * import { randomFillWgsl } from "./random.ts";
 * console.assert(randomFillWgsl("f16").includes("f16(bitcast<f32>(r))"));
 * ```
 *
 * @param dtype Storage type.
 * @param roundToF16 Round to the nearest f16 value (always for f16 storage; for f32 storage, the
 *   f16 model's norm weights and biases, which a checkpoint converted to f16 would hold).
 * @returns The WGSL source.
 */
export function randomFillWgsl(dtype: "f32" | "f16", roundToF16 = dtype === "f16"): string {
  return [
    dtype === "f16" ? "enable f16;" : "",
    `struct U { n: u32, offset: u32, key: u32, center: f32, half: f32, dst: u32, p1: u32, p2: u32 }`,
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
    // f32 -> f16 conversion rounds toward zero on some drivers (lavapipe): round to nearest even
    // on the bits first, so that the conversion of the (then exact) value is exact everywhere.
    roundToF16
      ? `  let b = bitcast<u32>(v);\n  let r = (b + 0xfffu + ((b >> 13u) & 1u)) & 0xffffe000u;\n  O[u.dst + g] = ${
        dtype === "f16" ? "f16(bitcast<f32>(r))" : "bitcast<f32>(r)"
      };`
      : `  O[u.dst + g] = v;`,
    `}`,
  ].filter((l) => l !== "").join("\n");
}

/**
 * Encodes the fill of `count` elements of `out` from `dstOffset` on (default: all of it) with
 * elements `offset …` of the random tensor `name` under `seed` (offsets let row blocks of a split
 * or fused weight continue each tensor's own stream).
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
 * @param spec Seed, tensor name, interval, the stream index of the first element written, and the
 *   range of `out` written; `roundToF16` rounds f32 values to the nearest f16 value.
 * @throws {RangeError} If the range does not fit `out`.
 */
export async function encodeRandomFill(
  batch: DispatchBatch,
  out: GpuTensor,
  spec: {
    seed: number;
    name: string;
    center: number;
    half: number;
    offset?: number;
    dstOffset?: number;
    count?: number;
    roundToF16?: boolean;
  },
): Promise<void> {
  const dst = spec.dstOffset ?? 0;
  const n = spec.count ?? out.size - dst;
  if (!Number.isInteger(dst) || !Number.isInteger(n) || dst < 0 || n < 0 || dst + n > out.size) {
    throw new RangeError(
      `Random fill of ${spec.name}: elements ${dst}..${
        dst + n - 1
      } do not fit a tensor of ${out.size}`,
    );
  }
  if (n === 0) return;
  const gpu = batch.gpu;
  const r16 = out.dtype === "f16" || (spec.roundToF16 ?? false);
  const pipeline = await getPipeline(
    gpu,
    `randomfill:${out.dtype}:${r16}`,
    () => randomFillWgsl(out.dtype, r16),
  );
  const u = new ArrayBuffer(32);
  const dv = new DataView(u);
  dv.setUint32(0, n, true);
  dv.setUint32(4, spec.offset ?? 0, true);
  dv.setUint32(8, streamKey(spec.seed, spec.name), true);
  dv.setFloat32(12, spec.center, true);
  dv.setFloat32(16, spec.half, true);
  dv.setUint32(20, dst, true);
  batch.dispatch({
    label: `random fill ${spec.name}`,
    pipeline,
    buffers: [out],
    uniforms: u,
    workgroups: grid(n, WG, gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
