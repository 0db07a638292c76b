
const NEG_BIG: f32 = -3.0e38;

fn exp_neg(a: f32) -> f32 {
  let k = min(floor(a * 1.44269504 + 0.5), 200.0);
  let r = (a - k * 0.693145751953125) - k * 1.42860677e-6;
  return ldexp(exp(-r), -i32(k));
}
fn logsig(x: f32) -> f32 {
  let e = exp_neg(abs(x));
  // t = 2z with z = e / (2 + e), formed without z: where e is just above the smallest normal
  // (x ≈ 87), z is subnormal and NVIDIA flushed it to 0 (logsig came out 0, not -e).
  let t = e / (1.0 + 0.5 * e);
  let z = 0.5 * t;
  let z2 = z * z;
  var p = 1.0 / 17.0;
  p = p * z2 + 1.0 / 15.0;
  p = p * z2 + 1.0 / 13.0;
  p = p * z2 + 1.0 / 11.0;
  p = p * z2 + 1.0 / 9.0;
  p = p * z2 + 1.0 / 7.0;
  p = p * z2 + 1.0 / 5.0;
  p = p * z2 + 1.0 / 3.0;
  p = p * z2 + 1.0;
  return max(min(x, 0.0) - t * p, -1.0e30);
}

struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, H0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }

