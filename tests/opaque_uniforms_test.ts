// Uniforms opaque to shader specialization (kernels/_opaque.ts, `opaqueUniforms`, applied by
// getPipeline on lavapipe): in the opaque form of every WGSL variant the generators emit
// (tools/wgsl_variants.ts), the entry point reads each uniform once, through the select on the
// workgroup id, and no branch or loop condition anywhere reads a uniform directly. Mesa's lavapipe recompiled a shader at each of a kernel's first dispatches for the
// values of the uniforms that decide its branches and loop exits (bench/first_calls.ts); a timing
// test of that would be slow and flaky, this static check is neither. On the plain code the check
// finds such conditions, so it can fail.

import assert from "node:assert/strict";
import { opaqueUniforms } from "../kernels/_opaque.ts";
import {
  getPipeline,
  opaqueLoopBoundsEnabled,
  pipelineCreationTimes,
  setOpaqueLoopBounds,
} from "../kernels/runtime.ts";
import { gpuMissing, needGpu } from "./_gpu.ts";

const ignore = await gpuMissing();
import { allWgslVariants } from "../tools/wgsl_variants.ts";

/** Where a shader reads its uniforms other than through the opaque prelude (empty: none). */
function directReads(code: string): string[] {
  const decl = /var<uniform>\s*(\w+)\s*:/.exec(code);
  if (!decl) return [];
  const read = new RegExp(`\\b${decl[1]}\\.\\w+`);
  const entry = /@compute\b[^]*?\bfn\s+\w+\s*\(/.exec(code)!;
  const bad: string[] = [];
  let inEntry = false, at = 0;
  for (const line of code.split("\n")) {
    if (at >= entry.index) inEntry = true;
    at += line.length + 1;
    if (!read.test(line.replace(/\/\/.*/, ""))) continue;
    const prelude = /^\s*let u_(\w+) = select\(\w+\.(\w+), \w+\(\), \w+\.z == 0xFFFFFFFFu\);$/
      .exec(line);
    if (inEntry && prelude && prelude[1] === prelude[2]) continue;
    // Outside the entry point (helper functions) only conditions count.
    const cond = /\b(if|while|for|break if)\b/.test(line);
    if (inEntry || cond) bad.push(line.trim());
  }
  return bad;
}

Deno.test("in its opaque form no WGSL variant reads a uniform outside the prelude of its entry point", () => {
  const bad: string[] = [];
  let opaque = 0;
  for (const v of allWgslVariants()) {
    if (!v.key.endsWith(":opaque-uniforms")) continue;
    opaque++;
    for (const line of directReads(v.code)) bad.push(`${v.key}: ${line}`);
  }
  assert.ok(opaque > 100, `only ${opaque} variants with uniforms`);
  assert.deepEqual(bad.slice(0, 20), []);
});

Deno.test("the plain WGSL variants read uniforms in loop conditions (what lavapipe specializes)", () => {
  const conds = allWgslVariants().filter((v) => !v.key.endsWith(":opaque-uniforms")).flatMap((
    v,
  ) =>
    directReads(v.code).filter((l) => /\b(if|while|for)\b/.test(l)).map((l) => `${v.key}: ${l}`)
  );
  // The chunkwise state kernel's loop over chunks, the sLSTM loops over time steps, ...
  assert.ok(conds.some((l) => /^chunkwise-state:.*for \(.*< u\.NC;/.test(l)), conds[0]);
  assert.ok(conds.some((l) => /^slstm-forward:.*for \(.*< u\.S;/.test(l)));
});

Deno.test("opaqueUniforms: adds the workgroup id where missing, leaves helper functions", () => {
  const code = `struct U { S: u32, eps: f32 }
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<uniform> u: U;
fn helper() -> u32 { return u.S; }
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3u) {
  for (var t = lid.x; t < u.S; t += 64u) { o[t] = u.eps + f32(helper()); }
}
`;
  const got = opaqueUniforms(code);
  assert.match(got, /fn main\(@builtin\(workgroup_id\) u_wid: vec3<u32>, @builtin\(local/);
  assert.match(got, /let u_S = select\(u\.S, u32\(\), u_wid\.z == 0xFFFFFFFFu\);/);
  assert.match(got, /let u_eps = select\(u\.eps, f32\(\), u_wid\.z == 0xFFFFFFFFu\);/);
  assert.match(got, /t < u_S; t \+= 64u\) \{ o\[t\] = u_eps \+/);
  assert.match(got, /fn helper\(\) -> u32 \{ return u\.S; \}/);
  const own = code.replace("(@builtin(local", "(@builtin(workgroup_id) w: vec3u, @builtin(local");
  assert.match(opaqueUniforms(own), /let u_S = select\(u\.S, u32\(\), w\.z == 0xFFFFFFFFu\);/);
  assert.equal(
    opaqueUniforms(code.replace("var<uniform> u: U;", "")),
    code.replace("var<uniform> u: U;", ""),
  );
});

Deno.test(
  "getPipeline compiles the opaque form where setOpaqueLoopBounds says so",
  { ignore },
  async () => {
    const gpu = await needGpu();
    const wgsl = `struct U { S: u32 }
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@group(0) @binding(1) var<uniform> u: U;
@compute @workgroup_size(1)
fn main() { for (var t = 0u; t < u.S; t++) { o[t] = 1.0; } }
`;
    const seen: string[] = [];
    try {
      for (const mode of [true, false, "auto"] as const) {
        setOpaqueLoopBounds(mode);
        const on = opaqueLoopBoundsEnabled(gpu);
        assert.equal(on, mode === "auto" ? /llvmpipe/i.test(gpu.adapterName) : mode);
        await getPipeline(gpu, `opaque-test:${mode}`, () => wgsl);
        const keys = [...pipelineCreationTimes(gpu).keys()].filter((k) =>
          k.startsWith(`opaque-test:${mode}#`)
        );
        assert.equal(keys.length, 1);
        assert.equal(keys[0]!.endsWith("#opaque-uniforms"), on, keys[0]);
        seen.push(keys[0]!);
      }
    } finally {
      setOpaqueLoopBounds("auto");
    }
    assert.equal(seen.length, 3);
  },
);
