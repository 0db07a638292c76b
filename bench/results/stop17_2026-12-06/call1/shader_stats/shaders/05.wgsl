
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
@group(0) @binding(5) var<storage, read> rs: array<vec4f>;
@group(0) @binding(6) var<storage, read> st: array<vec4f>;
@group(0) @binding(7) var<storage, read> mp: array<f32>;
@group(0) @binding(8) var<storage, read> sci: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> dk: array<vec4<f32>>;
fn ld_dk(row: u32, c4: u32) -> vec4f {
  return vec4f(dk[row * 32u + c4]);
}
fn st_dk(row: u32, c4: u32, x: vec4f) {
  dk[row * 32u + c4] = vec4<f32>(x);
}

@group(0) @binding(10) var<storage, read_write> dv: array<vec4<f32>>;
fn ld_dv(row: u32, c4: u32) -> vec4f {
  return vec4f(dv[row * 64u + c4]);
}
fn st_dv(row: u32, c4: u32, x: vec4f) {
  dv[row * 64u + c4] = vec4<f32>(x);
}

@group(0) @binding(11) var<storage, read_write> csum: array<f32>;
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

  let own0 = tileFirst + ty * 4u + 0u;
  let valid0 = own0 < segEnd;
  let rc0 = rowBase + min(own0, segEnd - 1u);
  let gown0 = gi[rc0];
  var offp0 = 0.0;
  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var accv0_0 = vec4f(0.0);
  var accv0_1 = vec4f(0.0);
  var accv0_2 = vec4f(0.0);
  var accv0_3 = vec4f(0.0);
  let own1 = tileFirst + ty * 4u + 1u;
  let valid1 = own1 < segEnd;
  let rc1 = rowBase + min(own1, segEnd - 1u);
  let gown1 = gi[rc1];
  var offp1 = 0.0;
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var accv1_0 = vec4f(0.0);
  var accv1_1 = vec4f(0.0);
  var accv1_2 = vec4f(0.0);
  var accv1_3 = vec4f(0.0);
  let own2 = tileFirst + ty * 4u + 2u;
  let valid2 = own2 < segEnd;
  let rc2 = rowBase + min(own2, segEnd - 1u);
  let gown2 = gi[rc2];
  var offp2 = 0.0;
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var accv2_0 = vec4f(0.0);
  var accv2_1 = vec4f(0.0);
  var accv2_2 = vec4f(0.0);
  var accv2_3 = vec4f(0.0);
  let own3 = tileFirst + ty * 4u + 3u;
  let valid3 = own3 < segEnd;
  let rc3 = rowBase + min(own3, segEnd - 1u);
  let gown3 = gi[rc3];
  var offp3 = 0.0;
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  var accv3_0 = vec4f(0.0);
  var accv3_1 = vec4f(0.0);
  var accv3_2 = vec4f(0.0);
  var accv3_3 = vec4f(0.0);
  let gy = (lid / 32u) % 4u * 4u + (lid % 32u) / 8u;
  let gx = (lid / 32u) / 4u * 8u + lid % 8u;
  let ownG0 = tileFirst + gy * 4u + 0u;
  let validG0 = ownG0 < segEnd;
  let rcG0 = rowBase + min(ownG0, segEnd - 1u);
  let gownG0 = gi[rcG0];
  var offpG0 = 0.0;
  let ownG1 = tileFirst + gy * 4u + 1u;
  let validG1 = ownG1 < segEnd;
  let rcG1 = rowBase + min(ownG1, segEnd - 1u);
  let gownG1 = gi[rcG1];
  var offpG1 = 0.0;
  let ownG2 = tileFirst + gy * 4u + 2u;
  let validG2 = ownG2 < segEnd;
  let rcG2 = rowBase + min(ownG2, segEnd - 1u);
  let gownG2 = gi[rcG2];
  var offpG2 = 0.0;
  let ownG3 = tileFirst + gy * 4u + 3u;
  let validG3 = ownG3 < segEnd;
  let rcG3 = rowBase + min(ownG3, segEnd - 1u);
  let gownG3 = gi[rcG3];
  var offpG3 = 0.0;
  {
    let sb4 = (lb * (u.NC + 1u) + seg) * 8224u;
    let nn0 = st[sb4 + 8192u + tx + 0u];
    let nn1 = st[sb4 + 8192u + tx + 16u];
    let gEnd = gi[rowBase + segEnd - 1u];
    let mAfter = mp[(lb * (u.NC + 1u) + seg + 1u) * 129u + 128u];
    let abar0 = exp(bdiff(gEnd, gown0) + gown0.y - mAfter);
    let abar1 = exp(bdiff(gEnd, gown1) + gown1.y - mAfter);
    let abar2 = exp(bdiff(gEnd, gown2) + gown2.y - mAfter);
    let abar3 = exp(bdiff(gEnd, gown3) + gown3.y - mAfter);
    let uc0_0 = ld_dk(rc0, tx + 0u);
    let uc0_1 = ld_dk(rc0, tx + 16u);
    let uc1_0 = ld_dk(rc1, tx + 0u);
    let uc1_1 = ld_dk(rc1, tx + 16u);
    let uc2_0 = ld_dk(rc2, tx + 0u);
    let uc2_1 = ld_dk(rc2, tx + 16u);
    let uc3_0 = ld_dk(rc3, tx + 0u);
    let uc3_1 = ld_dk(rc3, tx + 16u);
    {
    let ko = ld_k(rc0, tx + 0u);
    let sc = abar0 * (uc0_0 + nn0);
    acc0_0 += sc;
    offp0 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc0, tx + 16u);
    let sc = abar0 * (uc0_1 + nn1);
    acc0_1 += sc;
    offp0 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc1, tx + 0u);
    let sc = abar1 * (uc1_0 + nn0);
    acc1_0 += sc;
    offp1 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc1, tx + 16u);
    let sc = abar1 * (uc1_1 + nn1);
    acc1_1 += sc;
    offp1 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc2, tx + 0u);
    let sc = abar2 * (uc2_0 + nn0);
    acc2_0 += sc;
    offp2 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc2, tx + 16u);
    let sc = abar2 * (uc2_1 + nn1);
    acc2_1 += sc;
    offp2 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc3, tx + 0u);
    let sc = abar3 * (uc3_0 + nn0);
    acc3_0 += sc;
    offp3 += dot(ko, sc);
  }
    {
    let ko = ld_k(rc3, tx + 16u);
    let sc = abar3 * (uc3_1 + nn1);
    acc3_1 += sc;
    offp3 += dot(ko, sc);
  }
    let vc0_0 = ld_dv(rc0, tx + 0u);
    let vc0_1 = ld_dv(rc0, tx + 16u);
    let vc0_2 = ld_dv(rc0, tx + 32u);
    let vc0_3 = ld_dv(rc0, tx + 48u);
    let vc1_0 = ld_dv(rc1, tx + 0u);
    let vc1_1 = ld_dv(rc1, tx + 16u);
    let vc1_2 = ld_dv(rc1, tx + 32u);
    let vc1_3 = ld_dv(rc1, tx + 48u);
    let vc2_0 = ld_dv(rc2, tx + 0u);
    let vc2_1 = ld_dv(rc2, tx + 16u);
    let vc2_2 = ld_dv(rc2, tx + 32u);
    let vc2_3 = ld_dv(rc2, tx + 48u);
    let vc3_0 = ld_dv(rc3, tx + 0u);
    let vc3_1 = ld_dv(rc3, tx + 16u);
    let vc3_2 = ld_dv(rc3, tx + 32u);
    let vc3_3 = ld_dv(rc3, tx + 48u);
    accv0_0 += abar0 * vc0_0;
    accv0_1 += abar0 * vc0_1;
    accv0_2 += abar0 * vc0_2;
    accv0_3 += abar0 * vc0_3;
    accv1_0 += abar1 * vc1_0;
    accv1_1 += abar1 * vc1_1;
    accv1_2 += abar1 * vc1_2;
    accv1_3 += abar1 * vc1_3;
    accv2_0 += abar2 * vc2_0;
    accv2_1 += abar2 * vc2_1;
    accv2_2 += abar2 * vc2_2;
    accv2_3 += abar2 * vc2_3;
    accv3_0 += abar3 * vc3_0;
    accv3_1 += abar3 * vc3_1;
    accv3_2 += abar3 * vc3_2;
    accv3_3 += abar3 * vc3_3;
  }
  for (var o0 = tileFirst; o0 < segEnd; o0 += 64u) {
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
      let scb4 = (lb * (u.NC + 1u) + seg) * 8192u;
      let xt0 = sci[scb4 + 0u + (gx * 4u + 0u) * 16u + gy];
      let xt1 = sci[scb4 + 0u + (gx * 4u + 1u) * 16u + gy];
      let xt2 = sci[scb4 + 0u + (gx * 4u + 2u) * 16u + gy];
      let xt3 = sci[scb4 + 0u + (gx * 4u + 3u) * 16u + gy];
      x0 = vec4f(xt0.x, xt1.x, xt2.x, xt3.x);
      x1 = vec4f(xt0.y, xt1.y, xt2.y, xt3.y);
      x2 = vec4f(xt0.z, xt1.z, xt2.z, xt3.z);
      x3 = vec4f(xt0.w, xt1.w, xt2.w, xt3.w);
      let yt0 = sci[scb4 + 1024u + (gx * 4u + 0u) * 16u + gy];
      let yt1 = sci[scb4 + 1024u + (gx * 4u + 1u) * 16u + gy];
      let yt2 = sci[scb4 + 1024u + (gx * 4u + 2u) * 16u + gy];
      let yt3 = sci[scb4 + 1024u + (gx * 4u + 3u) * 16u + gy];
      y0 = vec4f(yt0.x, yt1.x, yt2.x, yt3.x);
      y1 = vec4f(yt0.y, yt1.y, yt2.y, yt3.y);
      y2 = vec4f(yt0.z, yt1.z, yt2.z, yt3.z);
      y3 = vec4f(yt0.w, yt1.w, yt2.w, yt3.w);
    }
  // phase scores }
    let s0 = o0 + gx * 4u + 0u;
    let gcol0 = gi[rowBase + min(s0, segEnd - 1u)];
    let rcol0 = rs[rowBase + min(s0, segEnd - 1u)];
    let s1 = o0 + gx * 4u + 1u;
    let gcol1 = gi[rowBase + min(s1, segEnd - 1u)];
    let rcol1 = rs[rowBase + min(s1, segEnd - 1u)];
    let s2 = o0 + gx * 4u + 2u;
    let gcol2 = gi[rowBase + min(s2, segEnd - 1u)];
    let rcol2 = rs[rowBase + min(s2, segEnd - 1u)];
    let s3 = o0 + gx * 4u + 3u;
    let gcol3 = gi[rowBase + min(s3, segEnd - 1u)];
    let rcol3 = rs[rowBase + min(s3, segEnd - 1u)];
    var w00 = 0.0;
    var wv00 = 0.0;
    {
      let ok = validG0 && s0 < segEnd && s0 >= ownG0;
      let dd = exp(bdiff(gcol0, gownG0) + gownG0.y - rcol0.x);
      w00 = select(0.0, u.scale * (rcol0.y * y0.x + rcol0.z) * dd, ok);
      wv00 = select(0.0, u.scale * x0.x * dd * rcol0.y, ok);
      offpG0 += select(0.0, w00 * x0.x, s0 > ownG0);
    }
    var w01 = 0.0;
    var wv01 = 0.0;
    {
      let ok = validG0 && s1 < segEnd && s1 >= ownG0;
      let dd = exp(bdiff(gcol1, gownG0) + gownG0.y - rcol1.x);
      w01 = select(0.0, u.scale * (rcol1.y * y0.y + rcol1.z) * dd, ok);
      wv01 = select(0.0, u.scale * x0.y * dd * rcol1.y, ok);
      offpG0 += select(0.0, w01 * x0.y, s1 > ownG0);
    }
    var w02 = 0.0;
    var wv02 = 0.0;
    {
      let ok = validG0 && s2 < segEnd && s2 >= ownG0;
      let dd = exp(bdiff(gcol2, gownG0) + gownG0.y - rcol2.x);
      w02 = select(0.0, u.scale * (rcol2.y * y0.z + rcol2.z) * dd, ok);
      wv02 = select(0.0, u.scale * x0.z * dd * rcol2.y, ok);
      offpG0 += select(0.0, w02 * x0.z, s2 > ownG0);
    }
    var w03 = 0.0;
    var wv03 = 0.0;
    {
      let ok = validG0 && s3 < segEnd && s3 >= ownG0;
      let dd = exp(bdiff(gcol3, gownG0) + gownG0.y - rcol3.x);
      w03 = select(0.0, u.scale * (rcol3.y * y0.w + rcol3.z) * dd, ok);
      wv03 = select(0.0, u.scale * x0.w * dd * rcol3.y, ok);
      offpG0 += select(0.0, w03 * x0.w, s3 > ownG0);
    }
    var w10 = 0.0;
    var wv10 = 0.0;
    {
      let ok = validG1 && s0 < segEnd && s0 >= ownG1;
      let dd = exp(bdiff(gcol0, gownG1) + gownG1.y - rcol0.x);
      w10 = select(0.0, u.scale * (rcol0.y * y1.x + rcol0.z) * dd, ok);
      wv10 = select(0.0, u.scale * x1.x * dd * rcol0.y, ok);
      offpG1 += select(0.0, w10 * x1.x, s0 > ownG1);
    }
    var w11 = 0.0;
    var wv11 = 0.0;
    {
      let ok = validG1 && s1 < segEnd && s1 >= ownG1;
      let dd = exp(bdiff(gcol1, gownG1) + gownG1.y - rcol1.x);
      w11 = select(0.0, u.scale * (rcol1.y * y1.y + rcol1.z) * dd, ok);
      wv11 = select(0.0, u.scale * x1.y * dd * rcol1.y, ok);
      offpG1 += select(0.0, w11 * x1.y, s1 > ownG1);
    }
    var w12 = 0.0;
    var wv12 = 0.0;
    {
      let ok = validG1 && s2 < segEnd && s2 >= ownG1;
      let dd = exp(bdiff(gcol2, gownG1) + gownG1.y - rcol2.x);
      w12 = select(0.0, u.scale * (rcol2.y * y1.z + rcol2.z) * dd, ok);
      wv12 = select(0.0, u.scale * x1.z * dd * rcol2.y, ok);
      offpG1 += select(0.0, w12 * x1.z, s2 > ownG1);
    }
    var w13 = 0.0;
    var wv13 = 0.0;
    {
      let ok = validG1 && s3 < segEnd && s3 >= ownG1;
      let dd = exp(bdiff(gcol3, gownG1) + gownG1.y - rcol3.x);
      w13 = select(0.0, u.scale * (rcol3.y * y1.w + rcol3.z) * dd, ok);
      wv13 = select(0.0, u.scale * x1.w * dd * rcol3.y, ok);
      offpG1 += select(0.0, w13 * x1.w, s3 > ownG1);
    }
    var w20 = 0.0;
    var wv20 = 0.0;
    {
      let ok = validG2 && s0 < segEnd && s0 >= ownG2;
      let dd = exp(bdiff(gcol0, gownG2) + gownG2.y - rcol0.x);
      w20 = select(0.0, u.scale * (rcol0.y * y2.x + rcol0.z) * dd, ok);
      wv20 = select(0.0, u.scale * x2.x * dd * rcol0.y, ok);
      offpG2 += select(0.0, w20 * x2.x, s0 > ownG2);
    }
    var w21 = 0.0;
    var wv21 = 0.0;
    {
      let ok = validG2 && s1 < segEnd && s1 >= ownG2;
      let dd = exp(bdiff(gcol1, gownG2) + gownG2.y - rcol1.x);
      w21 = select(0.0, u.scale * (rcol1.y * y2.y + rcol1.z) * dd, ok);
      wv21 = select(0.0, u.scale * x2.y * dd * rcol1.y, ok);
      offpG2 += select(0.0, w21 * x2.y, s1 > ownG2);
    }
    var w22 = 0.0;
    var wv22 = 0.0;
    {
      let ok = validG2 && s2 < segEnd && s2 >= ownG2;
      let dd = exp(bdiff(gcol2, gownG2) + gownG2.y - rcol2.x);
      w22 = select(0.0, u.scale * (rcol2.y * y2.z + rcol2.z) * dd, ok);
      wv22 = select(0.0, u.scale * x2.z * dd * rcol2.y, ok);
      offpG2 += select(0.0, w22 * x2.z, s2 > ownG2);
    }
    var w23 = 0.0;
    var wv23 = 0.0;
    {
      let ok = validG2 && s3 < segEnd && s3 >= ownG2;
      let dd = exp(bdiff(gcol3, gownG2) + gownG2.y - rcol3.x);
      w23 = select(0.0, u.scale * (rcol3.y * y2.w + rcol3.z) * dd, ok);
      wv23 = select(0.0, u.scale * x2.w * dd * rcol3.y, ok);
      offpG2 += select(0.0, w23 * x2.w, s3 > ownG2);
    }
    var w30 = 0.0;
    var wv30 = 0.0;
    {
      let ok = validG3 && s0 < segEnd && s0 >= ownG3;
      let dd = exp(bdiff(gcol0, gownG3) + gownG3.y - rcol0.x);
      w30 = select(0.0, u.scale * (rcol0.y * y3.x + rcol0.z) * dd, ok);
      wv30 = select(0.0, u.scale * x3.x * dd * rcol0.y, ok);
      offpG3 += select(0.0, w30 * x3.x, s0 > ownG3);
    }
    var w31 = 0.0;
    var wv31 = 0.0;
    {
      let ok = validG3 && s1 < segEnd && s1 >= ownG3;
      let dd = exp(bdiff(gcol1, gownG3) + gownG3.y - rcol1.x);
      w31 = select(0.0, u.scale * (rcol1.y * y3.y + rcol1.z) * dd, ok);
      wv31 = select(0.0, u.scale * x3.y * dd * rcol1.y, ok);
      offpG3 += select(0.0, w31 * x3.y, s1 > ownG3);
    }
    var w32 = 0.0;
    var wv32 = 0.0;
    {
      let ok = validG3 && s2 < segEnd && s2 >= ownG3;
      let dd = exp(bdiff(gcol2, gownG3) + gownG3.y - rcol2.x);
      w32 = select(0.0, u.scale * (rcol2.y * y3.z + rcol2.z) * dd, ok);
      wv32 = select(0.0, u.scale * x3.z * dd * rcol2.y, ok);
      offpG3 += select(0.0, w32 * x3.z, s2 > ownG3);
    }
    var w33 = 0.0;
    var wv33 = 0.0;
    {
      let ok = validG3 && s3 < segEnd && s3 >= ownG3;
      let dd = exp(bdiff(gcol3, gownG3) + gownG3.y - rcol3.x);
      w33 = select(0.0, u.scale * (rcol3.y * y3.w + rcol3.z) * dd, ok);
      wv33 = select(0.0, u.scale * x3.w * dd * rcol3.y, ok);
      offpG3 += select(0.0, w33 * x3.w, s3 > ownG3);
    }
    stg[1280u + (gx * 4u + 0u) * 16u + gy] = vec4f(w00, w10, w20, w30);
    stg[1280u + (gx * 4u + 1u) * 16u + gy] = vec4f(w01, w11, w21, w31);
    stg[1280u + (gx * 4u + 2u) * 16u + gy] = vec4f(w02, w12, w22, w32);
    stg[1280u + (gx * 4u + 3u) * 16u + gy] = vec4f(w03, w13, w23, w33);
  // phase accum {
    var accP0 = vec4f(0.0);
    var accP1 = vec4f(0.0);
    if (lid + 0u < 512u) { accP0 = ld_q(rowBase + min(o0 + 0u + (lid + 0u) / 32u, segEnd - 1u), (lid + 0u) % 32u); }
    if (lid + 256u < 512u) { accP1 = ld_q(rowBase + min(o0 + 0u + (lid + 256u) / 32u, segEnd - 1u), (lid + 256u) % 32u); }
    for (var sl = 0u; sl < 64u; sl += 16u) {
      if (lid + 0u < 512u) { stg[lid + 0u] = accP0; }
      if (lid + 256u < 512u) { stg[lid + 256u] = accP1; }
      workgroupBarrier();
      if (sl + 16u < 64u) {
        if (lid + 0u < 512u) { accP0 = ld_q(rowBase + min(o0 + sl + 16u + (lid + 0u) / 32u, segEnd - 1u), (lid + 0u) % 32u); }
        if (lid + 256u < 512u) { accP1 = ld_q(rowBase + min(o0 + sl + 16u + (lid + 256u) / 32u, segEnd - 1u), (lid + 256u) % 32u); }
      }
      if (o0 > tileFirst || sl + 7u >= ty * 4u) {
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
      if (o0 > tileFirst || sl + 15u >= ty * 4u) {
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
    stg[1280u + (gx * 4u + 0u) * 16u + gy] = vec4f(wv00, wv10, wv20, wv30);
    stg[1280u + (gx * 4u + 1u) * 16u + gy] = vec4f(wv01, wv11, wv21, wv31);
    stg[1280u + (gx * 4u + 2u) * 16u + gy] = vec4f(wv02, wv12, wv22, wv32);
    stg[1280u + (gx * 4u + 3u) * 16u + gy] = vec4f(wv03, wv13, wv23, wv33);
  // phase accum {
    var accvP0 = vec4f(0.0);
    var accvP1 = vec4f(0.0);
    var accvP2 = vec4f(0.0);
    var accvP3 = vec4f(0.0);
    if (lid + 0u < 1024u) { accvP0 = ld_dh(rowBase + min(o0 + 0u + (lid + 0u) / 64u, segEnd - 1u), (lid + 0u) % 64u); }
    if (lid + 256u < 1024u) { accvP1 = ld_dh(rowBase + min(o0 + 0u + (lid + 256u) / 64u, segEnd - 1u), (lid + 256u) % 64u); }
    if (lid + 512u < 1024u) { accvP2 = ld_dh(rowBase + min(o0 + 0u + (lid + 512u) / 64u, segEnd - 1u), (lid + 512u) % 64u); }
    if (lid + 768u < 1024u) { accvP3 = ld_dh(rowBase + min(o0 + 0u + (lid + 768u) / 64u, segEnd - 1u), (lid + 768u) % 64u); }
    for (var sl = 0u; sl < 64u; sl += 16u) {
      if (lid + 0u < 1024u) { stg[lid + 0u] = accvP0; }
      if (lid + 256u < 1024u) { stg[lid + 256u] = accvP1; }
      if (lid + 512u < 1024u) { stg[lid + 512u] = accvP2; }
      if (lid + 768u < 1024u) { stg[lid + 768u] = accvP3; }
      workgroupBarrier();
      if (sl + 16u < 64u) {
        if (lid + 0u < 1024u) { accvP0 = ld_dh(rowBase + min(o0 + sl + 16u + (lid + 0u) / 64u, segEnd - 1u), (lid + 0u) % 64u); }
        if (lid + 256u < 1024u) { accvP1 = ld_dh(rowBase + min(o0 + sl + 16u + (lid + 256u) / 64u, segEnd - 1u), (lid + 256u) % 64u); }
        if (lid + 512u < 1024u) { accvP2 = ld_dh(rowBase + min(o0 + sl + 16u + (lid + 512u) / 64u, segEnd - 1u), (lid + 512u) % 64u); }
        if (lid + 768u < 1024u) { accvP3 = ld_dh(rowBase + min(o0 + sl + 16u + (lid + 768u) / 64u, segEnd - 1u), (lid + 768u) % 64u); }
      }
      if (o0 > tileFirst || sl + 7u >= ty * 4u) {
      {
        let w = stg[1280u + (sl + 0u) * 16u + ty];
        let o0 = stg[0u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[0u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[0u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[0u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 1u) * 16u + ty];
        let o0 = stg[64u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[64u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[64u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[64u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 2u) * 16u + ty];
        let o0 = stg[128u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[128u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[128u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[128u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 3u) * 16u + ty];
        let o0 = stg[192u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[192u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[192u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[192u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 4u) * 16u + ty];
        let o0 = stg[256u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[256u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[256u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[256u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 5u) * 16u + ty];
        let o0 = stg[320u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[320u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[320u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[320u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 6u) * 16u + ty];
        let o0 = stg[384u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[384u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[384u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[384u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 7u) * 16u + ty];
        let o0 = stg[448u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[448u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[448u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[448u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      }
      if (o0 > tileFirst || sl + 15u >= ty * 4u) {
      {
        let w = stg[1280u + (sl + 8u) * 16u + ty];
        let o0 = stg[512u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[512u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[512u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[512u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 9u) * 16u + ty];
        let o0 = stg[576u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[576u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[576u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[576u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 10u) * 16u + ty];
        let o0 = stg[640u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[640u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[640u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[640u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 11u) * 16u + ty];
        let o0 = stg[704u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[704u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[704u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[704u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 12u) * 16u + ty];
        let o0 = stg[768u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[768u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[768u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[768u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 13u) * 16u + ty];
        let o0 = stg[832u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[832u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[832u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[832u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 14u) * 16u + ty];
        let o0 = stg[896u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[896u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[896u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[896u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      {
        let w = stg[1280u + (sl + 15u) * 16u + ty];
        let o0 = stg[960u + tx + 0u];
        accv0_0 += w.x * o0;
        accv1_0 += w.y * o0;
        accv2_0 += w.z * o0;
        accv3_0 += w.w * o0;
        let o1 = stg[960u + tx + 16u];
        accv0_1 += w.x * o1;
        accv1_1 += w.y * o1;
        accv2_1 += w.z * o1;
        accv3_1 += w.w * o1;
        let o2 = stg[960u + tx + 32u];
        accv0_2 += w.x * o2;
        accv1_2 += w.y * o2;
        accv2_2 += w.z * o2;
        accv3_2 += w.w * o2;
        let o3 = stg[960u + tx + 48u];
        accv0_3 += w.x * o3;
        accv1_3 += w.y * o3;
        accv2_3 += w.z * o3;
        accv3_3 += w.w * o3;
      }
      }
      workgroupBarrier();
    }
  // phase accum }
  }
  stg[1280u + (gy * 4u + 0u) * 16u + gx] = vec4f(0.0, offpG0, 0.0, 0.0);
  stg[1280u + (gy * 4u + 1u) * 16u + gx] = vec4f(0.0, offpG1, 0.0, 0.0);
  stg[1280u + (gy * 4u + 2u) * 16u + gx] = vec4f(0.0, offpG2, 0.0, 0.0);
  stg[1280u + (gy * 4u + 3u) * 16u + gx] = vec4f(0.0, offpG3, 0.0, 0.0);
  workgroupBarrier();
  var rG = vec4f(0.0);
  if (lid < 64u) {
    for (var t = 0u; t < 16u; t++) { rG += stg[1280u + lid * 16u + t]; }
  }
  workgroupBarrier();
  if (valid0) {
    st_dk(rowBase + own0, tx + 0u, acc0_0);
    st_dk(rowBase + own0, tx + 16u, acc0_1);
    st_dv(rowBase + own0, tx + 0u, accv0_0);
    st_dv(rowBase + own0, tx + 16u, accv0_1);
    st_dv(rowBase + own0, tx + 32u, accv0_2);
    st_dv(rowBase + own0, tx + 48u, accv0_3);
  }
  stg[1280u + (ty * 4u + 0u) * 16u + tx] = vec4f(dot(ld_k(rc0, tx + 0u), acc0_0) + dot(ld_k(rc0, tx + 16u), acc0_1), offp0, 0.0, 0.0);
  if (valid1) {
    st_dk(rowBase + own1, tx + 0u, acc1_0);
    st_dk(rowBase + own1, tx + 16u, acc1_1);
    st_dv(rowBase + own1, tx + 0u, accv1_0);
    st_dv(rowBase + own1, tx + 16u, accv1_1);
    st_dv(rowBase + own1, tx + 32u, accv1_2);
    st_dv(rowBase + own1, tx + 48u, accv1_3);
  }
  stg[1280u + (ty * 4u + 1u) * 16u + tx] = vec4f(dot(ld_k(rc1, tx + 0u), acc1_0) + dot(ld_k(rc1, tx + 16u), acc1_1), offp1, 0.0, 0.0);
  if (valid2) {
    st_dk(rowBase + own2, tx + 0u, acc2_0);
    st_dk(rowBase + own2, tx + 16u, acc2_1);
    st_dv(rowBase + own2, tx + 0u, accv2_0);
    st_dv(rowBase + own2, tx + 16u, accv2_1);
    st_dv(rowBase + own2, tx + 32u, accv2_2);
    st_dv(rowBase + own2, tx + 48u, accv2_3);
  }
  stg[1280u + (ty * 4u + 2u) * 16u + tx] = vec4f(dot(ld_k(rc2, tx + 0u), acc2_0) + dot(ld_k(rc2, tx + 16u), acc2_1), offp2, 0.0, 0.0);
  if (valid3) {
    st_dk(rowBase + own3, tx + 0u, acc3_0);
    st_dk(rowBase + own3, tx + 16u, acc3_1);
    st_dv(rowBase + own3, tx + 0u, accv3_0);
    st_dv(rowBase + own3, tx + 16u, accv3_1);
    st_dv(rowBase + own3, tx + 32u, accv3_2);
    st_dv(rowBase + own3, tx + 48u, accv3_3);
  }
  stg[1280u + (ty * 4u + 3u) * 16u + tx] = vec4f(dot(ld_k(rc3, tx + 0u), acc3_0) + dot(ld_k(rc3, tx + 16u), acc3_1), offp3, 0.0, 0.0);
  workgroupBarrier();
  if (lid < 64u && tileFirst + lid < segEnd) {
    var r = rG;
    for (var t = 0u; t < 16u; t++) { r += stg[1280u + lid * 16u + t]; }
    let row = rowBase + tileFirst + lid;
    csum[row] = r.x;
    csum[u.BH * u.S + row] = r.y;
  }
  _ = mp[0];
  _ = &v;
}
