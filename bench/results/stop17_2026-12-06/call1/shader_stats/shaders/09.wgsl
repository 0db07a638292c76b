
struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, H0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }

@group(0) @binding(0) var<storage, read> k: array<vec4<f32>>;
fn ld_k(row: u32, c4: u32) -> vec4f {
  return vec4f(k[row * 32u + c4]);
}

@group(0) @binding(1) var<storage, read> st: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> dv: array<vec4<f32>>;
fn ld_dv(row: u32, c4: u32) -> vec4f {
  return vec4f(dv[row * 64u + c4]);
}
fn st_dv(row: u32, c4: u32, x: vec4f) {
  dv[row * 64u + c4] = vec4<f32>(x);
}

@group(0) @binding(3) var<uniform> u: U;
var<workgroup> stg: array<vec4f, 1536>;
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let tileFirst = segStart + (wid.x / 2u) * 64u;
  let cb4 = (wid.x % 2u) * 32u;
  let rowBase = bh * u.S;
  let sb4 = (lb * (u.NC + 1u) + seg) * 8224u;
  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  var acc4_0 = vec4f(0.0);
  var acc4_1 = vec4f(0.0);
  var acc5_0 = vec4f(0.0);
  var acc5_1 = vec4f(0.0);
  var acc6_0 = vec4f(0.0);
  var acc6_1 = vec4f(0.0);
  var acc7_0 = vec4f(0.0);
  var acc7_1 = vec4f(0.0);
  var p0_0 = vec4f(0.0);
  var p0_1 = vec4f(0.0);
  var p0_2 = vec4f(0.0);
  var p0_3 = vec4f(0.0);
  var p1_0 = vec4f(0.0);
  var p1_1 = vec4f(0.0);
  var p1_2 = vec4f(0.0);
  var p1_3 = vec4f(0.0);
  if (lid + 0u < 64u) {
    let rg = (lid + 0u) % 16u;
    let cg = (lid + 0u) / 16u;
    p0_0 = ld_k(rowBase + min(tileFirst + rg * 4u + 0u, segEnd - 1u), 0u + cg);
    p0_1 = ld_k(rowBase + min(tileFirst + rg * 4u + 1u, segEnd - 1u), 0u + cg);
    p0_2 = ld_k(rowBase + min(tileFirst + rg * 4u + 2u, segEnd - 1u), 0u + cg);
    p0_3 = ld_k(rowBase + min(tileFirst + rg * 4u + 3u, segEnd - 1u), 0u + cg);
  }
  else if (lid + 0u < 192u) {
    let j = lid + 0u - 64u;
    let og = j % 32u;
    let cg = j / 32u;
    p0_0 = st[sb4 + ((0u + cg) * 4u + 0u) * 64u + cb4 + og];
    p0_1 = st[sb4 + ((0u + cg) * 4u + 1u) * 64u + cb4 + og];
    p0_2 = st[sb4 + ((0u + cg) * 4u + 2u) * 64u + cb4 + og];
    p0_3 = st[sb4 + ((0u + cg) * 4u + 3u) * 64u + cb4 + og];
  }
  if (lid + 128u < 192u) {
    let j = lid + 128u - 64u;
    let og = j % 32u;
    let cg = j / 32u;
    p1_0 = st[sb4 + ((0u + cg) * 4u + 0u) * 64u + cb4 + og];
    p1_1 = st[sb4 + ((0u + cg) * 4u + 1u) * 64u + cb4 + og];
    p1_2 = st[sb4 + ((0u + cg) * 4u + 2u) * 64u + cb4 + og];
    p1_3 = st[sb4 + ((0u + cg) * 4u + 3u) * 64u + cb4 + og];
  }
  for (var k0 = 0u; k0 < 32u; k0 += 4u) {
    // Double buffering: step n's half is free once every thread passed step n − 1's barrier,
    // which it reaches only after step n − 2's products (the last reads of that half).
    let hb = ((k0 / 4u) % 2u) * 768u;
    if (lid + 0u < 64u) {
      let rg = (lid + 0u) % 16u;
      let cg = (lid + 0u) / 16u;
      stg[hb + (cg * 4u + 0u) * 16u + rg] = vec4f(p0_0.x, p0_1.x, p0_2.x, p0_3.x);
      stg[hb + (cg * 4u + 1u) * 16u + rg] = vec4f(p0_0.y, p0_1.y, p0_2.y, p0_3.y);
      stg[hb + (cg * 4u + 2u) * 16u + rg] = vec4f(p0_0.z, p0_1.z, p0_2.z, p0_3.z);
      stg[hb + (cg * 4u + 3u) * 16u + rg] = vec4f(p0_0.w, p0_1.w, p0_2.w, p0_3.w);
    }
    else if (lid + 0u < 192u) {
      let j = lid + 0u - 64u;
      let og = j % 32u;
      let cg = j / 32u;
      stg[hb + 256u + (cg * 4u + 0u) * 32u + og] = p0_0;
      stg[hb + 256u + (cg * 4u + 1u) * 32u + og] = p0_1;
      stg[hb + 256u + (cg * 4u + 2u) * 32u + og] = p0_2;
      stg[hb + 256u + (cg * 4u + 3u) * 32u + og] = p0_3;
    }
    if (lid + 128u < 192u) {
      let j = lid + 128u - 64u;
      let og = j % 32u;
      let cg = j / 32u;
      stg[hb + 256u + (cg * 4u + 0u) * 32u + og] = p1_0;
      stg[hb + 256u + (cg * 4u + 1u) * 32u + og] = p1_1;
      stg[hb + 256u + (cg * 4u + 2u) * 32u + og] = p1_2;
      stg[hb + 256u + (cg * 4u + 3u) * 32u + og] = p1_3;
    }
    workgroupBarrier();
    if (k0 + 4u < 32u) {
      if (lid + 0u < 64u) {
        let rg = (lid + 0u) % 16u;
        let cg = (lid + 0u) / 16u;
        p0_0 = ld_k(rowBase + min(tileFirst + rg * 4u + 0u, segEnd - 1u), k0 + 4u + cg);
        p0_1 = ld_k(rowBase + min(tileFirst + rg * 4u + 1u, segEnd - 1u), k0 + 4u + cg);
        p0_2 = ld_k(rowBase + min(tileFirst + rg * 4u + 2u, segEnd - 1u), k0 + 4u + cg);
        p0_3 = ld_k(rowBase + min(tileFirst + rg * 4u + 3u, segEnd - 1u), k0 + 4u + cg);
      }
      else if (lid + 0u < 192u) {
        let j = lid + 0u - 64u;
        let og = j % 32u;
        let cg = j / 32u;
        p0_0 = st[sb4 + ((k0 + 4u + cg) * 4u + 0u) * 64u + cb4 + og];
        p0_1 = st[sb4 + ((k0 + 4u + cg) * 4u + 1u) * 64u + cb4 + og];
        p0_2 = st[sb4 + ((k0 + 4u + cg) * 4u + 2u) * 64u + cb4 + og];
        p0_3 = st[sb4 + ((k0 + 4u + cg) * 4u + 3u) * 64u + cb4 + og];
      }
      if (lid + 128u < 192u) {
        let j = lid + 128u - 64u;
        let og = j % 32u;
        let cg = j / 32u;
        p1_0 = st[sb4 + ((k0 + 4u + cg) * 4u + 0u) * 64u + cb4 + og];
        p1_1 = st[sb4 + ((k0 + 4u + cg) * 4u + 1u) * 64u + cb4 + og];
        p1_2 = st[sb4 + ((k0 + 4u + cg) * 4u + 2u) * 64u + cb4 + og];
        p1_3 = st[sb4 + ((k0 + 4u + cg) * 4u + 3u) * 64u + cb4 + og];
      }
    }
    {
      let a0 = stg[hb + 0u + ty * 2u + 0u];
      let a1 = stg[hb + 0u + ty * 2u + 1u];
      let b0 = stg[hb + 256u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 256u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 16u + ty * 2u + 0u];
      let a1 = stg[hb + 16u + ty * 2u + 1u];
      let b0 = stg[hb + 288u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 288u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 32u + ty * 2u + 0u];
      let a1 = stg[hb + 32u + ty * 2u + 1u];
      let b0 = stg[hb + 320u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 320u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 48u + ty * 2u + 0u];
      let a1 = stg[hb + 48u + ty * 2u + 1u];
      let b0 = stg[hb + 352u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 352u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 64u + ty * 2u + 0u];
      let a1 = stg[hb + 64u + ty * 2u + 1u];
      let b0 = stg[hb + 384u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 384u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 80u + ty * 2u + 0u];
      let a1 = stg[hb + 80u + ty * 2u + 1u];
      let b0 = stg[hb + 416u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 416u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 96u + ty * 2u + 0u];
      let a1 = stg[hb + 96u + ty * 2u + 1u];
      let b0 = stg[hb + 448u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 448u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 112u + ty * 2u + 0u];
      let a1 = stg[hb + 112u + ty * 2u + 1u];
      let b0 = stg[hb + 480u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 480u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 128u + ty * 2u + 0u];
      let a1 = stg[hb + 128u + ty * 2u + 1u];
      let b0 = stg[hb + 512u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 512u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 144u + ty * 2u + 0u];
      let a1 = stg[hb + 144u + ty * 2u + 1u];
      let b0 = stg[hb + 544u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 544u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 160u + ty * 2u + 0u];
      let a1 = stg[hb + 160u + ty * 2u + 1u];
      let b0 = stg[hb + 576u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 576u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 176u + ty * 2u + 0u];
      let a1 = stg[hb + 176u + ty * 2u + 1u];
      let b0 = stg[hb + 608u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 608u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 192u + ty * 2u + 0u];
      let a1 = stg[hb + 192u + ty * 2u + 1u];
      let b0 = stg[hb + 640u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 640u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 208u + ty * 2u + 0u];
      let a1 = stg[hb + 208u + ty * 2u + 1u];
      let b0 = stg[hb + 672u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 672u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 224u + ty * 2u + 0u];
      let a1 = stg[hb + 224u + ty * 2u + 1u];
      let b0 = stg[hb + 704u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 704u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
    {
      let a0 = stg[hb + 240u + ty * 2u + 0u];
      let a1 = stg[hb + 240u + ty * 2u + 1u];
      let b0 = stg[hb + 736u + tx + 0u];
      acc0_0 += a0.x * b0;
      acc1_0 += a0.y * b0;
      acc2_0 += a0.z * b0;
      acc3_0 += a0.w * b0;
      acc4_0 += a1.x * b0;
      acc5_0 += a1.y * b0;
      acc6_0 += a1.z * b0;
      acc7_0 += a1.w * b0;
      let b1 = stg[hb + 736u + tx + 16u];
      acc0_1 += a0.x * b1;
      acc1_1 += a0.y * b1;
      acc2_1 += a0.z * b1;
      acc3_1 += a0.w * b1;
      acc4_1 += a1.x * b1;
      acc5_1 += a1.y * b1;
      acc6_1 += a1.z * b1;
      acc7_1 += a1.w * b1;
    }
  }
  if (tileFirst + ty * 8u + 0u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 0u, cb4 + tx + 0u, acc0_0);
    st_dv(rowBase + tileFirst + ty * 8u + 0u, cb4 + tx + 16u, acc0_1);
  }
  if (tileFirst + ty * 8u + 1u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 1u, cb4 + tx + 0u, acc1_0);
    st_dv(rowBase + tileFirst + ty * 8u + 1u, cb4 + tx + 16u, acc1_1);
  }
  if (tileFirst + ty * 8u + 2u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 2u, cb4 + tx + 0u, acc2_0);
    st_dv(rowBase + tileFirst + ty * 8u + 2u, cb4 + tx + 16u, acc2_1);
  }
  if (tileFirst + ty * 8u + 3u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 3u, cb4 + tx + 0u, acc3_0);
    st_dv(rowBase + tileFirst + ty * 8u + 3u, cb4 + tx + 16u, acc3_1);
  }
  if (tileFirst + ty * 8u + 4u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 4u, cb4 + tx + 0u, acc4_0);
    st_dv(rowBase + tileFirst + ty * 8u + 4u, cb4 + tx + 16u, acc4_1);
  }
  if (tileFirst + ty * 8u + 5u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 5u, cb4 + tx + 0u, acc5_0);
    st_dv(rowBase + tileFirst + ty * 8u + 5u, cb4 + tx + 16u, acc5_1);
  }
  if (tileFirst + ty * 8u + 6u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 6u, cb4 + tx + 0u, acc6_0);
    st_dv(rowBase + tileFirst + ty * 8u + 6u, cb4 + tx + 16u, acc6_1);
  }
  if (tileFirst + ty * 8u + 7u < segEnd) {
    st_dv(rowBase + tileFirst + ty * 8u + 7u, cb4 + tx + 0u, acc7_0);
    st_dv(rowBase + tileFirst + ty * 8u + 7u, cb4 + tx + 16u, acc7_1);
  }
}
