import type { BindingLayout } from "../runtime.ts";

// Shared plumbing of the layer kernels: 2D dispatch grids for element counts above the 65 535
// workgroups one dimension allows, and WGSL number literals. Not exported from mod.ts.

/**
 * Workgroups for `units` work items of `wg` threads each, folded into (x, y) so that neither
 * exceeds `maxDim`; the shader computes its unit as `(wid.y · nwg.x + wid.x) · wg + lid.x`.
 */
export function grid(units: number, wg: number, maxDim: number): [number, number] {
  const groups = Math.max(1, Math.ceil(units / wg));
  if (groups <= maxDim) return [groups, 1];
  const y = Math.ceil(groups / maxDim);
  return [Math.ceil(groups / y), y];
}

/** A WGSL f32 literal (always with a decimal point or exponent). */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`Cannot write ${x} as a WGSL literal`);
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The WGSL of the flattened invocation index of a 2D grid (see {@linkcode grid}). */
export const FLAT_INDEX = "(wid.y * nwg.x + wid.x) * WG + lid.x";

/** Builtins of a kernel on a 2D grid. */
export const GRID_BUILTINS =
  "@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>";

/**
 * The explicit binding layout of a layer kernel whose storage bindings are all read-only except
 * the last (the output), followed by its uniforms: with it, `DispatchBatch` binds the uniforms at a
 * dynamic offset and reuses one bind group per set of buffers (a batch of many decoding steps then
 * creates a few bind groups instead of one per dispatch, which costs tens of µs each).
 */
export function storageThenUniform(storageBindings: number): BindingLayout {
  const storage: ("read" | "read_write")[] = new Array(storageBindings - 1).fill("read");
  storage.push("read_write");
  return { storage, uniform: true };
}
