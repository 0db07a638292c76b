alias T = f32;
struct U {
  S: u32, L: u32, NC: u32, BH: u32,
  bh0: u32, DQK: u32, DHV: u32, keep: u32,
  eps: f32, scale: f32, p0: u32, p1: u32,
}

@group(0) @binding(0) var<storage, read> iin: array<T>;
@group(0) @binding(1) var<storage, read> fin: array<T>;
@group(0) @binding(2) var<storage, read_write> gates: array<f32>;
@group(0) @binding(3) var<uniform> u: U;

fn opaque(x: f32) -> f32 { return select(x, 0.0, u.S == 0xFFFFFFFFu); }

var<workgroup> lfs: array<f32, 260>;
var<workgroup> igs: array<f32, 260>;
var<workgroup> ts: array<f32, 4>;
var<workgroup> bhs: array<f32, 260>;
var<workgroup> shs: array<f32, 260>;
var<workgroup> as_: array<f32, 260>;
var<workgroup> tot: array<f32, 8>;
var<workgroup> mids: array<f32, 1024>;

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

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wg.y;
  let N = u.BH * u.S;
  // This thread's chunk g and its index li in it (loads, stores, row maxima).
  let g = lid / 64u;
  let li = lid % 64u;
  let k = wg.x * 4u + g;
  let lc = select(0u, min(u.L, u.S - min(k * u.L, u.S)), k < u.NC);
  let base = bh * u.S + k * u.L;
  let o = g * 65u;
  for (var j = li; j < lc; j += 64u) {
    lfs[o + j] = logsig(f32(fin[base + j]));
    igs[o + j] = f32(iin[base + j]);
  }
  workgroupBarrier();
  if (lid < 4u) {
    let pk = wg.x * 4u + lid;
    let plc = select(0u, min(u.L, u.S - min(pk * u.L, u.S)), pk < u.NC);
    let pbase = bh * u.S + pk * u.L;
    let po = lid * 65u;
    // Compensated (Kahan) same-sign sums; all values are finite (floored log gates).
    var acc = 0.0;
    var comp = 0.0;
    for (var j = 0u; j < plc; j++) {
      let y = lfs[po + j] - comp;
      let t = opaque(acc + y);
      comp = opaque(t - acc) - y;
      acc = t;
      bhs[po + j] = acc;
    }
    if (plc > 0u) {
      ts[lid * 1u + (plc - 1u) / 64u] = acc;
    }
    tot[2u * lid] = acc;
  }
  if (lid >= 32u && lid < 36u) {
    let c = lid - 32u;
    let sk = wg.x * 4u + c;
    let slc = select(0u, min(u.L, u.S - min(sk * u.L, u.S)), sk < u.NC);
    let sbase = bh * u.S + sk * u.L;
    let so = c * 65u;
    var suf = 0.0;
    var sc = 0.0;
    var amax = -3.0e38;
    for (var jj = 0u; jj < slc; jj++) {
      let j = slc - 1u - jj;
      shs[so + j] = suf;
      let a = suf + igs[so + j];
      as_[so + j] = a;
      amax = max(amax, a);
      let y = lfs[so + j] - sc;
      let t = opaque(suf + y);
      sc = opaque(t - suf) - y;
      suf = t;
    }
    tot[2u * c + 1u] = amax;
  }
  if (lid >= 4u && (lid < 32u || lid >= 36u)) {
    // mids[(c·NB + qb)·SB² + cs·SB + s]: Σ lfs over the sub-blocks strictly between key sub-block
    // cs and row sub-block s of query block qb of chunk c, summed from the left from 0.0 as the
    // per-row loop of the unstaged kernel did.
    let w = lid - select(4u, 8u, lid >= 32u);
    for (var e = w; e < 64u; e += 248u) {
      let c = e / 16u;
      let ck = wg.x * 4u + c;
    let clc = select(0u, min(u.L, u.S - min(ck * u.L, u.S)), ck < u.NC);
    let cbase = bh * u.S + ck * u.L;
    let co = c * 65u;
      let blk = ((e % 16u) / 16u) * 64u;
      let cs = e % 16u;
      var mid = 0.0;
      for (var s = cs + 1u; s < 16u && blk + 4u * s < clc; s++) {
        mids[e * 16u + s] = mid;
        for (var x = blk + 4u * s; x < min(blk + 4u * s + 4u, clc); x++) {
          mid += lfs[co + x];
        }
      }
    }
  }
  workgroupBarrier();
  for (var j = li; j < lc; j += 64u) {
    gates[base + j] = bhs[o + j];
    gates[N + base + j] = igs[o + j];
    gates[2u * N + base + j] = as_[o + j];
    gates[6u * N + base + j] = shs[o + j];
    gates[7u * N + base + j] = lfs[o + j];
  }
  let nb = (lc + 63u) / 64u;
  let tb = 8u * N + 2u * u.BH * u.NC + (bh * u.NC + k) * 1u;
  for (var x = li; x < nb; x += 64u) {
    gates[tb + x] = ts[g * 1u + x];
  }
  if (li == 0u && lc > 0u) {
    let ci = 8u * N + (bh * u.NC + k) * 2u;
    gates[ci] = tot[2u * g];
    gates[ci + 1u] = tot[2u * g + 1u];
  }
  for (var r = li; r < lc; r += 64u) {
    let br = bhs[o + r];
    let qb = r / 64u;
    var mi = -3.0e38;
    // Key blocks before the query block: (b̂_t + ŝ_s) + block totals between, + ĩ_s.
    for (var kb = 0u; kb < qb; kb++) {
      var D = 0.0;
      for (var x = kb + 1u; x < qb; x++) {
        D += ts[g * 1u + x];
      }
      for (var c = kb * 64u; c < kb * 64u + 64u; c++) {
        mi = max(mi, ((br + shs[o + c]) + D) + igs[o + c]);
      }
    }
    // The diagonal block, by sub-blocks of 4 steps.
    let blk = qb * 64u;
    let sb = blk + ((r - blk) / 4u) * 4u;
    var p4 = lfs[o + sb];
    for (var x = sb + 1u; x <= r; x++) {
      p4 = p4 + lfs[o + x];
    }
    for (var cb = blk; cb < sb; cb += 4u) {
      let mid = mids[((g * 1u + qb) * 16u + (cb - blk) / 4u) * 16u + (sb - blk) / 4u];
      let pm = p4 + mid;
      let l1 = lfs[o + cb + 1u];
      let l2 = lfs[o + cb + 2u];
      let l3 = lfs[o + cb + 3u];
      mi = max(mi, (pm + (l1 + (l2 + l3))) + igs[o + cb]);
      mi = max(mi, (pm + (l2 + l3)) + igs[o + cb + 1u]);
      mi = max(mi, (pm + l3) + igs[o + cb + 2u]);
      mi = max(mi, (pm + 0.0) + igs[o + cb + 3u]);
    }
    for (var c = sb; c <= r; c++) {
      var rsum = 0.0;
      for (var x = c + 1u; x <= r; x++) {
        rsum = rsum + lfs[o + x];
      }
      mi = max(mi, rsum + igs[o + c]);
    }
    gates[3u * N + base + r] = mi;
  }
}
