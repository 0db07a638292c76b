// Opaque uniform reads: the WGSL transform that keeps drivers which specialize shaders on uniform
// values (Mesa's lavapipe) from recompiling a kernel at its first calls. Applied to every pipeline's
// code by getPipeline (runtime.ts) where the device needs it. Not exported from mod.ts.

/** Index just past the bracket that closes the one before `from` (comments skipped). */
function closing(code: string, from: number, open: string, close: string): number {
  let depth = 1;
  for (let j = from; j < code.length; j++) {
    if (code.startsWith("//", j)) {
      const e = code.indexOf("\n", j);
      j = e < 0 ? code.length : e;
      continue;
    }
    if (code[j] === open) depth++;
    else if (code[j] === close && --depth === 0) return j + 1;
  }
  throw new Error(`WGSL: no closing ${close}`);
}

/**
 * The WGSL of a compute shader with its uniforms made opaque to drivers that specialize shaders
 * on uniform values. `getPipeline` (runtime.ts) applies it where `opaqueLoopBoundsEnabled(gpu)`
 * (by default on lavapipe alone, see `setOpaqueLoopBounds`: on an H200 the select cost the forward
 * 4 %); a shader without a `var<uniform>` is returned unchanged.
 *
 * Mesa's lavapipe (22.x, the CI's WebGPU adapter) finds the uniforms that decide a branch or a
 * loop's exit ("inline uniforms") and, at a dispatch, recompiles the shader with their values
 * folded in (unrolling the loops); the first several calls of a kernel then each paid a compile
 * (chunkwise forward at head dimension 16: ~1.1 s for each of its first 6 calls). Here the entry
 * point reads each uniform field it uses once, at its start, as
 * `let u_X = select(u.X, T(), wid.z == 0xFFFFFFFFu);` (T its type), and uses `u_X` for `u.X`: the
 * same value (a dispatch has fewer than 2^32 workgroups per dimension), but one that depends on the
 * workgroup id, so no branch or loop exit depends on uniforms alone. The workgroup id is uniform in
 * WGSL's uniformity analysis, so barriers under such branches stay valid (a local or global
 * invocation id would not be); the entry point's `@builtin(workgroup_id)` parameter is used, or
 * `u_wid` added. Reads outside the entry point (helper functions) are left as they are. Found
 * with the backward's rolled loops (kernels/backward/_wgsl.ts, `rolled`), whose opaque trip count
 * is this select.
 *
 * @param code A compute shader with one entry point, its uniforms `var<uniform> NAME: STRUCT`
 *   (scalar fields).
 * @returns The shader with opaque uniform reads in its entry point.
 */
export function opaqueUniforms(code: string): string {
  const decl = /var<uniform>\s*(\w+)\s*:\s*(\w+)\s*;/.exec(code);
  if (!decl) return code;
  const [, u, struct] = decl as unknown as [string, string, string];
  const body = new RegExp(`struct\\s+${struct}\\s*\\{([^}]*)\\}`).exec(code);
  if (!body) throw new Error(`WGSL: struct ${struct} of the uniforms not found`);
  const types = new Map<string, string>();
  for (const m of body[1]!.matchAll(/(\w+)\s*:\s*(\w+)/g)) types.set(m[1]!, m[2]!);
  const entry = /@compute\b[^]*?\bfn\s+\w+\s*\(/.exec(code);
  if (!entry) throw new Error("WGSL: no compute entry point");
  const p0 = entry.index + entry[0].length, p1 = closing(code, p0, "(", ")") - 1;
  const b0 = code.indexOf("{", p1) + 1, b1 = closing(code, b0, "{", "}") - 1;
  const params = code.slice(p0, p1);
  const wid = /@builtin\(\s*workgroup_id\s*\)\s*(\w+)\s*:/.exec(params)?.[1] ?? "u_wid";
  const read = new RegExp(`\\b${u}\\.(\\w+)\\b`, "g");
  const used = [...new Set([...code.slice(b0, b1).matchAll(read)].map((m) => m[1]!))]
    .filter((f) => types.has(f));
  if (used.length === 0) return code;
  const lets = used.map((f) =>
    `\n  let u_${f} = select(${u}.${f}, ${types.get(f)}(), ${wid}.z == 0xFFFFFFFFu);`
  ).join("");
  const newBody = code.slice(b0, b1).replace(
    read,
    (m, f: string) => (types.has(f) ? `u_${f}` : m),
  );
  const newParams = wid !== "u_wid"
    ? params
    : `@builtin(workgroup_id) u_wid: vec3<u32>${params.trim() ? ", " : ""}${params}`;
  return code.slice(0, p0) + newParams + code.slice(p1, b0) + lets + newBody + code.slice(b1);
}
