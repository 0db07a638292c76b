// Uniforms opaque to shader specialization (kernels/_common.ts, `opaqueUniforms`): in every WGSL
// variant the generators emit (tools/wgsl_variants.ts), the entry point reads each uniform once,
// through the select on the workgroup id, and no branch or loop condition anywhere reads a uniform
// directly. Mesa's lavapipe recompiled a shader at each of a kernel's first dispatches for the
// values of the uniforms that decide its branches and loop exits (bench/first_calls.ts); a timing
// test of that would be slow and flaky, this static check is neither. With
// setOpaqueLoopBounds(false) (the code before) the check finds such conditions, so it would fail
// there.

import assert from "node:assert/strict";
import { opaqueUniforms } from "../kernels/_common.ts";
import { setOpaqueLoopBounds } from "../kernels/runtime.ts";
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

Deno.test("with opaque loop bounds no WGSL variant reads a uniform outside the prelude of its entry point", () => {
  // On (lavapipe's default; "auto" decides by the adapter).
  setOpaqueLoopBounds(true);
  const bad: string[] = [];
  let withUniforms = 0;
  try {
    for (const v of allWgslVariants()) {
      if (/var<uniform>/.test(v.code)) withUniforms++;
      for (const line of directReads(v.code)) bad.push(`${v.key}: ${line}`);
    }
  } finally {
    setOpaqueLoopBounds("auto");
  }
  assert.ok(withUniforms > 100, `only ${withUniforms} variants with uniforms`);
  assert.deepEqual(bad.slice(0, 20), []);
});

Deno.test("with setOpaqueLoopBounds(false) the code reads uniforms in loop conditions (as before)", () => {
  setOpaqueLoopBounds(false);
  try {
    const conds = allWgslVariants().flatMap((v) =>
      directReads(v.code).filter((l) => /\b(if|while|for)\b/.test(l)).map((l) => `${v.key}: ${l}`)
    );
    // The chunkwise state kernel's loop over chunks, the sLSTM loops over time steps, ...
    assert.ok(conds.some((l) => /^chunkwise-state:.*for \(.*< u\.NC;/.test(l)), conds[0]);
    assert.ok(conds.some((l) => /^slstm-forward:.*for \(.*< u\.S;/.test(l)));
  } finally {
    setOpaqueLoopBounds("auto");
  }
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
  setOpaqueLoopBounds(true);
  const got = opaqueUniforms(code);
  assert.match(got, /fn main\(@builtin\(workgroup_id\) u_wid: vec3<u32>, @builtin\(local/);
  assert.match(got, /let u_S = select\(u\.S, u32\(\), u_wid\.z == 0xFFFFFFFFu\);/);
  assert.match(got, /let u_eps = select\(u\.eps, f32\(\), u_wid\.z == 0xFFFFFFFFu\);/);
  assert.match(got, /t < u_S; t \+= 64u\) \{ o\[t\] = u_eps \+/);
  assert.match(got, /fn helper\(\) -> u32 \{ return u\.S; \}/);
  const own = code.replace("(@builtin(local", "(@builtin(workgroup_id) w: vec3u, @builtin(local");
  assert.match(opaqueUniforms(own), /let u_S = select\(u\.S, u32\(\), w\.z == 0xFFFFFFFFu\);/);
  setOpaqueLoopBounds(false);
  try {
    assert.equal(opaqueUniforms(code), code);
  } finally {
    setOpaqueLoopBounds("auto");
  }
});
