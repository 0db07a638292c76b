alias T = f32;
struct U {
  S: u32, L: u32, NC: u32, BH: u32,
  bh0: u32, DQK: u32, DHV: u32, keep: u32,
  eps: f32, scale: f32, p0: u32, p1: u32,
}

@group(0) @binding(0) var<storage, read> qin: array<vec4<T>>;
@group(0) @binding(1) var<storage, read> kin: array<vec4<T>>;
@group(0) @binding(2) var<storage, read> vin: array<vec4<T>>;
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
@group(0) @binding(4) var<storage, read> sc: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> snm: array<f32>;
@group(0) @binding(6) var<storage, read_write> hout: array<vec4<T>>;
@group(0) @binding(7) var<storage, read_write> xout: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> u: U;
var<workgroup> qs: array<vec4<f32>, 512>;
var<workgroup> st: array<vec4<f32>, 2048>;
var<workgroup> kss: array<f32, 64>;
var<workgroup> kls: array<f32, 64>;
var<workgroup> kis: array<f32, 64>;
var<workgroup> ns: array<f32, 32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tx = lid % 16u;
  let ty = lid / 16u;
  let gy = (lid / 32u) % 4u * 4u + (lid % 32u) / 8u;
  let gx = (lid / 32u) / 4u * 8u + lid % 8u;
  let c0 = wg.x * 256u;
  let qb = wg.y;
  let k = wg.z % u.NC;
  let bhl = wg.z / u.NC;
  let bh = u.bh0 + bhl;
  let DQK = u.DQK;
  let DHV = u.DHV;
  let S = u.S;
  let N = u.BH * S;
  let t0 = k * u.L;
  let lc = min(u.L, S - t0);
  let qr0 = qb * 64u;
  if (qr0 >= lc) { return; }
  let rowBase = bh * S + t0;
  let NC1 = u.NC + 1u;
  let slotC = (bhl * NC1 + k) * DQK * DHV;
  let slotNM = (bhl * NC1 + k) * (DQK + 1u);
  let r0 = qr0 + ty * 4u;
  let r1 = r0 + 1u;
  let r2 = r0 + 2u;
  let r3 = r0 + 3u;
  let bq = vec4<f32>(select(0.0, gates[rowBase + r0], r0 < lc), select(0.0, gates[rowBase + r1], r1 < lc), select(0.0, gates[rowBase + r2], r2 < lc), select(0.0, gates[rowBase + r3], r3 < lc));
  // Block totals of b̂ of this chunk; b from the chunk start = (totals of the blocks before) + b̂.
  let tb = 8u * N + 2u * u.BH * u.NC + (bh * u.NC + k) * ((u.L + 63u) / 64u);
  var pq = 0.0;
  for (var x = 0u; x < qb; x++) {
    pq += gates[tb + x];
  }
  let bAbs = bq + vec4<f32>(pq);
  let mi = vec4<f32>(select(0.0, gates[3u * N + rowBase + r0], r0 < lc), select(0.0, gates[3u * N + rowBase + r1], r1 < lc), select(0.0, gates[3u * N + rowBase + r2], r2 < lc), select(0.0, gates[3u * N + rowBase + r3], r3 < lc));
  let mPrev = snm[slotNM + DQK];
  let mc = max(bAbs + vec4<f32>(mPrev), mi);
  let fi = exp(bAbs + vec4<f32>(mPrev) - mc) * u.scale;
  let bqG = vec4<f32>(select(0.0, gates[rowBase + qr0 + gy * 4u + 0u], qr0 + gy * 4u + 0u < lc), select(0.0, gates[rowBase + qr0 + gy * 4u + 1u], qr0 + gy * 4u + 1u < lc), select(0.0, gates[rowBase + qr0 + gy * 4u + 2u], qr0 + gy * 4u + 2u < lc), select(0.0, gates[rowBase + qr0 + gy * 4u + 3u], qr0 + gy * 4u + 3u < lc));
  let mcG = max(bqG + vec4<f32>(pq) + vec4<f32>(mPrev), vec4<f32>(select(0.0, gates[3u * N + rowBase + qr0 + gy * 4u + 0u], qr0 + gy * 4u + 0u < lc), select(0.0, gates[3u * N + rowBase + qr0 + gy * 4u + 1u], qr0 + gy * 4u + 1u < lc), select(0.0, gates[3u * N + rowBase + qr0 + gy * 4u + 2u], qr0 + gy * 4u + 2u < lc), select(0.0, gates[3u * N + rowBase + qr0 + gy * 4u + 3u], qr0 + gy * 4u + 3u < lc)));
  var h0_0 = vec4<f32>(0.0);
  var h0_1 = vec4<f32>(0.0);
  var h0_2 = vec4<f32>(0.0);
  var h0_3 = vec4<f32>(0.0);
  var h1_0 = vec4<f32>(0.0);
  var h1_1 = vec4<f32>(0.0);
  var h1_2 = vec4<f32>(0.0);
  var h1_3 = vec4<f32>(0.0);
  var h2_0 = vec4<f32>(0.0);
  var h2_1 = vec4<f32>(0.0);
  var h2_2 = vec4<f32>(0.0);
  var h2_3 = vec4<f32>(0.0);
  var h3_0 = vec4<f32>(0.0);
  var h3_1 = vec4<f32>(0.0);
  var h3_2 = vec4<f32>(0.0);
  var h3_3 = vec4<f32>(0.0);
  var den = vec4<f32>(0.0);
  for (var d0 = 0u; d0 < DQK; d0 += 32u) {
      { let x4 = lid + 0u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(qin[((rowBase + qr0 + rr) * DQK + d0 + cc) / 4u]), qr0 + rr < lc && d0 + cc < DQK); qs[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; qs[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; qs[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; qs[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
      { let x4 = lid + 256u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(qin[((rowBase + qr0 + rr) * DQK + d0 + cc) / 4u]), qr0 + rr < lc && d0 + cc < DQK); qs[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; qs[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; qs[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; qs[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
      { let x4 = lid + 0u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 256u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 512u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 768u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 1024u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 1280u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 1536u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      { let x4 = lid + 1792u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), sc[(slotC + (d0 + rr) * DHV + c0 + cc) / 4u], d0 + rr < DQK && c0 + cc < DHV); }
      if (lid < 32u) { ns[lid] = select(0.0, snm[slotNM + d0 + lid], d0 + lid < DQK); }
      workgroupBarrier();
      {
        let a = qs[0u + ty];
        let c0 = st[0u + tx];
        let c1 = st[0u + tx + 16u];
        let c2 = st[0u + tx + 32u];
        let c3 = st[0u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[0];
      }
      {
        let a = qs[16u + ty];
        let c0 = st[64u + tx];
        let c1 = st[64u + tx + 16u];
        let c2 = st[64u + tx + 32u];
        let c3 = st[64u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[1];
      }
      {
        let a = qs[32u + ty];
        let c0 = st[128u + tx];
        let c1 = st[128u + tx + 16u];
        let c2 = st[128u + tx + 32u];
        let c3 = st[128u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[2];
      }
      {
        let a = qs[48u + ty];
        let c0 = st[192u + tx];
        let c1 = st[192u + tx + 16u];
        let c2 = st[192u + tx + 32u];
        let c3 = st[192u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[3];
      }
      {
        let a = qs[64u + ty];
        let c0 = st[256u + tx];
        let c1 = st[256u + tx + 16u];
        let c2 = st[256u + tx + 32u];
        let c3 = st[256u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[4];
      }
      {
        let a = qs[80u + ty];
        let c0 = st[320u + tx];
        let c1 = st[320u + tx + 16u];
        let c2 = st[320u + tx + 32u];
        let c3 = st[320u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[5];
      }
      {
        let a = qs[96u + ty];
        let c0 = st[384u + tx];
        let c1 = st[384u + tx + 16u];
        let c2 = st[384u + tx + 32u];
        let c3 = st[384u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[6];
      }
      {
        let a = qs[112u + ty];
        let c0 = st[448u + tx];
        let c1 = st[448u + tx + 16u];
        let c2 = st[448u + tx + 32u];
        let c3 = st[448u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[7];
      }
      {
        let a = qs[128u + ty];
        let c0 = st[512u + tx];
        let c1 = st[512u + tx + 16u];
        let c2 = st[512u + tx + 32u];
        let c3 = st[512u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[8];
      }
      {
        let a = qs[144u + ty];
        let c0 = st[576u + tx];
        let c1 = st[576u + tx + 16u];
        let c2 = st[576u + tx + 32u];
        let c3 = st[576u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[9];
      }
      {
        let a = qs[160u + ty];
        let c0 = st[640u + tx];
        let c1 = st[640u + tx + 16u];
        let c2 = st[640u + tx + 32u];
        let c3 = st[640u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[10];
      }
      {
        let a = qs[176u + ty];
        let c0 = st[704u + tx];
        let c1 = st[704u + tx + 16u];
        let c2 = st[704u + tx + 32u];
        let c3 = st[704u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[11];
      }
      {
        let a = qs[192u + ty];
        let c0 = st[768u + tx];
        let c1 = st[768u + tx + 16u];
        let c2 = st[768u + tx + 32u];
        let c3 = st[768u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[12];
      }
      {
        let a = qs[208u + ty];
        let c0 = st[832u + tx];
        let c1 = st[832u + tx + 16u];
        let c2 = st[832u + tx + 32u];
        let c3 = st[832u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[13];
      }
      {
        let a = qs[224u + ty];
        let c0 = st[896u + tx];
        let c1 = st[896u + tx + 16u];
        let c2 = st[896u + tx + 32u];
        let c3 = st[896u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[14];
      }
      {
        let a = qs[240u + ty];
        let c0 = st[960u + tx];
        let c1 = st[960u + tx + 16u];
        let c2 = st[960u + tx + 32u];
        let c3 = st[960u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[15];
      }
      {
        let a = qs[256u + ty];
        let c0 = st[1024u + tx];
        let c1 = st[1024u + tx + 16u];
        let c2 = st[1024u + tx + 32u];
        let c3 = st[1024u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[16];
      }
      {
        let a = qs[272u + ty];
        let c0 = st[1088u + tx];
        let c1 = st[1088u + tx + 16u];
        let c2 = st[1088u + tx + 32u];
        let c3 = st[1088u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[17];
      }
      {
        let a = qs[288u + ty];
        let c0 = st[1152u + tx];
        let c1 = st[1152u + tx + 16u];
        let c2 = st[1152u + tx + 32u];
        let c3 = st[1152u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[18];
      }
      {
        let a = qs[304u + ty];
        let c0 = st[1216u + tx];
        let c1 = st[1216u + tx + 16u];
        let c2 = st[1216u + tx + 32u];
        let c3 = st[1216u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[19];
      }
      {
        let a = qs[320u + ty];
        let c0 = st[1280u + tx];
        let c1 = st[1280u + tx + 16u];
        let c2 = st[1280u + tx + 32u];
        let c3 = st[1280u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[20];
      }
      {
        let a = qs[336u + ty];
        let c0 = st[1344u + tx];
        let c1 = st[1344u + tx + 16u];
        let c2 = st[1344u + tx + 32u];
        let c3 = st[1344u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[21];
      }
      {
        let a = qs[352u + ty];
        let c0 = st[1408u + tx];
        let c1 = st[1408u + tx + 16u];
        let c2 = st[1408u + tx + 32u];
        let c3 = st[1408u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[22];
      }
      {
        let a = qs[368u + ty];
        let c0 = st[1472u + tx];
        let c1 = st[1472u + tx + 16u];
        let c2 = st[1472u + tx + 32u];
        let c3 = st[1472u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[23];
      }
      {
        let a = qs[384u + ty];
        let c0 = st[1536u + tx];
        let c1 = st[1536u + tx + 16u];
        let c2 = st[1536u + tx + 32u];
        let c3 = st[1536u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[24];
      }
      {
        let a = qs[400u + ty];
        let c0 = st[1600u + tx];
        let c1 = st[1600u + tx + 16u];
        let c2 = st[1600u + tx + 32u];
        let c3 = st[1600u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[25];
      }
      {
        let a = qs[416u + ty];
        let c0 = st[1664u + tx];
        let c1 = st[1664u + tx + 16u];
        let c2 = st[1664u + tx + 32u];
        let c3 = st[1664u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[26];
      }
      {
        let a = qs[432u + ty];
        let c0 = st[1728u + tx];
        let c1 = st[1728u + tx + 16u];
        let c2 = st[1728u + tx + 32u];
        let c3 = st[1728u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[27];
      }
      {
        let a = qs[448u + ty];
        let c0 = st[1792u + tx];
        let c1 = st[1792u + tx + 16u];
        let c2 = st[1792u + tx + 32u];
        let c3 = st[1792u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[28];
      }
      {
        let a = qs[464u + ty];
        let c0 = st[1856u + tx];
        let c1 = st[1856u + tx + 16u];
        let c2 = st[1856u + tx + 32u];
        let c3 = st[1856u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[29];
      }
      {
        let a = qs[480u + ty];
        let c0 = st[1920u + tx];
        let c1 = st[1920u + tx + 16u];
        let c2 = st[1920u + tx + 32u];
        let c3 = st[1920u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[30];
      }
      {
        let a = qs[496u + ty];
        let c0 = st[1984u + tx];
        let c1 = st[1984u + tx + 16u];
        let c2 = st[1984u + tx + 32u];
        let c3 = st[1984u + tx + 48u];
        h0_0 += a.x * c0;
        h0_1 += a.x * c1;
        h0_2 += a.x * c2;
        h0_3 += a.x * c3;
        h1_0 += a.y * c0;
        h1_1 += a.y * c1;
        h1_2 += a.y * c2;
        h1_3 += a.y * c3;
        h2_0 += a.z * c0;
        h2_1 += a.z * c1;
        h2_2 += a.z * c2;
        h2_3 += a.z * c3;
        h3_0 += a.w * c0;
        h3_1 += a.w * c1;
        h3_2 += a.w * c2;
        h3_3 += a.w * c3;
        den += a * ns[31];
      }
      workgroupBarrier();
  }
  h0_0 *= fi.x;
  h0_1 *= fi.x;
  h0_2 *= fi.x;
  h0_3 *= fi.x;
  h1_0 *= fi.y;
  h1_1 *= fi.y;
  h1_2 *= fi.y;
  h1_3 *= fi.y;
  h2_0 *= fi.z;
  h2_1 *= fi.z;
  h2_2 *= fi.z;
  h2_3 *= fi.z;
  h3_0 *= fi.w;
  h3_1 *= fi.w;
  h3_2 *= fi.w;
  h3_3 *= fi.w;
  den *= fi;
  for (var kk = 0u; kk <= qb; kk++) {
    let kb = kk;
    let kr0 = kb * 64u;
    var dq = 0.0;
    for (var x = kb + 1u; x < qb; x++) {
      dq += gates[tb + x];
    }
    if (lid < 64u) {
      kss[lid] = select(0.0, gates[6u * N + rowBase + kr0 + lid], kr0 + lid < lc);
      kls[lid] = select(0.0, gates[7u * N + rowBase + kr0 + lid], kr0 + lid < lc);
      kis[lid] = select(0.0, gates[N + rowBase + kr0 + lid], kr0 + lid < lc);
    }
    var g0 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0);
    var g2 = vec4<f32>(0.0);
    var g3 = vec4<f32>(0.0);
    for (var d0 = 0u; d0 < DQK; d0 += 32u) {
        { let x4 = lid + 0u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(qin[((rowBase + qr0 + rr) * DQK + d0 + cc) / 4u]), qr0 + rr < lc && d0 + cc < DQK); qs[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; qs[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; qs[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; qs[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
        { let x4 = lid + 256u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(qin[((rowBase + qr0 + rr) * DQK + d0 + cc) / 4u]), qr0 + rr < lc && d0 + cc < DQK); qs[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; qs[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; qs[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; qs[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
        { let x4 = lid + 0u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(kin[((rowBase + kr0 + rr) * DQK + d0 + cc) / 4u]), kr0 + rr < lc && d0 + cc < DQK); st[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; st[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; st[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; st[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
        { let x4 = lid + 256u; let rr = (x4 / 2u) % 64u; let cc = ((x4 / 128u) * 2u + x4 % 2u) * 4u; let w4 = select(vec4<f32>(0.0), vec4<f32>(kin[((rowBase + kr0 + rr) * DQK + d0 + cc) / 4u]), kr0 + rr < lc && d0 + cc < DQK); st[(cc + 0u) * 16u + rr / 4u][rr % 4u] = w4.x; st[(cc + 1u) * 16u + rr / 4u][rr % 4u] = w4.y; st[(cc + 2u) * 16u + rr / 4u][rr % 4u] = w4.z; st[(cc + 3u) * 16u + rr / 4u][rr % 4u] = w4.w; }
        workgroupBarrier();
        if (kb < qb || gx <= gy) {
        {
          let a = qs[0u + gy];
          let kv = st[0u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[16u + gy];
          let kv = st[16u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[32u + gy];
          let kv = st[32u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[48u + gy];
          let kv = st[48u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[64u + gy];
          let kv = st[64u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[80u + gy];
          let kv = st[80u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[96u + gy];
          let kv = st[96u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[112u + gy];
          let kv = st[112u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[128u + gy];
          let kv = st[128u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[144u + gy];
          let kv = st[144u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[160u + gy];
          let kv = st[160u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[176u + gy];
          let kv = st[176u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[192u + gy];
          let kv = st[192u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[208u + gy];
          let kv = st[208u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[224u + gy];
          let kv = st[224u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[240u + gy];
          let kv = st[240u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[256u + gy];
          let kv = st[256u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[272u + gy];
          let kv = st[272u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[288u + gy];
          let kv = st[288u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[304u + gy];
          let kv = st[304u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[320u + gy];
          let kv = st[320u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[336u + gy];
          let kv = st[336u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[352u + gy];
          let kv = st[352u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[368u + gy];
          let kv = st[368u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[384u + gy];
          let kv = st[384u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[400u + gy];
          let kv = st[400u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[416u + gy];
          let kv = st[416u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[432u + gy];
          let kv = st[432u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[448u + gy];
          let kv = st[448u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[464u + gy];
          let kv = st[464u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[480u + gy];
          let kv = st[480u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        {
          let a = qs[496u + gy];
          let kv = st[496u + gx];
          g0 += a.x * kv;
          g1 += a.y * kv;
          g2 += a.z * kv;
          g3 += a.w * kv;
        }
        }
        workgroupBarrier();
    }
    if (kb == qb && wg.x == 0u) {
      let xb4 = rowBase * (DQK / 4u);
      if (qr0 + gy * 4u + 0u < lc) { xout[xb4 + (qr0 + gy * 4u + 0u) * 16u + kr0 / 4u + gx] = g0; }
      if (qr0 + gy * 4u + 1u < lc) { xout[xb4 + (qr0 + gy * 4u + 1u) * 16u + kr0 / 4u + gx] = g1; }
      if (qr0 + gy * 4u + 2u < lc) { xout[xb4 + (qr0 + gy * 4u + 2u) * 16u + kr0 / 4u + gx] = g2; }
      if (qr0 + gy * 4u + 3u < lc) { xout[xb4 + (qr0 + gy * 4u + 3u) * 16u + kr0 / 4u + gx] = g3; }
    }
    let ki4 = vec4<f32>(kis[gx * 4u], kis[gx * 4u + 1u], kis[gx * 4u + 2u], kis[gx * 4u + 3u]);
    let key = vec4<u32>(kr0 + gx * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
    var R0: vec4<f32>;
    var R1: vec4<f32>;
    var R2: vec4<f32>;
    var R3: vec4<f32>;
    if (kb < qb) {
      let ks4 = vec4<f32>(kss[gx * 4u], kss[gx * 4u + 1u], kss[gx * 4u + 2u], kss[gx * 4u + 3u]);
      R0 = (vec4<f32>(bqG.x) + ks4) + vec4<f32>(dq);
      R1 = (vec4<f32>(bqG.y) + ks4) + vec4<f32>(dq);
      R2 = (vec4<f32>(bqG.z) + ks4) + vec4<f32>(dq);
      R3 = (vec4<f32>(bqG.w) + ks4) + vec4<f32>(dq);
    } else {
      let lq = vec4<f32>(kls[gy * 4u], kls[gy * 4u + 1u], kls[gy * 4u + 2u], kls[gy * 4u + 3u]);
      if (gx < gy) {
        let lk = vec4<f32>(kls[gx * 4u], kls[gx * 4u + 1u], kls[gx * 4u + 2u], kls[gx * 4u + 3u]);
        var mid = 0.0;
        for (var x = gx * 4u + 4u; x < gy * 4u; x++) {
          mid += kls[x];
        }
        let p01 = lq.x + lq.y;
        let p012 = p01 + lq.z;
        let p4 = vec4<f32>(lq.x, p01, p012, p012 + lq.w);
        let s23 = lk.z + lk.w;
        let s4 = vec4<f32>(lk.y + s23, s23, lk.w, 0.0);
        R0 = vec4<f32>(p4.x + mid) + s4;
        R1 = vec4<f32>(p4.y + mid) + s4;
        R2 = vec4<f32>(p4.z + mid) + s4;
        R3 = vec4<f32>(p4.w + mid) + s4;
      } else {
        let q23 = lq.y + lq.z;
        R0 = vec4<f32>(0.0);
        R1 = vec4<f32>(lq.y, 0.0, 0.0, 0.0);
        R2 = vec4<f32>(q23, lq.z, 0.0, 0.0);
        R3 = vec4<f32>(q23 + lq.w, lq.z + lq.w, lq.w, 0.0);
      }
    }
    let p0 = select(vec4<f32>(0.0), g0 * (exp((R0 + ki4) - mcG.x) * u.scale), (key <= vec4<u32>(qr0 + gy * 4u + 0u)) & (key < vec4<u32>(lc)));
    let p1 = select(vec4<f32>(0.0), g1 * (exp((R1 + ki4) - mcG.y) * u.scale), (key <= vec4<u32>(qr0 + gy * 4u + 1u)) & (key < vec4<u32>(lc)));
    let p2 = select(vec4<f32>(0.0), g2 * (exp((R2 + ki4) - mcG.z) * u.scale), (key <= vec4<u32>(qr0 + gy * 4u + 2u)) & (key < vec4<u32>(lc)));
    let p3 = select(vec4<f32>(0.0), g3 * (exp((R3 + ki4) - mcG.w) * u.scale), (key <= vec4<u32>(qr0 + gy * 4u + 3u)) & (key < vec4<u32>(lc)));
    st[1024u + (gx * 4u + 0u) * 16u + gy] = vec4<f32>(p0.x, p1.x, p2.x, p3.x);
    st[1024u + (gx * 4u + 1u) * 16u + gy] = vec4<f32>(p0.y, p1.y, p2.y, p3.y);
    st[1024u + (gx * 4u + 2u) * 16u + gy] = vec4<f32>(p0.z, p1.z, p2.z, p3.z);
    st[1024u + (gx * 4u + 3u) * 16u + gy] = vec4<f32>(p0.w, p1.w, p2.w, p3.w);
    for (var j0 = 0u; j0 < 64u; j0 += 16u) {
        { let x4 = lid + 0u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + kr0 + j0 + rr) * DHV + c0 + cc) / 4u]), kr0 + j0 + rr < lc && c0 + cc < DHV); }
        { let x4 = lid + 256u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + kr0 + j0 + rr) * DHV + c0 + cc) / 4u]), kr0 + j0 + rr < lc && c0 + cc < DHV); }
        { let x4 = lid + 512u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + kr0 + j0 + rr) * DHV + c0 + cc) / 4u]), kr0 + j0 + rr < lc && c0 + cc < DHV); }
        { let x4 = lid + 768u; let rr = x4 / 64u; let cc = (x4 % 64u) * 4u; st[x4] = select(vec4<f32>(0.0), vec4<f32>(vin[((rowBase + kr0 + j0 + rr) * DHV + c0 + cc) / 4u]), kr0 + j0 + rr < lc && c0 + cc < DHV); }
        workgroupBarrier();
        if (kb < qb || j0 + 0u <= ty * 4u + 3u) {
        {
          let a = st[1024u + (j0 + 0u) * 16u + ty];
          let v0 = st[0u + tx];
          let v1 = st[0u + tx + 16u];
          let v2 = st[0u + tx + 32u];
          let v3 = st[0u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 1u) * 16u + ty];
          let v0 = st[64u + tx];
          let v1 = st[64u + tx + 16u];
          let v2 = st[64u + tx + 32u];
          let v3 = st[64u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 2u) * 16u + ty];
          let v0 = st[128u + tx];
          let v1 = st[128u + tx + 16u];
          let v2 = st[128u + tx + 32u];
          let v3 = st[128u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 3u) * 16u + ty];
          let v0 = st[192u + tx];
          let v1 = st[192u + tx + 16u];
          let v2 = st[192u + tx + 32u];
          let v3 = st[192u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 4u) * 16u + ty];
          let v0 = st[256u + tx];
          let v1 = st[256u + tx + 16u];
          let v2 = st[256u + tx + 32u];
          let v3 = st[256u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 5u) * 16u + ty];
          let v0 = st[320u + tx];
          let v1 = st[320u + tx + 16u];
          let v2 = st[320u + tx + 32u];
          let v3 = st[320u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 6u) * 16u + ty];
          let v0 = st[384u + tx];
          let v1 = st[384u + tx + 16u];
          let v2 = st[384u + tx + 32u];
          let v3 = st[384u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 7u) * 16u + ty];
          let v0 = st[448u + tx];
          let v1 = st[448u + tx + 16u];
          let v2 = st[448u + tx + 32u];
          let v3 = st[448u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        }
        if (kb < qb || j0 + 8u <= ty * 4u + 3u) {
        {
          let a = st[1024u + (j0 + 8u) * 16u + ty];
          let v0 = st[512u + tx];
          let v1 = st[512u + tx + 16u];
          let v2 = st[512u + tx + 32u];
          let v3 = st[512u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 9u) * 16u + ty];
          let v0 = st[576u + tx];
          let v1 = st[576u + tx + 16u];
          let v2 = st[576u + tx + 32u];
          let v3 = st[576u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 10u) * 16u + ty];
          let v0 = st[640u + tx];
          let v1 = st[640u + tx + 16u];
          let v2 = st[640u + tx + 32u];
          let v3 = st[640u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 11u) * 16u + ty];
          let v0 = st[704u + tx];
          let v1 = st[704u + tx + 16u];
          let v2 = st[704u + tx + 32u];
          let v3 = st[704u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 12u) * 16u + ty];
          let v0 = st[768u + tx];
          let v1 = st[768u + tx + 16u];
          let v2 = st[768u + tx + 32u];
          let v3 = st[768u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 13u) * 16u + ty];
          let v0 = st[832u + tx];
          let v1 = st[832u + tx + 16u];
          let v2 = st[832u + tx + 32u];
          let v3 = st[832u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 14u) * 16u + ty];
          let v0 = st[896u + tx];
          let v1 = st[896u + tx + 16u];
          let v2 = st[896u + tx + 32u];
          let v3 = st[896u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        {
          let a = st[1024u + (j0 + 15u) * 16u + ty];
          let v0 = st[960u + tx];
          let v1 = st[960u + tx + 16u];
          let v2 = st[960u + tx + 32u];
          let v3 = st[960u + tx + 48u];
          h0_0 += a.x * v0;
          h0_1 += a.x * v1;
          h0_2 += a.x * v2;
          h0_3 += a.x * v3;
          h1_0 += a.y * v0;
          h1_1 += a.y * v1;
          h1_2 += a.y * v2;
          h1_3 += a.y * v3;
          h2_0 += a.z * v0;
          h2_1 += a.z * v1;
          h2_2 += a.z * v2;
          h2_3 += a.z * v3;
          h3_0 += a.w * v0;
          h3_1 += a.w * v1;
          h3_2 += a.w * v2;
          h3_3 += a.w * v3;
          den += a;
        }
        }
        workgroupBarrier();
    }
  }
  let nrm = max(abs(den), exp(-mc));
  let inv = 1.0 / (nrm + vec4<f32>(u.eps));
  if (r0 < lc && (c0 + (tx) * 4u) < DHV) { hout[((rowBase + r0) * DHV + (c0 + (tx) * 4u)) / 4u] = vec4<T>(h0_0 * inv.x); }
  if (r0 < lc && (c0 + (tx + 16u) * 4u) < DHV) { hout[((rowBase + r0) * DHV + (c0 + (tx + 16u) * 4u)) / 4u] = vec4<T>(h0_1 * inv.x); }
  if (r0 < lc && (c0 + (tx + 32u) * 4u) < DHV) { hout[((rowBase + r0) * DHV + (c0 + (tx + 32u) * 4u)) / 4u] = vec4<T>(h0_2 * inv.x); }
  if (r0 < lc && (c0 + (tx + 48u) * 4u) < DHV) { hout[((rowBase + r0) * DHV + (c0 + (tx + 48u) * 4u)) / 4u] = vec4<T>(h0_3 * inv.x); }
  if (r1 < lc && (c0 + (tx) * 4u) < DHV) { hout[((rowBase + r1) * DHV + (c0 + (tx) * 4u)) / 4u] = vec4<T>(h1_0 * inv.y); }
  if (r1 < lc && (c0 + (tx + 16u) * 4u) < DHV) { hout[((rowBase + r1) * DHV + (c0 + (tx + 16u) * 4u)) / 4u] = vec4<T>(h1_1 * inv.y); }
  if (r1 < lc && (c0 + (tx + 32u) * 4u) < DHV) { hout[((rowBase + r1) * DHV + (c0 + (tx + 32u) * 4u)) / 4u] = vec4<T>(h1_2 * inv.y); }
  if (r1 < lc && (c0 + (tx + 48u) * 4u) < DHV) { hout[((rowBase + r1) * DHV + (c0 + (tx + 48u) * 4u)) / 4u] = vec4<T>(h1_3 * inv.y); }
  if (r2 < lc && (c0 + (tx) * 4u) < DHV) { hout[((rowBase + r2) * DHV + (c0 + (tx) * 4u)) / 4u] = vec4<T>(h2_0 * inv.z); }
  if (r2 < lc && (c0 + (tx + 16u) * 4u) < DHV) { hout[((rowBase + r2) * DHV + (c0 + (tx + 16u) * 4u)) / 4u] = vec4<T>(h2_1 * inv.z); }
  if (r2 < lc && (c0 + (tx + 32u) * 4u) < DHV) { hout[((rowBase + r2) * DHV + (c0 + (tx + 32u) * 4u)) / 4u] = vec4<T>(h2_2 * inv.z); }
  if (r2 < lc && (c0 + (tx + 48u) * 4u) < DHV) { hout[((rowBase + r2) * DHV + (c0 + (tx + 48u) * 4u)) / 4u] = vec4<T>(h2_3 * inv.z); }
  if (r3 < lc && (c0 + (tx) * 4u) < DHV) { hout[((rowBase + r3) * DHV + (c0 + (tx) * 4u)) / 4u] = vec4<T>(h3_0 * inv.w); }
  if (r3 < lc && (c0 + (tx + 16u) * 4u) < DHV) { hout[((rowBase + r3) * DHV + (c0 + (tx + 16u) * 4u)) / 4u] = vec4<T>(h3_1 * inv.w); }
  if (r3 < lc && (c0 + (tx + 32u) * 4u) < DHV) { hout[((rowBase + r3) * DHV + (c0 + (tx + 32u) * 4u)) / 4u] = vec4<T>(h3_2 * inv.w); }
  if (r3 < lc && (c0 + (tx + 48u) * 4u) < DHV) { hout[((rowBase + r3) * DHV + (c0 + (tx + 48u) * 4u)) / 4u] = vec4<T>(h3_3 * inv.w); }
  if (u.keep != 0u && wg.x == 0u && tx == 0u) {
    if (r0 < lc) { gates[4u * N + rowBase + r0] = mc.x; gates[5u * N + rowBase + r0] = nrm.x; }
    if (r1 < lc) { gates[4u * N + rowBase + r1] = mc.y; gates[5u * N + rowBase + r1] = nrm.y; }
    if (r2 < lc) { gates[4u * N + rowBase + r2] = mc.z; gates[5u * N + rowBase + r2] = nrm.z; }
    if (r3 < lc) { gates[4u * N + rowBase + r3] = mc.w; gates[5u * N + rowBase + r3] = nrm.w; }
  }
}
