
struct U { S: u32, L: u32, NC: u32, BH: u32, scale: f32, eps: f32, H0: u32, p1: u32 }
fn bdiff(a: vec4f, b: vec4f) -> f32 { return (a.x - b.x) + (a.w - b.w); }

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
fn ld_q(row: u32, c4: u32) -> vec4f {
  return vec4f(q[row * 32u + c4]);
}

@group(0) @binding(1) var<storage, read> dh: array<vec4<f32>>;
fn ld_dh(row: u32, c4: u32) -> vec4f {
  return vec4f(dh[row * 64u + c4]);
}

@group(0) @binding(2) var<storage, read> gi: array<vec4f>;
@group(0) @binding(3) var<storage, read> rs: array<vec4f>;
@group(0) @binding(4) var<storage, read> mp: array<f32>;
@group(0) @binding(5) var<storage, read_write> da: array<vec4f>;
@group(0) @binding(6) var<uniform> u: U;
var<workgroup> wsh: array<vec2f, 64>;
var<workgroup> xs: array<vec4f, 256>;
var<workgroup> ys: array<vec4f, 512>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lb = wid.z;
  let bh = u.H0 + lb;
  let aTile = wid.x % 2u;
  let cTile = wid.x / 2u;
  let ty = lid / 16u;
  let tx = lid % 16u;
  let rowBase = bh * u.S;
  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  var nacc = vec4f(0.0);
  for (var kr = u.NC; kr > 0u; kr--) {
    let k = kr - 1u;
    let ob4 = (lb * (u.NC + 1u) + k) * 8224u;
    da[ob4 + (aTile * 64u + ty * 4u + 0u) * 64u + cTile * 32u + tx + 0u] = acc0_0;
    da[ob4 + (aTile * 64u + ty * 4u + 0u) * 64u + cTile * 32u + tx + 16u] = acc0_1;
    da[ob4 + (aTile * 64u + ty * 4u + 1u) * 64u + cTile * 32u + tx + 0u] = acc1_0;
    da[ob4 + (aTile * 64u + ty * 4u + 1u) * 64u + cTile * 32u + tx + 16u] = acc1_1;
    da[ob4 + (aTile * 64u + ty * 4u + 2u) * 64u + cTile * 32u + tx + 0u] = acc2_0;
    da[ob4 + (aTile * 64u + ty * 4u + 2u) * 64u + cTile * 32u + tx + 16u] = acc2_1;
    da[ob4 + (aTile * 64u + ty * 4u + 3u) * 64u + cTile * 32u + tx + 0u] = acc3_0;
    da[ob4 + (aTile * 64u + ty * 4u + 3u) * 64u + cTile * 32u + tx + 16u] = acc3_1;
    if (cTile == 0u && tx == 0u) { da[ob4 + 8192u + aTile * 16u + ty] = nacc; }
    let segStart = k * u.L;
    let segEnd = min(u.S, segStart + u.L);
    let gl = gi[rowBase + segEnd - 1u];
    let decay = exp((gl.x + gl.w) + mp[(lb * (u.NC + 1u) + k) * 129u + 128u] - mp[(lb * (u.NC + 1u) + k + 1u) * 129u + 128u]);
    acc0_0 *= decay;
    acc0_1 *= decay;
    acc1_0 *= decay;
    acc1_1 *= decay;
    acc2_0 *= decay;
    acc2_1 *= decay;
    acc3_0 *= decay;
    acc3_1 *= decay;
    nacc *= decay;
    for (var j0 = segStart; j0 < segEnd; j0 += 64u) {
      if (lid < 64u) {
        let jr = j0 + lid;
        var w = vec2f(0.0);
        if (jr < segEnd) {
          let rr = rs[rowBase + jr];
          w = u.scale * rr.w * rr.yz;
        }
        wsh[lid] = w;
      }
      workgroupBarrier();
      {
        var px = vec4f(0.0);
        var py0 = vec4f(0.0);
        var py1 = vec4f(0.0);
        {
          let row = rowBase + min(j0 + 0u + lid / 16u, segEnd - 1u);
          px = ld_q(row, aTile * 16u + lid % 16u);
          py0 = ld_dh(row, cTile * 32u + tx + 0u);
          py1 = ld_dh(row, cTile * 32u + tx + 16u);
        }
        for (var sub = 0u; sub < 64u; sub += 16u) {
          {
            let r = lid / 16u;
            xs[lid] = px;
            ys[r * 32u + tx + 0u] = wsh[sub + r].x * py0;
            ys[r * 32u + tx + 16u] = wsh[sub + r].x * py1;
          }
          workgroupBarrier();
          if (sub + 16u < 64u) {
            {
              let row = rowBase + min(j0 + sub + 16u + lid / 16u, segEnd - 1u);
              px = ld_q(row, aTile * 16u + lid % 16u);
              py0 = ld_dh(row, cTile * 32u + tx + 0u);
              py1 = ld_dh(row, cTile * 32u + tx + 16u);
            }
          }
          {
            let a = xs[0u + ty];
            let wn = wsh[sub + 0u].y;
            let y0 = ys[0u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[0u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[16u + ty];
            let wn = wsh[sub + 1u].y;
            let y0 = ys[32u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[32u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[32u + ty];
            let wn = wsh[sub + 2u].y;
            let y0 = ys[64u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[64u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[48u + ty];
            let wn = wsh[sub + 3u].y;
            let y0 = ys[96u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[96u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[64u + ty];
            let wn = wsh[sub + 4u].y;
            let y0 = ys[128u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[128u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[80u + ty];
            let wn = wsh[sub + 5u].y;
            let y0 = ys[160u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[160u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[96u + ty];
            let wn = wsh[sub + 6u].y;
            let y0 = ys[192u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[192u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[112u + ty];
            let wn = wsh[sub + 7u].y;
            let y0 = ys[224u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[224u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[128u + ty];
            let wn = wsh[sub + 8u].y;
            let y0 = ys[256u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[256u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[144u + ty];
            let wn = wsh[sub + 9u].y;
            let y0 = ys[288u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[288u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[160u + ty];
            let wn = wsh[sub + 10u].y;
            let y0 = ys[320u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[320u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[176u + ty];
            let wn = wsh[sub + 11u].y;
            let y0 = ys[352u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[352u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[192u + ty];
            let wn = wsh[sub + 12u].y;
            let y0 = ys[384u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[384u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[208u + ty];
            let wn = wsh[sub + 13u].y;
            let y0 = ys[416u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[416u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[224u + ty];
            let wn = wsh[sub + 14u].y;
            let y0 = ys[448u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[448u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          {
            let a = xs[240u + ty];
            let wn = wsh[sub + 15u].y;
            let y0 = ys[480u + tx + 0u];
            acc0_0 += a.x * y0;
            acc1_0 += a.y * y0;
            acc2_0 += a.z * y0;
            acc3_0 += a.w * y0;
            let y1 = ys[480u + tx + 16u];
            acc0_1 += a.x * y1;
            acc1_1 += a.y * y1;
            acc2_1 += a.z * y1;
            acc3_1 += a.w * y1;
            nacc += wn * a;
          }
          workgroupBarrier();
        }
      }
    }
  }
  {
    let ob4 = (lb * (u.NC + 1u) + u.NC) * 8224u;
    da[ob4 + (aTile * 64u + ty * 4u + 0u) * 64u + cTile * 32u + tx + 0u] = acc0_0;
    da[ob4 + (aTile * 64u + ty * 4u + 0u) * 64u + cTile * 32u + tx + 16u] = acc0_1;
    da[ob4 + (aTile * 64u + ty * 4u + 1u) * 64u + cTile * 32u + tx + 0u] = acc1_0;
    da[ob4 + (aTile * 64u + ty * 4u + 1u) * 64u + cTile * 32u + tx + 16u] = acc1_1;
    da[ob4 + (aTile * 64u + ty * 4u + 2u) * 64u + cTile * 32u + tx + 0u] = acc2_0;
    da[ob4 + (aTile * 64u + ty * 4u + 2u) * 64u + cTile * 32u + tx + 16u] = acc2_1;
    da[ob4 + (aTile * 64u + ty * 4u + 3u) * 64u + cTile * 32u + tx + 0u] = acc3_0;
    da[ob4 + (aTile * 64u + ty * 4u + 3u) * 64u + cTile * 32u + tx + 16u] = acc3_1;
    if (cTile == 0u && tx == 0u) { da[ob4 + 8192u + aTile * 16u + ty] = nacc; }
  }
  _ = mp[(lb * (u.NC + 1u) + 0u) * 129u + 128u];
}
