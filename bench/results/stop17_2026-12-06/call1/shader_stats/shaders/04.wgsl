
struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, H0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
fn ld_q(row: u32, c4: u32) -> vec4f {
  return vec4f(q[row * 32u + c4]);
}

@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
fn ld_k(row: u32, c4: u32) -> vec4f {
  return vec4f(k[row * 32u + c4]);
}

@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
fn ld_v(row: u32, c4: u32) -> vec4f {
  return vec4f(v[row * 64u + c4]);
}

@group(0) @binding(3) var<storage, read> dh: array<vec4<f32>>;
fn ld_dh(row: u32, c4: u32) -> vec4f {
  return vec4f(dh[row * 64u + c4]);
}

@group(0) @binding(4) var<storage, read> gi: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> st: array<vec4f>;
@group(0) @binding(6) var<storage, read> mp: array<f32>;
@group(0) @binding(7) var<storage, read_write> rso: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> dmt: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<vec4<f32>>;
fn ld_dq(row: u32, c4: u32) -> vec4f {
  return vec4f(dq[row * 32u + c4]);
}
fn st_dq(row: u32, c4: u32, x: vec4f) {
  dq[row * 32u + c4] = vec4<f32>(x);
}

@group(0) @binding(10) var<storage, read_write> rsum: array<f32>;
@group(0) @binding(11) var<storage, read> xf: array<vec4f>;
@group(0) @binding(12) var<uniform> u: U;
var<workgroup> stg: array<vec4f, 2560>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let seg = wid.y;
  let lb = wid.z;
  let bh = u.H0 + lb;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let segStart = seg * u.L;
  let segEnd = min(u.S, segStart + u.L);
  let tileFirst = segStart + wid.x * 64u;
  let rowBase = bh * u.S;
  let mprev = mp[(lb * (u.NC + 1u) + seg) * 129u + 128u];
  let own0 = tileFirst + ty * 4u + 0u;
  let valid0 = own0 < segEnd;
  let rc0 = rowBase + min(own0, segEnd - 1u);
  let gown0 = gi[rc0];
  var offp0 = 0.0;
  let mc0 = max((gown0.x + gown0.w) + mprev, gown0.z);
  let beta0 = exp((gown0.x + gown0.w) + mprev - mc0);
  var den0 = 0.0;
  var hd0 = 0.0;
  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var pa0 = 0.0;
  var pb0 = 0.0;
  var rr0 = vec4f(0.0);
  var rrG0 = vec4f(0.0);
  let own1 = tileFirst + ty * 4u + 1u;
  let valid1 = own1 < segEnd;
  let rc1 = rowBase + min(own1, segEnd - 1u);
  let gown1 = gi[rc1];
  var offp1 = 0.0;
  let mc1 = max((gown1.x + gown1.w) + mprev, gown1.z);
  let beta1 = exp((gown1.x + gown1.w) + mprev - mc1);
  var den1 = 0.0;
  var hd1 = 0.0;
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var pa1 = 0.0;
  var pb1 = 0.0;
  var rr1 = vec4f(0.0);
  var rrG1 = vec4f(0.0);
  let own2 = tileFirst + ty * 4u + 2u;
  let valid2 = own2 < segEnd;
  let rc2 = rowBase + min(own2, segEnd - 1u);
  let gown2 = gi[rc2];
  var offp2 = 0.0;
  let mc2 = max((gown2.x + gown2.w) + mprev, gown2.z);
  let beta2 = exp((gown2.x + gown2.w) + mprev - mc2);
  var den2 = 0.0;
  var hd2 = 0.0;
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var pa2 = 0.0;
  var pb2 = 0.0;
  var rr2 = vec4f(0.0);
  var rrG2 = vec4f(0.0);
  let own3 = tileFirst + ty * 4u + 3u;
  let valid3 = own3 < segEnd;
  let rc3 = rowBase + min(own3, segEnd - 1u);
  let gown3 = gi[rc3];
  var offp3 = 0.0;
  let mc3 = max((gown3.x + gown3.w) + mprev, gown3.z);
  let beta3 = exp((gown3.x + gown3.w) + mprev - mc3);
  var den3 = 0.0;
  var hd3 = 0.0;
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  var pa3 = 0.0;
  var pb3 = 0.0;
  var rr3 = vec4f(0.0);
  var rrG3 = vec4f(0.0);
  let gy = (lid / 32u) % 4u * 4u + (lid % 32u) / 8u;
  let gx = (lid / 32u) / 4u * 8u + lid % 8u;
  let ownG0 = tileFirst + gy * 4u + 0u;
  let validG0 = ownG0 < segEnd;
  let rcG0 = rowBase + min(ownG0, segEnd - 1u);
  let gownG0 = gi[rcG0];
  var offpG0 = 0.0;
  let mcG0 = max((gownG0.x + gownG0.w) + mprev, gownG0.z);
  var denG0 = 0.0;
  var hdG0 = 0.0;
  var paG0 = 0.0;
  var pbG0 = 0.0;
  let ownG1 = tileFirst + gy * 4u + 1u;
  let validG1 = ownG1 < segEnd;
  let rcG1 = rowBase + min(ownG1, segEnd - 1u);
  let gownG1 = gi[rcG1];
  var offpG1 = 0.0;
  let mcG1 = max((gownG1.x + gownG1.w) + mprev, gownG1.z);
  var denG1 = 0.0;
  var hdG1 = 0.0;
  var paG1 = 0.0;
  var pbG1 = 0.0;
  let ownG2 = tileFirst + gy * 4u + 2u;
  let validG2 = ownG2 < segEnd;
  let rcG2 = rowBase + min(ownG2, segEnd - 1u);
  let gownG2 = gi[rcG2];
  var offpG2 = 0.0;
  let mcG2 = max((gownG2.x + gownG2.w) + mprev, gownG2.z);
  var denG2 = 0.0;
  var hdG2 = 0.0;
  var paG2 = 0.0;
  var pbG2 = 0.0;
  let ownG3 = tileFirst + gy * 4u + 3u;
  let validG3 = ownG3 < segEnd;
  let rcG3 = rowBase + min(ownG3, segEnd - 1u);
  let gownG3 = gi[rcG3];
  var offpG3 = 0.0;
  let mcG3 = max((gownG3.x + gownG3.w) + mprev, gownG3.z);
  var denG3 = 0.0;
  var hdG3 = 0.0;
  var paG3 = 0.0;
  var pbG3 = 0.0;
  {
    let sb4 = (lb * (u.NC + 1u) + seg) * 8192u;
    let nb = (lb * (u.NC + 1u) + seg) * 129u;
    let nn0 = vec4f(mp[nb + (tx + 0u) * 4u], mp[nb + (tx + 0u) * 4u + 1u], mp[nb + (tx + 0u) * 4u + 2u], mp[nb + (tx + 0u) * 4u + 3u]);
    let nn1 = vec4f(mp[nb + (tx + 16u) * 4u], mp[nb + (tx + 16u) * 4u + 1u], mp[nb + (tx + 16u) * 4u + 2u], mp[nb + (tx + 16u) * 4u + 3u]);
    let uc0_0 = ld_dq(rc0, tx + 0u);
    let uc0_1 = ld_dq(rc0, tx + 16u);
    let uc1_0 = ld_dq(rc1, tx + 0u);
    let uc1_1 = ld_dq(rc1, tx + 16u);
    let uc2_0 = ld_dq(rc2, tx + 0u);
    let uc2_1 = ld_dq(rc2, tx + 16u);
    let uc3_0 = ld_dq(rc3, tx + 0u);
    let uc3_1 = ld_dq(rc3, tx + 16u);
    {
    let qo = ld_q(rc0, tx + 0u);
      den0 += u.scale * beta0 * dot(qo, nn0);
      hd0 += u.scale * beta0 * dot(qo, uc0_0);
      let su = u.scale * beta0 * uc0_0;
      let sn = u.scale * beta0 * nn0;
      acc0_0 += su;
      pa0 += dot(qo, su);
      pb0 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc0, tx + 16u);
      den0 += u.scale * beta0 * dot(qo, nn1);
      hd0 += u.scale * beta0 * dot(qo, uc0_1);
      let su = u.scale * beta0 * uc0_1;
      let sn = u.scale * beta0 * nn1;
      acc0_1 += su;
      pa0 += dot(qo, su);
      pb0 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc1, tx + 0u);
      den1 += u.scale * beta1 * dot(qo, nn0);
      hd1 += u.scale * beta1 * dot(qo, uc1_0);
      let su = u.scale * beta1 * uc1_0;
      let sn = u.scale * beta1 * nn0;
      acc1_0 += su;
      pa1 += dot(qo, su);
      pb1 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc1, tx + 16u);
      den1 += u.scale * beta1 * dot(qo, nn1);
      hd1 += u.scale * beta1 * dot(qo, uc1_1);
      let su = u.scale * beta1 * uc1_1;
      let sn = u.scale * beta1 * nn1;
      acc1_1 += su;
      pa1 += dot(qo, su);
      pb1 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc2, tx + 0u);
      den2 += u.scale * beta2 * dot(qo, nn0);
      hd2 += u.scale * beta2 * dot(qo, uc2_0);
      let su = u.scale * beta2 * uc2_0;
      let sn = u.scale * beta2 * nn0;
      acc2_0 += su;
      pa2 += dot(qo, su);
      pb2 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc2, tx + 16u);
      den2 += u.scale * beta2 * dot(qo, nn1);
      hd2 += u.scale * beta2 * dot(qo, uc2_1);
      let su = u.scale * beta2 * uc2_1;
      let sn = u.scale * beta2 * nn1;
      acc2_1 += su;
      pa2 += dot(qo, su);
      pb2 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc3, tx + 0u);
      den3 += u.scale * beta3 * dot(qo, nn0);
      hd3 += u.scale * beta3 * dot(qo, uc3_0);
      let su = u.scale * beta3 * uc3_0;
      let sn = u.scale * beta3 * nn0;
      acc3_0 += su;
      pa3 += dot(qo, su);
      pb3 += dot(qo, sn);
    }
    {
    let qo = ld_q(rc3, tx + 16u);
      den3 += u.scale * beta3 * dot(qo, nn1);
      hd3 += u.scale * beta3 * dot(qo, uc3_1);
      let su = u.scale * beta3 * uc3_1;
      let sn = u.scale * beta3 * nn1;
      acc3_1 += su;
      pa3 += dot(qo, su);
      pb3 += dot(qo, sn);
    }
  }
  for (var o0 = segStart; o0 < min(segEnd, tileFirst + 64u); o0 += 64u) {
    var x0 = vec4f(0.0);
    var x1 = vec4f(0.0);
    var x2 = vec4f(0.0);
    var x3 = vec4f(0.0);
    var y0 = vec4f(0.0);
    var y1 = vec4f(0.0);
    var y2 = vec4f(0.0);
    var y3 = vec4f(0.0);
  // phase scores {
    {
      let xb4 = (rowBase + tileFirst) * 32u;
      if (o0 != tileFirst || gx <= gy) {
      if (validG0) { x0 = xf[xb4 + (gy * 4u + 0u) * 16u + gx]; }
      if (validG1) { x1 = xf[xb4 + (gy * 4u + 1u) * 16u + gx]; }
      if (validG2) { x2 = xf[xb4 + (gy * 4u + 2u) * 16u + gx]; }
      if (validG3) { x3 = xf[xb4 + (gy * 4u + 3u) * 16u + gx]; }
      }
    }
  // phase scores }
  // phase scores {
    let yPside = lid / 128u;
    let yPrg = (lid % 128u) / 8u;
    let yPcg = lid % 8u;
    let yPbase = select(tileFirst, o0, yPside == 1u);
    var yP0 = vec4f(0.0);
    var yP1 = vec4f(0.0);
    var yP2 = vec4f(0.0);
    var yP3 = vec4f(0.0);
    if (lid < 256u) {
      if (yPside == 0u) {
        yP0 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 0u, segEnd - 1u), 0u + yPcg);
        yP1 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 1u, segEnd - 1u), 0u + yPcg);
        yP2 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 2u, segEnd - 1u), 0u + yPcg);
        yP3 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 3u, segEnd - 1u), 0u + yPcg);
      } else {
        yP0 = ld_v(rowBase + min(yPbase + yPrg * 4u + 0u, segEnd - 1u), 0u + yPcg);
        yP1 = ld_v(rowBase + min(yPbase + yPrg * 4u + 1u, segEnd - 1u), 0u + yPcg);
        yP2 = ld_v(rowBase + min(yPbase + yPrg * 4u + 2u, segEnd - 1u), 0u + yPcg);
        yP3 = ld_v(rowBase + min(yPbase + yPrg * 4u + 3u, segEnd - 1u), 0u + yPcg);
      }
    }
    for (var d0 = 0u; d0 < 64u; d0 += 8u) {
      let hb = ((d0 / 8u) % 2u) * 1024u;
      if (lid < 256u) {
        stg[hb + yPside * 512u + (yPcg * 4u + 0u) * 16u + yPrg] = vec4f(yP0.x, yP1.x, yP2.x, yP3.x);
        stg[hb + yPside * 512u + (yPcg * 4u + 1u) * 16u + yPrg] = vec4f(yP0.y, yP1.y, yP2.y, yP3.y);
        stg[hb + yPside * 512u + (yPcg * 4u + 2u) * 16u + yPrg] = vec4f(yP0.z, yP1.z, yP2.z, yP3.z);
        stg[hb + yPside * 512u + (yPcg * 4u + 3u) * 16u + yPrg] = vec4f(yP0.w, yP1.w, yP2.w, yP3.w);
      }
      workgroupBarrier();
      if (d0 + 8u < 64u) {
        if (lid < 256u) {
          if (yPside == 0u) {
            yP0 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 0u, segEnd - 1u), d0 + 8u + yPcg);
            yP1 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 1u, segEnd - 1u), d0 + 8u + yPcg);
            yP2 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 2u, segEnd - 1u), d0 + 8u + yPcg);
            yP3 = ld_dh(rowBase + min(yPbase + yPrg * 4u + 3u, segEnd - 1u), d0 + 8u + yPcg);
          } else {
            yP0 = ld_v(rowBase + min(yPbase + yPrg * 4u + 0u, segEnd - 1u), d0 + 8u + yPcg);
            yP1 = ld_v(rowBase + min(yPbase + yPrg * 4u + 1u, segEnd - 1u), d0 + 8u + yPcg);
            yP2 = ld_v(rowBase + min(yPbase + yPrg * 4u + 2u, segEnd - 1u), d0 + 8u + yPcg);
            yP3 = ld_v(rowBase + min(yPbase + yPrg * 4u + 3u, segEnd - 1u), d0 + 8u + yPcg);
          }
        }
      }
      if (o0 != tileFirst || gx <= gy) {
      {
        let a = stg[hb + 0u + gy];
        let b = stg[hb + 512u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 16u + gy];
        let b = stg[hb + 528u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 32u + gy];
        let b = stg[hb + 544u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 48u + gy];
        let b = stg[hb + 560u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 64u + gy];
        let b = stg[hb + 576u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 80u + gy];
        let b = stg[hb + 592u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 96u + gy];
        let b = stg[hb + 608u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 112u + gy];
        let b = stg[hb + 624u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 128u + gy];
        let b = stg[hb + 640u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 144u + gy];
        let b = stg[hb + 656u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 160u + gy];
        let b = stg[hb + 672u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 176u + gy];
        let b = stg[hb + 688u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 192u + gy];
        let b = stg[hb + 704u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 208u + gy];
        let b = stg[hb + 720u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 224u + gy];
        let b = stg[hb + 736u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 240u + gy];
        let b = stg[hb + 752u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 256u + gy];
        let b = stg[hb + 768u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 272u + gy];
        let b = stg[hb + 784u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 288u + gy];
        let b = stg[hb + 800u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 304u + gy];
        let b = stg[hb + 816u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 320u + gy];
        let b = stg[hb + 832u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 336u + gy];
        let b = stg[hb + 848u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 352u + gy];
        let b = stg[hb + 864u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 368u + gy];
        let b = stg[hb + 880u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 384u + gy];
        let b = stg[hb + 896u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 400u + gy];
        let b = stg[hb + 912u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 416u + gy];
        let b = stg[hb + 928u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 432u + gy];
        let b = stg[hb + 944u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 448u + gy];
        let b = stg[hb + 960u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 464u + gy];
        let b = stg[hb + 976u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 480u + gy];
        let b = stg[hb + 992u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      {
        let a = stg[hb + 496u + gy];
        let b = stg[hb + 1008u + gx];
        y0 += a.x * b;
        y1 += a.y * b;
        y2 += a.z * b;
        y3 += a.w * b;
      }
      }
    }
    workgroupBarrier();
  // phase scores }
  // phase share {
    {
      let scb4 = (lb * (u.NC + 1u) + seg) * 8192u;
      st[scb4 + 0u + (gy * 4u + 0u) * 16u + gx] = x0;
      st[scb4 + 0u + (gy * 4u + 1u) * 16u + gx] = x1;
      st[scb4 + 0u + (gy * 4u + 2u) * 16u + gx] = x2;
      st[scb4 + 0u + (gy * 4u + 3u) * 16u + gx] = x3;
      st[scb4 + 1024u + (gy * 4u + 0u) * 16u + gx] = y0;
      st[scb4 + 1024u + (gy * 4u + 1u) * 16u + gx] = y1;
      st[scb4 + 1024u + (gy * 4u + 2u) * 16u + gx] = y2;
      st[scb4 + 1024u + (gy * 4u + 3u) * 16u + gx] = y3;
    }
  // phase share }
    let s0 = o0 + gx * 4u + 0u;
    let gcol0 = gi[rowBase + min(s0, segEnd - 1u)];
    let s1 = o0 + gx * 4u + 1u;
    let gcol1 = gi[rowBase + min(s1, segEnd - 1u)];
    let s2 = o0 + gx * 4u + 2u;
    let gcol2 = gi[rowBase + min(s2, segEnd - 1u)];
    let s3 = o0 + gx * 4u + 3u;
    let gcol3 = gi[rowBase + min(s3, segEnd - 1u)];
    let w00 = select(0.0, u.scale * exp(bdiff(gownG0, gcol0) + gcol0.y - mcG0), validG0 && s0 < segEnd && s0 <= ownG0);
    let wy00 = w00 * y0.x;
    denG0 += w00 * x0.x;
    hdG0 += wy00 * x0.x;
    paG0 += select(0.0, wy00 * x0.x, s0 < ownG0);
    pbG0 += select(0.0, w00 * x0.x, s0 < ownG0);
    let w01 = select(0.0, u.scale * exp(bdiff(gownG0, gcol1) + gcol1.y - mcG0), validG0 && s1 < segEnd && s1 <= ownG0);
    let wy01 = w01 * y0.y;
    denG0 += w01 * x0.y;
    hdG0 += wy01 * x0.y;
    paG0 += select(0.0, wy01 * x0.y, s1 < ownG0);
    pbG0 += select(0.0, w01 * x0.y, s1 < ownG0);
    let w02 = select(0.0, u.scale * exp(bdiff(gownG0, gcol2) + gcol2.y - mcG0), validG0 && s2 < segEnd && s2 <= ownG0);
    let wy02 = w02 * y0.z;
    denG0 += w02 * x0.z;
    hdG0 += wy02 * x0.z;
    paG0 += select(0.0, wy02 * x0.z, s2 < ownG0);
    pbG0 += select(0.0, w02 * x0.z, s2 < ownG0);
    let w03 = select(0.0, u.scale * exp(bdiff(gownG0, gcol3) + gcol3.y - mcG0), validG0 && s3 < segEnd && s3 <= ownG0);
    let wy03 = w03 * y0.w;
    denG0 += w03 * x0.w;
    hdG0 += wy03 * x0.w;
    paG0 += select(0.0, wy03 * x0.w, s3 < ownG0);
    pbG0 += select(0.0, w03 * x0.w, s3 < ownG0);
    let w10 = select(0.0, u.scale * exp(bdiff(gownG1, gcol0) + gcol0.y - mcG1), validG1 && s0 < segEnd && s0 <= ownG1);
    let wy10 = w10 * y1.x;
    denG1 += w10 * x1.x;
    hdG1 += wy10 * x1.x;
    paG1 += select(0.0, wy10 * x1.x, s0 < ownG1);
    pbG1 += select(0.0, w10 * x1.x, s0 < ownG1);
    let w11 = select(0.0, u.scale * exp(bdiff(gownG1, gcol1) + gcol1.y - mcG1), validG1 && s1 < segEnd && s1 <= ownG1);
    let wy11 = w11 * y1.y;
    denG1 += w11 * x1.y;
    hdG1 += wy11 * x1.y;
    paG1 += select(0.0, wy11 * x1.y, s1 < ownG1);
    pbG1 += select(0.0, w11 * x1.y, s1 < ownG1);
    let w12 = select(0.0, u.scale * exp(bdiff(gownG1, gcol2) + gcol2.y - mcG1), validG1 && s2 < segEnd && s2 <= ownG1);
    let wy12 = w12 * y1.z;
    denG1 += w12 * x1.z;
    hdG1 += wy12 * x1.z;
    paG1 += select(0.0, wy12 * x1.z, s2 < ownG1);
    pbG1 += select(0.0, w12 * x1.z, s2 < ownG1);
    let w13 = select(0.0, u.scale * exp(bdiff(gownG1, gcol3) + gcol3.y - mcG1), validG1 && s3 < segEnd && s3 <= ownG1);
    let wy13 = w13 * y1.w;
    denG1 += w13 * x1.w;
    hdG1 += wy13 * x1.w;
    paG1 += select(0.0, wy13 * x1.w, s3 < ownG1);
    pbG1 += select(0.0, w13 * x1.w, s3 < ownG1);
    let w20 = select(0.0, u.scale * exp(bdiff(gownG2, gcol0) + gcol0.y - mcG2), validG2 && s0 < segEnd && s0 <= ownG2);
    let wy20 = w20 * y2.x;
    denG2 += w20 * x2.x;
    hdG2 += wy20 * x2.x;
    paG2 += select(0.0, wy20 * x2.x, s0 < ownG2);
    pbG2 += select(0.0, w20 * x2.x, s0 < ownG2);
    let w21 = select(0.0, u.scale * exp(bdiff(gownG2, gcol1) + gcol1.y - mcG2), validG2 && s1 < segEnd && s1 <= ownG2);
    let wy21 = w21 * y2.y;
    denG2 += w21 * x2.y;
    hdG2 += wy21 * x2.y;
    paG2 += select(0.0, wy21 * x2.y, s1 < ownG2);
    pbG2 += select(0.0, w21 * x2.y, s1 < ownG2);
    let w22 = select(0.0, u.scale * exp(bdiff(gownG2, gcol2) + gcol2.y - mcG2), validG2 && s2 < segEnd && s2 <= ownG2);
    let wy22 = w22 * y2.z;
    denG2 += w22 * x2.z;
    hdG2 += wy22 * x2.z;
    paG2 += select(0.0, wy22 * x2.z, s2 < ownG2);
    pbG2 += select(0.0, w22 * x2.z, s2 < ownG2);
    let w23 = select(0.0, u.scale * exp(bdiff(gownG2, gcol3) + gcol3.y - mcG2), validG2 && s3 < segEnd && s3 <= ownG2);
    let wy23 = w23 * y2.w;
    denG2 += w23 * x2.w;
    hdG2 += wy23 * x2.w;
    paG2 += select(0.0, wy23 * x2.w, s3 < ownG2);
    pbG2 += select(0.0, w23 * x2.w, s3 < ownG2);
    let w30 = select(0.0, u.scale * exp(bdiff(gownG3, gcol0) + gcol0.y - mcG3), validG3 && s0 < segEnd && s0 <= ownG3);
    let wy30 = w30 * y3.x;
    denG3 += w30 * x3.x;
    hdG3 += wy30 * x3.x;
    paG3 += select(0.0, wy30 * x3.x, s0 < ownG3);
    pbG3 += select(0.0, w30 * x3.x, s0 < ownG3);
    let w31 = select(0.0, u.scale * exp(bdiff(gownG3, gcol1) + gcol1.y - mcG3), validG3 && s1 < segEnd && s1 <= ownG3);
    let wy31 = w31 * y3.y;
    denG3 += w31 * x3.y;
    hdG3 += wy31 * x3.y;
    paG3 += select(0.0, wy31 * x3.y, s1 < ownG3);
    pbG3 += select(0.0, w31 * x3.y, s1 < ownG3);
    let w32 = select(0.0, u.scale * exp(bdiff(gownG3, gcol2) + gcol2.y - mcG3), validG3 && s2 < segEnd && s2 <= ownG3);
    let wy32 = w32 * y3.z;
    denG3 += w32 * x3.z;
    hdG3 += wy32 * x3.z;
    paG3 += select(0.0, wy32 * x3.z, s2 < ownG3);
    pbG3 += select(0.0, w32 * x3.z, s2 < ownG3);
    let w33 = select(0.0, u.scale * exp(bdiff(gownG3, gcol3) + gcol3.y - mcG3), validG3 && s3 < segEnd && s3 <= ownG3);
    let wy33 = w33 * y3.w;
    denG3 += w33 * x3.w;
    hdG3 += wy33 * x3.w;
    paG3 += select(0.0, wy33 * x3.w, s3 < ownG3);
    pbG3 += select(0.0, w33 * x3.w, s3 < ownG3);
    stg[1280u + (gy * 4u + 0u) * 16u + gx] = vec4f(denG0, hdG0, 0.0, 0.0);
    stg[1280u + (gy * 4u + 1u) * 16u + gx] = vec4f(denG1, hdG1, 0.0, 0.0);
    stg[1280u + (gy * 4u + 2u) * 16u + gx] = vec4f(denG2, hdG2, 0.0, 0.0);
    stg[1280u + (gy * 4u + 3u) * 16u + gx] = vec4f(denG3, hdG3, 0.0, 0.0);
    workgroupBarrier();
    var rG = vec4f(0.0);
    if (lid < 64u) {
      for (var t = 0u; t < 16u; t++) { rG += stg[1280u + lid * 16u + t]; }
    }
    workgroupBarrier();
    stg[1280u + (ty * 4u + 0u) * 16u + tx] = vec4f(den0, hd0, mc0, beta0);
    stg[1280u + (ty * 4u + 1u) * 16u + tx] = vec4f(den1, hd1, mc1, beta1);
    stg[1280u + (ty * 4u + 2u) * 16u + tx] = vec4f(den2, hd2, mc2, beta2);
    stg[1280u + (ty * 4u + 3u) * 16u + tx] = vec4f(den3, hd3, mc3, beta3);
    workgroupBarrier();
    if (lid < 64u) {
      var r = rG;
      for (var t = 0u; t < 16u; t++) { r += stg[1280u + lid * 16u + t]; }
      let mcr = stg[1280u + lid * 16u].z;
      let betar = stg[1280u + lid * 16u].w;
      let dsum = r.x;
      let hsum = r.y;
      let nrm = max(abs(dsum), exp(-mcr));
      let inv = 1.0 / (nrm + u.eps);
      var dden = 0.0;
      if (abs(dsum) > exp(-mcr)) { dden = -inv * (inv * hsum) * sign(dsum); }
      if (tileFirst + lid < segEnd) {
        let row = rowBase + tileFirst + lid;
        rso[row] = vec4f(mcr, inv, dden, betar);
        dmt[row] = -u.eps * inv * (inv * hsum);
      }
      stg[1280u + lid * 16u] = vec4f(inv, dden, 0.0, 0.0);
    }
    workgroupBarrier();
    rr0 = stg[1280u + (ty * 4u + 0u) * 16u];
    rrG0 = stg[1280u + (gy * 4u + 0u) * 16u];
    rr1 = stg[1280u + (ty * 4u + 1u) * 16u];
    rrG1 = stg[1280u + (gy * 4u + 1u) * 16u];
    rr2 = stg[1280u + (ty * 4u + 2u) * 16u];
    rrG2 = stg[1280u + (gy * 4u + 2u) * 16u];
    rr3 = stg[1280u + (ty * 4u + 3u) * 16u];
    rrG3 = stg[1280u + (gy * 4u + 3u) * 16u];
    workgroupBarrier();
    let wq00 = rrG0.x * wy00 + rrG0.y * w00;
    let wq01 = rrG0.x * wy01 + rrG0.y * w01;
    let wq02 = rrG0.x * wy02 + rrG0.y * w02;
    let wq03 = rrG0.x * wy03 + rrG0.y * w03;
    let wq10 = rrG1.x * wy10 + rrG1.y * w10;
    let wq11 = rrG1.x * wy11 + rrG1.y * w11;
    let wq12 = rrG1.x * wy12 + rrG1.y * w12;
    let wq13 = rrG1.x * wy13 + rrG1.y * w13;
    let wq20 = rrG2.x * wy20 + rrG2.y * w20;
    let wq21 = rrG2.x * wy21 + rrG2.y * w21;
    let wq22 = rrG2.x * wy22 + rrG2.y * w22;
    let wq23 = rrG2.x * wy23 + rrG2.y * w23;
    let wq30 = rrG3.x * wy30 + rrG3.y * w30;
    let wq31 = rrG3.x * wy31 + rrG3.y * w31;
    let wq32 = rrG3.x * wy32 + rrG3.y * w32;
    let wq33 = rrG3.x * wy33 + rrG3.y * w33;
    {
      let nb = (lb * (u.NC + 1u) + seg) * 129u;
      let nn0 = vec4f(mp[nb + (tx + 0u) * 4u], mp[nb + (tx + 0u) * 4u + 1u], mp[nb + (tx + 0u) * 4u + 2u], mp[nb + (tx + 0u) * 4u + 3u]);
      acc0_0 = rr0.x * acc0_0 + rr0.y * (u.scale * beta0) * nn0;
      acc1_0 = rr1.x * acc1_0 + rr1.y * (u.scale * beta1) * nn0;
      acc2_0 = rr2.x * acc2_0 + rr2.y * (u.scale * beta2) * nn0;
      acc3_0 = rr3.x * acc3_0 + rr3.y * (u.scale * beta3) * nn0;
      let nn1 = vec4f(mp[nb + (tx + 16u) * 4u], mp[nb + (tx + 16u) * 4u + 1u], mp[nb + (tx + 16u) * 4u + 2u], mp[nb + (tx + 16u) * 4u + 3u]);
      acc0_1 = rr0.x * acc0_1 + rr0.y * (u.scale * beta0) * nn1;
      acc1_1 = rr1.x * acc1_1 + rr1.y * (u.scale * beta1) * nn1;
      acc2_1 = rr2.x * acc2_1 + rr2.y * (u.scale * beta2) * nn1;
      acc3_1 = rr3.x * acc3_1 + rr3.y * (u.scale * beta3) * nn1;
    }
    stg[1280u + (gx * 4u + 0u) * 16u + gy] = vec4f(wq00, wq10, wq20, wq30);
    stg[1280u + (gx * 4u + 1u) * 16u + gy] = vec4f(wq01, wq11, wq21, wq31);
    stg[1280u + (gx * 4u + 2u) * 16u + gy] = vec4f(wq02, wq12, wq22, wq32);
    stg[1280u + (gx * 4u + 3u) * 16u + gy] = vec4f(wq03, wq13, wq23, wq33);
  // phase accum {
    var accP0 = vec4f(0.0);
    var accP1 = vec4f(0.0);
    if (lid + 0u < 512u) { accP0 = ld_k(rowBase + min(o0 + 0u + (lid + 0u) / 32u, segEnd - 1u), (lid + 0u) % 32u); }
    if (lid + 256u < 512u) { accP1 = ld_k(rowBase + min(o0 + 0u + (lid + 256u) / 32u, segEnd - 1u), (lid + 256u) % 32u); }
    for (var sl = 0u; sl < 64u; sl += 16u) {
      if (lid + 0u < 512u) { stg[lid + 0u] = accP0; }
      if (lid + 256u < 512u) { stg[lid + 256u] = accP1; }
      workgroupBarrier();
      if (sl + 16u < 64u) {
        if (lid + 0u < 512u) { accP0 = ld_k(rowBase + min(o0 + sl + 16u + (lid + 0u) / 32u, segEnd - 1u), (lid + 0u) % 32u); }
        if (lid + 256u < 512u) { accP1 = ld_k(rowBase + min(o0 + sl + 16u + (lid + 256u) / 32u, segEnd - 1u), (lid + 256u) % 32u); }
      }
      if (o0 < tileFirst || sl + 0u <= ty * 4u + 3u) {
      {
        let w = stg[1280u + (sl + 0u) * 16u + ty];
        let o0 = stg[0u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[0u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 1u) * 16u + ty];
        let o0 = stg[32u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[32u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 2u) * 16u + ty];
        let o0 = stg[64u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[64u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 3u) * 16u + ty];
        let o0 = stg[96u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[96u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 4u) * 16u + ty];
        let o0 = stg[128u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[128u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 5u) * 16u + ty];
        let o0 = stg[160u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[160u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 6u) * 16u + ty];
        let o0 = stg[192u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[192u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 7u) * 16u + ty];
        let o0 = stg[224u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[224u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      }
      if (o0 < tileFirst || sl + 8u <= ty * 4u + 3u) {
      {
        let w = stg[1280u + (sl + 8u) * 16u + ty];
        let o0 = stg[256u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[256u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 9u) * 16u + ty];
        let o0 = stg[288u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[288u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 10u) * 16u + ty];
        let o0 = stg[320u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[320u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 11u) * 16u + ty];
        let o0 = stg[352u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[352u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 12u) * 16u + ty];
        let o0 = stg[384u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[384u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 13u) * 16u + ty];
        let o0 = stg[416u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[416u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 14u) * 16u + ty];
        let o0 = stg[448u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[448u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      {
        let w = stg[1280u + (sl + 15u) * 16u + ty];
        let o0 = stg[480u + tx + 0u];
        acc0_0 += w.x * o0;
        acc1_0 += w.y * o0;
        acc2_0 += w.z * o0;
        acc3_0 += w.w * o0;
        let o1 = stg[480u + tx + 16u];
        acc0_1 += w.x * o1;
        acc1_1 += w.y * o1;
        acc2_1 += w.z * o1;
        acc3_1 += w.w * o1;
      }
      }
      workgroupBarrier();
    }
  // phase accum }
  }
  if (valid0) {
    st_dq(rowBase + own0, tx + 0u, acc0_0);
    st_dq(rowBase + own0, tx + 16u, acc0_1);
  }
  if (valid1) {
    st_dq(rowBase + own1, tx + 0u, acc1_0);
    st_dq(rowBase + own1, tx + 16u, acc1_1);
  }
  if (valid2) {
    st_dq(rowBase + own2, tx + 0u, acc2_0);
    st_dq(rowBase + own2, tx + 16u, acc2_1);
  }
  if (valid3) {
    st_dq(rowBase + own3, tx + 0u, acc3_0);
    st_dq(rowBase + own3, tx + 16u, acc3_1);
  }
  workgroupBarrier();
  stg[1280u + (gy * 4u + 0u) * 16u + gx] = vec4f(rrG0.x * paG0 + rrG0.y * pbG0, 0.0, 0.0, 0.0);
  stg[1280u + (gy * 4u + 1u) * 16u + gx] = vec4f(rrG1.x * paG1 + rrG1.y * pbG1, 0.0, 0.0, 0.0);
  stg[1280u + (gy * 4u + 2u) * 16u + gx] = vec4f(rrG2.x * paG2 + rrG2.y * pbG2, 0.0, 0.0, 0.0);
  stg[1280u + (gy * 4u + 3u) * 16u + gx] = vec4f(rrG3.x * paG3 + rrG3.y * pbG3, 0.0, 0.0, 0.0);
  workgroupBarrier();
  var rP = vec4f(0.0);
  if (lid < 64u) {
    for (var t = 0u; t < 16u; t++) { rP += stg[1280u + lid * 16u + t]; }
  }
  workgroupBarrier();
  stg[1280u + (ty * 4u + 0u) * 16u + tx] = vec4f(rr0.x * pa0 + rr0.y * pb0, 0.0, 0.0, 0.0);
  stg[1280u + (ty * 4u + 1u) * 16u + tx] = vec4f(rr1.x * pa1 + rr1.y * pb1, 0.0, 0.0, 0.0);
  stg[1280u + (ty * 4u + 2u) * 16u + tx] = vec4f(rr2.x * pa2 + rr2.y * pb2, 0.0, 0.0, 0.0);
  stg[1280u + (ty * 4u + 3u) * 16u + tx] = vec4f(rr3.x * pa3 + rr3.y * pb3, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (lid < 64u && tileFirst + lid < segEnd) {
    var r = rP;
    for (var t = 0u; t < 16u; t++) { r += stg[1280u + lid * 16u + t]; }
    rsum[rowBase + tileFirst + lid] = r.x;
  }
  _ = mp[0];
  _ = st[0];
}
