
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
@group(0) @binding(2) var<storage, read_write> gi: array<vec4f>;
@group(0) @binding(3) var<uniform> u: U;

fn opaque(x: f32) -> f32 { return select(x, 0.0, u.S == 0xFFFFFFFFu); }

fn itilde(x: f32) -> f32 { return x; }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let job = gid.x;
  if (job >= u.BH * u.NC) { return; }
  let bh = job / u.NC;
  let seg = job % u.NC;
  let t0 = bh * u.S + seg * u.L;
  let n = min(u.L, u.S - seg * u.L);
  var b = 0.0;
  var lo = 0.0;
  var mI = 0.0;
  for (var j = 0u; j < n; j++) {
    let lf = logsig(f32(fg[t0 + j]));
    let ii = itilde(f32(ig[t0 + j]));
    // TwoSum: b + lo carries the cumulative sum to about twice f32's precision, so that
    // b_t - b_s stays accurate to f32 relative to itself on long segments (the stable forget gate).
    let sum_ = opaque(b + lf);
    let bp = opaque(sum_ - b);
    lo += (b - opaque(sum_ - bp)) + (lf - bp);
    b = sum_;
    mI = select(max(mI + lf, ii), ii, j == 0u);
    gi[t0 + j] = vec4f(b, ii, mI, lo);
  }
}