@group(0) @binding(0) var<storage, read> ig: array<f32>;
@group(0) @binding(1) var<storage, read> fg: array<f32>;
@group(0) @binding(2) var<storage, read> rsum: array<f32>;
@group(0) @binding(3) var<storage, read> csum: array<f32>;
@group(0) @binding(4) var<storage, read_write> di: array<f32>;
@group(0) @binding(5) var<storage, read_write> df: array<f32>;
@group(0) @binding(6) var<storage, read> gi: array<vec4f>;
@group(0) @binding(7) var<storage, read> rs: array<vec4f>;
@group(0) @binding(8) var<storage, read> dmt: array<f32>;
@group(0) @binding(9) var<uniform> u: U;
var<workgroup> sa: array<f32, 1024>;
var<workgroup> sy: array<f32, 1024>;
var<workgroup> sb: array<u32, 1024>;
fn sigm(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }
// 1 where the forget branch won m_t = max(logsig(f_t) + m_{t-1}, ĩ_t), 0 where the input gate did.
fn fwon(row: u32) -> f32 { return select(1.0, 0.0, rs[row].x == gi[row].y); }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.x;
  let bh = u.H0 + lb;
  let base = bh * u.S;
  let off = u.BH * u.S;
  let rLast = 0.0;
  // The carries entering the current tile from the rows after it.
  var cA = rLast;
  var cY = 0.0;
  let ex = lid + 1u < 256u;
  let nx1 = min(lid + 1u, 255u);
  for (var k = (u.S + 1023u) / 1024u; k > 0u; k--) {
    let tb = (k - 1u) * 1024u;
    let r0 = tb + 0u + lid;
    let in0 = r0 < u.S;
    let q0 = base + min(r0, u.S - 1u);
    let x0 = select(0.0, rsum[q0] - csum[off + q0], in0);
    let cs0 = csum[q0];
    let fv0 = f32(fg[q0]);
    let st0 = false;
    let d0 = select(0.0, dmt[q0], in0);
    let fw0 = select(1.0, fwon(q0), in0);
    var va0 = select(x0, 0.0, st0);
    var vb0 = select(1u, 0u, st0) | select(0u, 2u, fw0 != 0.0 && !st0);
    var vy0 = select(0.0, d0, (vb0 & 2u) != 0u);
    sa[0u + lid] = va0;
    sy[0u + lid] = vy0;
    sb[0u + lid] = vb0;
    let r1 = tb + 256u + lid;
    let in1 = r1 < u.S;
    let q1 = base + min(r1, u.S - 1u);
    let x1 = select(0.0, rsum[q1] - csum[off + q1], in1);
    let cs1 = csum[q1];
    let fv1 = f32(fg[q1]);
    let st1 = false;
    let d1 = select(0.0, dmt[q1], in1);
    let fw1 = select(1.0, fwon(q1), in1);
    var va1 = select(x1, 0.0, st1);
    var vb1 = select(1u, 0u, st1) | select(0u, 2u, fw1 != 0.0 && !st1);
    var vy1 = select(0.0, d1, (vb1 & 2u) != 0u);
    sa[256u + lid] = va1;
    sy[256u + lid] = vy1;
    sb[256u + lid] = vb1;
    let r2 = tb + 512u + lid;
    let in2 = r2 < u.S;
    let q2 = base + min(r2, u.S - 1u);
    let x2 = select(0.0, rsum[q2] - csum[off + q2], in2);
    let cs2 = csum[q2];
    let fv2 = f32(fg[q2]);
    let st2 = false;
    let d2 = select(0.0, dmt[q2], in2);
    let fw2 = select(1.0, fwon(q2), in2);
    var va2 = select(x2, 0.0, st2);
    var vb2 = select(1u, 0u, st2) | select(0u, 2u, fw2 != 0.0 && !st2);
    var vy2 = select(0.0, d2, (vb2 & 2u) != 0u);
    sa[512u + lid] = va2;
    sy[512u + lid] = vy2;
    sb[512u + lid] = vb2;
    let r3 = tb + 768u + lid;
    let in3 = r3 < u.S;
    let q3 = base + min(r3, u.S - 1u);
    let x3 = select(0.0, rsum[q3] - csum[off + q3], in3);
    let cs3 = csum[q3];
    let fv3 = f32(fg[q3]);
    let st3 = false;
    let d3 = select(0.0, dmt[q3], in3);
    let fw3 = select(1.0, fwon(q3), in3);
    var va3 = select(x3, 0.0, st3);
    var vb3 = select(1u, 0u, st3) | select(0u, 2u, fw3 != 0.0 && !st3);
    var vy3 = select(0.0, d3, (vb3 & 2u) != 0u);
    sa[768u + lid] = va3;
    sy[768u + lid] = vy3;
    sb[768u + lid] = vb3;
    workgroupBarrier();
    for (var w = 1u; w < 256u; w <<= 1u) {
      let inr = lid + w < 256u;
      let nx = min(lid + w, 255u);
      let na0 = select(0.0, sa[0u + nx], inr);
      let ny0 = select(0.0, sy[0u + nx], inr);
      let nb0 = select(3u, sb[0u + nx], inr);
      let na1 = select(0.0, sa[256u + nx], inr);
      let ny1 = select(0.0, sy[256u + nx], inr);
      let nb1 = select(3u, sb[256u + nx], inr);
      let na2 = select(0.0, sa[512u + nx], inr);
      let ny2 = select(0.0, sy[512u + nx], inr);
      let nb2 = select(3u, sb[512u + nx], inr);
      let na3 = select(0.0, sa[768u + nx], inr);
      let ny3 = select(0.0, sy[768u + nx], inr);
      let nb3 = select(3u, sb[768u + nx], inr);
      workgroupBarrier();
      va0 = va0 + na0;
      vy0 = select(vy0, vy0 + ny0, (vb0 & 2u) != 0u);
      vb0 &= nb0;
      sa[0u + lid] = va0;
      sy[0u + lid] = vy0;
      sb[0u + lid] = vb0;
      va1 = va1 + na1;
      vy1 = select(vy1, vy1 + ny1, (vb1 & 2u) != 0u);
      vb1 &= nb1;
      sa[256u + lid] = va1;
      sy[256u + lid] = vy1;
      sb[256u + lid] = vb1;
      va2 = va2 + na2;
      vy2 = select(vy2, vy2 + ny2, (vb2 & 2u) != 0u);
      vb2 &= nb2;
      sa[512u + lid] = va2;
      sy[512u + lid] = vy2;
      sb[512u + lid] = vb2;
      va3 = va3 + na3;
      vy3 = select(vy3, vy3 + ny3, (vb3 & 2u) != 0u);
      vb3 &= nb3;
      sa[768u + lid] = va3;
      sy[768u + lid] = vy3;
      sb[768u + lid] = vb3;
      workgroupBarrier();
    }
    let ea0 = select(0.0, sa[0u + nx1], ex);
    let ta0 = sa[0u];
    let ey0 = select(0.0, sy[0u + nx1], ex);
    let ty0 = sy[0u];
    let eb0 = select(3u, sb[0u + nx1], ex);
    let tf0 = sb[0u];
    let ea1 = select(0.0, sa[256u + nx1], ex);
    let ta1 = sa[256u];
    let ey1 = select(0.0, sy[256u + nx1], ex);
    let ty1 = sy[256u];
    let eb1 = select(3u, sb[256u + nx1], ex);
    let tf1 = sb[256u];
    let ea2 = select(0.0, sa[512u + nx1], ex);
    let ta2 = sa[512u];
    let ey2 = select(0.0, sy[512u + nx1], ex);
    let ty2 = sy[512u];
    let eb2 = select(3u, sb[512u + nx1], ex);
    let tf2 = sb[512u];
    let ea3 = select(0.0, sa[768u + nx1], ex);
    let ta3 = sa[768u];
    let ey3 = select(0.0, sy[768u + nx1], ex);
    let ty3 = sy[768u];
    let eb3 = select(3u, sb[768u + nx1], ex);
    let tf3 = sb[768u];
    workgroupBarrier();
    let ia3 = cA;
    let iy3 = cY;
    let ia2 = ta3 + ia3;
    let iy2 = select(ty3, ty3 + iy3, (tf3 & 2u) != 0u);
    let ia1 = ta2 + ia2;
    let iy1 = select(ty2, ty2 + iy2, (tf2 & 2u) != 0u);
    let ia0 = ta1 + ia1;
    let iy0 = select(ty1, ty1 + iy1, (tf1 & 2u) != 0u);
    cA = ta0 + ia0;
    cY = select(ty0, ty0 + iy0, (tf0 & 2u) != 0u);
    let accT0 = select(ea0 + ia0 + x0, 0.0, st0);
    let G0 = d0 + select(ey0, ey0 + iy0, (eb0 & 2u) != 0u);
    if (in0) {
      df[q0] = sigm(-fv0) * (accT0 + fw0 * G0);
      di[q0] = cs0 + (1.0 - fw0) * G0;
    }
    let accT1 = select(ea1 + ia1 + x1, 0.0, st1);
    let G1 = d1 + select(ey1, ey1 + iy1, (eb1 & 2u) != 0u);
    if (in1) {
      df[q1] = sigm(-fv1) * (accT1 + fw1 * G1);
      di[q1] = cs1 + (1.0 - fw1) * G1;
    }
    let accT2 = select(ea2 + ia2 + x2, 0.0, st2);
    let G2 = d2 + select(ey2, ey2 + iy2, (eb2 & 2u) != 0u);
    if (in2) {
      df[q2] = sigm(-fv2) * (accT2 + fw2 * G2);
      di[q2] = cs2 + (1.0 - fw2) * G2;
    }
    let accT3 = select(ea3 + ia3 + x3, 0.0, st3);
    let G3 = d3 + select(ey3, ey3 + iy3, (eb3 & 2u) != 0u);
    if (in3) {
      df[q3] = sigm(-fv3) * (accT3 + fw3 * G3);
      di[q3] = cs3 + (1.0 - fw3) * G3;
    }
  }
  _ = ig[0];
}
