alias T = f32;
struct U {
  S: u32, L: u32, NC: u32, BH: u32,
  bh0: u32, DQK: u32, DHV: u32, keep: u32,
  eps: f32, scale: f32, p0: u32, p1: u32,
}

@group(0) @binding(0) var<storage, read> kin: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> vin: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> sc: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> snm: array<f32>;
@group(0) @binding(5) var<uniform> u: U;
var<workgroup> ks: array<vec4<f32>, 512>;
var<workgroup> vs: array<vec4<f32>, 1024>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % 16u;
  let ty = lid / 16u;
  let a0 = wg.x * 64u;
  let c0 = wg.y * 128u;
  let bhl = wg.z;
  let bh = u.bh0 + bhl;
  let DQK = u.DQK;
  let DHV = u.DHV;
  let S = u.S;
  let N = u.BH * S;
  let NC1 = u.NC + 1u;
  let CQ = DQK * DHV;
  let slot0 = bhl * NC1 * CQ;
  let nm0 = bhl * NC1 * (DQK + 1u);
  let ownsN = wg.y == 0u && lid < 64u && a0 + lid < DQK;
  let ownsM = wg.x == 0u && wg.y == 0u && lid == 0u;
  var c0_0 = vec4<f32>(0.0);
  var c0_1 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0);
  var c1_1 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0);
  var c2_1 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0);
  var c3_1 = vec4<f32>(0.0);
  var nReg = 0.0;
  var m = 0.0;
  {
    let slot = slot0;
    if ((a0 + ty * 4u + 0u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 0u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c0_0; }
    if ((a0 + ty * 4u + 0u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 0u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c0_1; }
    if ((a0 + ty * 4u + 1u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 1u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c1_0; }
    if ((a0 + ty * 4u + 1u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 1u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c1_1; }
    if ((a0 + ty * 4u + 2u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 2u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c2_0; }
    if ((a0 + ty * 4u + 2u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 2u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c2_1; }
    if ((a0 + ty * 4u + 3u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 3u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c3_0; }
    if ((a0 + ty * 4u + 3u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 3u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c3_1; }
  }
  if (ownsN) { snm[nm0 + a0 + lid] = 0.0; }
  if (ownsM) { snm[nm0 + DQK] = 0.0; }
  for (var k = 0u; k < u.NC; k++) {
    let t0 = k * u.L;
    let lc = min(u.L, S - t0);
    let rowBase = bh * S + t0;
    let ci = 8u * N + (bh * u.NC + k) * 2u;
    let g = gates[ci];
    let mNew = max(g + m, gates[ci + 1u]);
    let decay = exp(g + m - mNew);
    c0_0 *= decay;
    c0_1 *= decay;
    c1_0 *= decay;
    c1_1 *= decay;
    c2_0 *= decay;
    c2_1 *= decay;
    c3_0 *= decay;
    c3_1 *= decay;
    nReg *= decay;
    for (var j0 = 0u; j0 < lc; j0 += 32u) {
      { let x4 = lid + 0u; let rr = x4 / 16u; let cc = (x4 % 16u) * 4u; ks[x4] = select(vec4<f32>(0.0), vec4<f32>(kin[((rowBase + j0 + rr) * DQK + a0 + cc) / 4u]) * exp(gates[2u * N + rowBase + j0 + rr] - mNew), j0 + rr < lc && a0 + cc < DQK); }
      { let x4 = lid + 256u; let rr = x4 / 16u; let cc = (x4 % 16u) * 4u; ks[x4] = select(vec4<f32>(0.0), vec4<f32>(kin[((rowBase + j0 + rr) * DQK + a0 + cc) / 4u]) * exp(gates[2u * N + rowBase + j0 + rr] - mNew), j0 + rr < lc && a0 + cc < DQK); }
      { let x4 = lid + 0u; let rr = x4 / 32u; let cc = (x4 % 32u) * 4u; vs[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + j0 + rr) * DHV + c0 + cc) / 4u]), j0 + rr < lc && c0 + cc < DHV); }
      { let x4 = lid + 256u; let rr = x4 / 32u; let cc = (x4 % 32u) * 4u; vs[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + j0 + rr) * DHV + c0 + cc) / 4u]), j0 + rr < lc && c0 + cc < DHV); }
      { let x4 = lid + 512u; let rr = x4 / 32u; let cc = (x4 % 32u) * 4u; vs[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + j0 + rr) * DHV + c0 + cc) / 4u]), j0 + rr < lc && c0 + cc < DHV); }
      { let x4 = lid + 768u; let rr = x4 / 32u; let cc = (x4 % 32u) * 4u; vs[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + j0 + rr) * DHV + c0 + cc) / 4u]), j0 + rr < lc && c0 + cc < DHV); }
      workgroupBarrier();
      {
        let kv = ks[0u + ty];
        let v0 = vs[0u + tx];
        let v1 = vs[0u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[16u + ty];
        let v0 = vs[32u + tx];
        let v1 = vs[32u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[32u + ty];
        let v0 = vs[64u + tx];
        let v1 = vs[64u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[48u + ty];
        let v0 = vs[96u + tx];
        let v1 = vs[96u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[64u + ty];
        let v0 = vs[128u + tx];
        let v1 = vs[128u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[80u + ty];
        let v0 = vs[160u + tx];
        let v1 = vs[160u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[96u + ty];
        let v0 = vs[192u + tx];
        let v1 = vs[192u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[112u + ty];
        let v0 = vs[224u + tx];
        let v1 = vs[224u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[128u + ty];
        let v0 = vs[256u + tx];
        let v1 = vs[256u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[144u + ty];
        let v0 = vs[288u + tx];
        let v1 = vs[288u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[160u + ty];
        let v0 = vs[320u + tx];
        let v1 = vs[320u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[176u + ty];
        let v0 = vs[352u + tx];
        let v1 = vs[352u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[192u + ty];
        let v0 = vs[384u + tx];
        let v1 = vs[384u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[208u + ty];
        let v0 = vs[416u + tx];
        let v1 = vs[416u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[224u + ty];
        let v0 = vs[448u + tx];
        let v1 = vs[448u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[240u + ty];
        let v0 = vs[480u + tx];
        let v1 = vs[480u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[256u + ty];
        let v0 = vs[512u + tx];
        let v1 = vs[512u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[272u + ty];
        let v0 = vs[544u + tx];
        let v1 = vs[544u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[288u + ty];
        let v0 = vs[576u + tx];
        let v1 = vs[576u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[304u + ty];
        let v0 = vs[608u + tx];
        let v1 = vs[608u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[320u + ty];
        let v0 = vs[640u + tx];
        let v1 = vs[640u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[336u + ty];
        let v0 = vs[672u + tx];
        let v1 = vs[672u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[352u + ty];
        let v0 = vs[704u + tx];
        let v1 = vs[704u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[368u + ty];
        let v0 = vs[736u + tx];
        let v1 = vs[736u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[384u + ty];
        let v0 = vs[768u + tx];
        let v1 = vs[768u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[400u + ty];
        let v0 = vs[800u + tx];
        let v1 = vs[800u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[416u + ty];
        let v0 = vs[832u + tx];
        let v1 = vs[832u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[432u + ty];
        let v0 = vs[864u + tx];
        let v1 = vs[864u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[448u + ty];
        let v0 = vs[896u + tx];
        let v1 = vs[896u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[464u + ty];
        let v0 = vs[928u + tx];
        let v1 = vs[928u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[480u + ty];
        let v0 = vs[960u + tx];
        let v1 = vs[960u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      {
        let kv = ks[496u + ty];
        let v0 = vs[992u + tx];
        let v1 = vs[992u + tx + 16u];
        c0_0 += kv.x * v0;
        c0_1 += kv.x * v1;
        c1_0 += kv.y * v0;
        c1_1 += kv.y * v1;
        c2_0 += kv.z * v0;
        c2_1 += kv.z * v1;
        c3_0 += kv.w * v0;
        c3_1 += kv.w * v1;
      }
      if (ownsN) {
        nReg += ks[0u + lid / 4u][lid % 4u];
        nReg += ks[16u + lid / 4u][lid % 4u];
        nReg += ks[32u + lid / 4u][lid % 4u];
        nReg += ks[48u + lid / 4u][lid % 4u];
        nReg += ks[64u + lid / 4u][lid % 4u];
        nReg += ks[80u + lid / 4u][lid % 4u];
        nReg += ks[96u + lid / 4u][lid % 4u];
        nReg += ks[112u + lid / 4u][lid % 4u];
        nReg += ks[128u + lid / 4u][lid % 4u];
        nReg += ks[144u + lid / 4u][lid % 4u];
        nReg += ks[160u + lid / 4u][lid % 4u];
        nReg += ks[176u + lid / 4u][lid % 4u];
        nReg += ks[192u + lid / 4u][lid % 4u];
        nReg += ks[208u + lid / 4u][lid % 4u];
        nReg += ks[224u + lid / 4u][lid % 4u];
        nReg += ks[240u + lid / 4u][lid % 4u];
        nReg += ks[256u + lid / 4u][lid % 4u];
        nReg += ks[272u + lid / 4u][lid % 4u];
        nReg += ks[288u + lid / 4u][lid % 4u];
        nReg += ks[304u + lid / 4u][lid % 4u];
        nReg += ks[320u + lid / 4u][lid % 4u];
        nReg += ks[336u + lid / 4u][lid % 4u];
        nReg += ks[352u + lid / 4u][lid % 4u];
        nReg += ks[368u + lid / 4u][lid % 4u];
        nReg += ks[384u + lid / 4u][lid % 4u];
        nReg += ks[400u + lid / 4u][lid % 4u];
        nReg += ks[416u + lid / 4u][lid % 4u];
        nReg += ks[432u + lid / 4u][lid % 4u];
        nReg += ks[448u + lid / 4u][lid % 4u];
        nReg += ks[464u + lid / 4u][lid % 4u];
        nReg += ks[480u + lid / 4u][lid % 4u];
        nReg += ks[496u + lid / 4u][lid % 4u];
      }
      workgroupBarrier();
    }
    m = mNew;
    let slot = slot0 + (k + 1u) * CQ;
    if ((a0 + ty * 4u + 0u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 0u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c0_0; }
    if ((a0 + ty * 4u + 0u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 0u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c0_1; }
    if ((a0 + ty * 4u + 1u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 1u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c1_0; }
    if ((a0 + ty * 4u + 1u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 1u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c1_1; }
    if ((a0 + ty * 4u + 2u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 2u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c2_0; }
    if ((a0 + ty * 4u + 2u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 2u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c2_1; }
    if ((a0 + ty * 4u + 3u) < DQK && (c0 + tx * 4u + 0u) < DHV) { sc[(slot + (a0 + ty * 4u + 3u) * DHV + (c0 + tx * 4u + 0u)) / 4u] = c3_0; }
    if ((a0 + ty * 4u + 3u) < DQK && (c0 + tx * 4u + 64u) < DHV) { sc[(slot + (a0 + ty * 4u + 3u) * DHV + (c0 + tx * 4u + 64u)) / 4u] = c3_1; }
    let nmk = nm0 + (k + 1u) * (DQK + 1u);
    if (ownsN) { snm[nmk + a0 + lid] = nReg; }
    if (ownsM) { snm[nmk + DQK] = m; }
  }
}
