// The rows' chunk-state product of the chunkwise backward as its own batched GEMM (issue #14):
// U = dh·Cᵀ, for every chunk its rows' dh (L × DHV) times the transposed state before the chunk
// (C: DQK × DHV), written into dq's f32 buffer. The fused stats + dq kernel (`blockWgsl` option
// `stateTermIn`) reads its rows of U there instead of forming the product, and later overwrites
// them with dq. Inside the fused kernel the product ran at 4 × 8 outputs per thread with the whole
// kernel's register count (224 on an H100: one workgroup per SM); alone it needs a fraction of
// that, and at 8 rows per thread it issues 4 FMAs per staged float instead of 2.7.
//
// The columns' products of dkdv likewise (`blockWgsl` "dkdv" with `stateTermIn`): v·dCᵀ (L × DQK,
// into dk's buffer) and k·dC (L × DHV, into dv's, over column tiles of at most 128 at 8 rows per
// thread), dC the state gradient after the chunk; dkdv scales them by its rows' decay and writes
// dk and dv over them.
//
// A workgroup owns 64 rows of one chunk of one head: 16 × (64 / TM) threads, each TM rows × DQK/16
// columns (vec4 columns tx + 16·c, the fused kernel's layout). The reduction over DHV is staged
// BK columns at a time into one half of a double buffer (dh's rows and C's rows transposed: vec4
// over 4 rows per reduction index), the next step's operands loaded into registers before the
// current step's products, one barrier per step.

import { enableF16 } from "../_common.ts";
import {
  type BwParams,
  CHUNK_TILE_PROLOGUE,
  chunkStateAddressing,
  matrix,
  UNIFORMS,
} from "./_wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, j) => j);
const C = ["x", "y", "z", "w"];

/**
 * The products of {@linkcode stateTermWgsl}: "u" U = dh·Cᵀ into dq (C the state before the
 * chunk), "dk" v·dCᵀ into dk, "dv" k·dC into dv (dC the state gradient after the chunk).
 */
export type StateTermProduct = "u" | "dk" | "dv";

/** Tiles of {@linkcode stateTermWgsl}. */
export interface StateTermTiles {
  /** Rows per thread: 4 (256 threads) or 8 (128 threads; DQK ≤ 128). */
  TM: 4 | 8;
  /** Reduction (DHV) columns staged per step: 16 or 32. */
  BK: 16 | 32;
}

/**
 * Default tiles of {@linkcode stateTermWgsl}: 4 rows per thread (256 threads), 16 deep. On an
 * H100 (TFLA shape, DQK 128, f32, one training step) they beat 8 rows per thread on 128 threads:
 * 25.65 ms against 26.14 (bench/results/stop17_2026-12-06).
 */
export function stateTermTiles(): StateTermTiles {
  return { TM: 4, BK: 16 };
}

/**
 * The tiles {@linkcode stateTermWgsl} runs for a product: the requested ones (else the default,
 * {@linkcode stateTermTiles}), with 4 rows per thread where 8 would hold more than 128 output
 * columns ("u" and "dk" above DQK 128).
 */
export function stateTermTilesFor(
  product: StateTermProduct,
  DQK: number,
  requested?: StateTermTiles,
): StateTermTiles {
  const t = requested ?? stateTermTiles();
  return t.TM === 8 && product !== "dv" && DQK > 128 ? { ...t, TM: 4 } : t;
}

/** Threads of one {@linkcode stateTermWgsl} workgroup. */
export function stateTermThreads(t: StateTermTiles): number {
  return 16 * (64 / t.TM);
}

/**
 * Output columns of one {@linkcode stateTermWgsl} workgroup: DQK for "u" and "dk"; for "dv" DHV,
 * at 8 rows per thread at most 128.
 */
export function stateTermCols(
  product: StateTermProduct,
  DQK: number,
  DHV: number,
  t: StateTermTiles,
): number {
  if (product !== "dv") return DQK;
  return t.TM === 8 ? Math.min(128, DHV) : Math.min(256, DHV);
}

/** Workgroups of {@linkcode stateTermWgsl} per 64-row tile along x (its column tiles). */
export function stateTermColTiles(
  product: StateTermProduct,
  DQK: number,
  DHV: number,
  t: StateTermTiles,
): number {
  return (product === "dv" ? DHV : DQK) / stateTermCols(product, DQK, DHV, t);
}

/** Workgroup storage of {@linkcode stateTermWgsl} in bytes (two halves). */
export function stateTermSharedBytes(
  DQK: number,
  t: StateTermTiles,
  product: StateTermProduct = "u",
  DHV = DQK,
): number {
  return 2 * 16 * t.BK * (16 + stateTermCols(product, DQK, DHV, t) / 4);
}

/**
 * A state term's GEMM (DQK, DHV multiples of 64). Bindings: the rows' operand (dh for "u", v for
 * "dk", k for "dv"), st (for "u" the states before every chunk: recomputed `cprev` or, with
 * `savedStates`, the forward's `statesC`, see `chunkStateAddressing`; for "dk" and "dv" the state
 * gradients after every chunk, NC + 1 packed [dC | dn] slots per head), the output (f32: dq, dk or
 * dv; written at the chunk's rows), uniforms. Grid: (64-row tiles per chunk ×
 * {@linkcode stateTermColTiles}, NC, heads of the group).
 */
export function stateTermWgsl(
  p: BwParams,
  savedStates: boolean,
  product: StateTermProduct = "u",
  tiles: StateTermTiles = stateTermTilesFor(product, p.DQK),
): string {
  const { DQK, DHV, dtype } = p;
  const { TM, BK } = tiles;
  if (DQK % 64 !== 0 || DHV % 64 !== 0) {
    throw new RangeError(`stateTermWgsl: DQK and DHV must be multiples of 64 (${DQK}, ${DHV})`);
  }
  if (
    (TM !== 4 && TM !== 8) || (BK !== 16 && BK !== 32) ||
    (TM === 8 && product !== "dv" && DQK > 128)
  ) {
    throw new RangeError(
      `stateTermWgsl: TM 4 or 8 (8 needs DQK ≤ 128 but for "dv"), BK 16 or 32: ${TM}, ${BK}`,
    );
  }
  const T = stateTermThreads(tiles);
  const DQ4 = DQK / 4, DV4 = DHV / 4, BK4 = BK / 4, G = TM / 4;
  // Output columns of the workgroup (TC, vec4 offset cb4 of its column tile), the reduction's
  // length (K4 vec4s), the operands' names; trans: the state's rows are the output columns.
  const TC = stateTermCols(product, DQK, DHV, tiles), TC4 = TC / 4, NO = TC / 64;
  const NCT = stateTermColTiles(product, DQK, DHV, tiles);
  const trans = product !== "dv";
  const K4 = product === "dv" ? DQ4 : DV4;
  const aName = { u: "dh", dk: "v", dv: "k" }[product];
  const outName = { u: "dq", dk: "dk", dv: "dv" }[product];
  const E4 = (DQK * DHV + DQK) / 4;
  const slot = product === "u"
    ? chunkStateAddressing(DQK, DHV, savedStates).cSlot4("seg")
    : `(lb * (u.NC + 1u) + seg) * ${E4}u`;
  if (product !== "u" && savedStates) {
    throw new RangeError("stateTermWgsl: savedStates applies to the rows' product (u)");
  }
  // Staging pairs (4 rows × one vec4 of the reduction): the rows' operand's 16·BK4, then the
  // state's TC4·BK4 (trans: 4 of its rows at one vec4 of the reduction; else 4 of its rows (the
  // reduction) at one vec4 of the output columns); the row group varies fastest, so that
  // consecutive threads store consecutive vec4s.
  const NA = 16 * BK4, NP = NA + TC4 * BK4, NPT = Math.ceil(NP / T);
  const HALF = 16 * BK + TC4 * BK; // vec4 per half: the rows' BK × 16, the state's BK × TC4
  const pairs = range(NPT).map((n) => ({ n, id: n * T }));
  const load = (k0: string) =>
    pairs.flatMap(({ n, id }) => {
      const L: string[] = [];
      const any = (lo: number, hi: number) => id < hi && id + T > lo; // some thread's id in [lo, hi)
      if (any(0, NA)) {
        L.push(
          `  if (lid + ${id}u < ${NA}u) {`,
          `    let rg = (lid + ${id}u) % 16u;`,
          `    let cg = (lid + ${id}u) / 16u;`,
          ...range(4).map((i) =>
            `    p${n}_${i} = ld_${aName}(rowBase + min(tileFirst + rg * 4u + ${i}u, segEnd - 1u), ${k0} + cg);`
          ),
          `  }`,
        );
      }
      if (any(NA, NP)) {
        L.push(
          `  ${any(0, NA) ? "else " : ""}if (lid + ${id}u < ${NP}u) {`,
          `    let j = lid + ${id}u - ${NA}u;`,
          `    let og = j % ${TC4}u;`,
          `    let cg = j / ${TC4}u;`,
          ...range(4).map((i) =>
            trans
              ? `    p${n}_${i} = st[sb4 + (og * 4u + ${i}u) * ${DV4}u + ${k0} + cg];`
              : `    p${n}_${i} = st[sb4 + ((${k0} + cg) * 4u + ${i}u) * ${DV4}u + cb4 + og];`
          ),
          `  }`,
        );
      }
      return L;
    });
  const store = pairs.flatMap(({ n, id }) => {
    const vec = (c: number) => `vec4f(${range(4).map((i) => `p${n}_${i}.${C[c]}`).join(", ")})`;
    const L: string[] = [];
    if (id < NA) {
      L.push(
        `  if (lid + ${id}u < ${NA}u) {`,
        `    let rg = (lid + ${id}u) % 16u;`,
        `    let cg = (lid + ${id}u) / 16u;`,
        ...range(4).map((c) => `    stg[hb + (cg * 4u + ${c}u) * 16u + rg] = ${vec(c)};`),
        `  }`,
      );
    }
    if (id + T > NA && id < NP) {
      L.push(
        `  ${id < NA ? "else " : ""}if (lid + ${id}u < ${NP}u) {`,
        `    let j = lid + ${id}u - ${NA}u;`,
        `    let og = j % ${TC4}u;`,
        `    let cg = j / ${TC4}u;`,
        ...range(4).map((c) =>
          `    stg[hb + ${16 * BK}u + (cg * 4u + ${c}u) * ${TC4}u + og] = ${
            trans ? vec(c) : `p${n}_${c}`
          };`
        ),
        `  }`,
      );
    }
    return L;
  });
  const products: string[] = [];
  for (let kk = 0; kk < BK; kk++) {
    products.push(`    {`);
    for (let g = 0; g < G; g++) {
      products.push(
        `      let a${g} = stg[hb + ${kk * 16}u + ty${G > 1 ? ` * ${G}u + ${g}u` : ""}];`,
      );
    }
    for (let c = 0; c < NO; c++) {
      products.push(`      let b${c} = stg[hb + ${16 * BK + kk * TC4}u + tx + ${16 * c}u];`);
      for (let r = 0; r < TM; r++) {
        products.push(`      acc${r}_${c} += a${r >> 2}.${C[r & 3]} * b${c};`);
      }
    }
    products.push(`    }`);
  }
  const accs = range(TM).flatMap((r) => range(NO).map((c) => `  var acc${r}_${c} = vec4f(0.0);`));
  const regs = pairs.flatMap(({ n }) => range(4).map((i) => `  var p${n}_${i} = vec4f(0.0);`));
  const stores = range(TM).flatMap((r) => [
    `  if (tileFirst + ty * ${TM}u + ${r}u < segEnd) {`,
    ...range(NO).map((c) =>
      `    st_${outName}(rowBase + tileFirst + ty * ${TM}u + ${r}u, cb4 + tx + ${
        16 * c
      }u, acc${r}_${c});`
    ),
    `  }`,
  ]);
  return `${enableF16(dtype)}${UNIFORMS}
${matrix(aName, 0, product === "dv" ? DQK : DHV, dtype, "read", false)}
@group(0) @binding(1) var<storage, read> st: array<vec4f>;
${matrix(outName, 2, product === "dv" ? DHV : DQK, "f32", "read_write", false)}
@group(0) @binding(3) var<uniform> u: U;
var<workgroup> stg: array<vec4f, ${2 * HALF}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
${CHUNK_TILE_PROLOGUE}
  let tileFirst = segStart + (wid.x / ${NCT}u) * 64u;
  let cb4 = (wid.x % ${NCT}u) * ${TC4}u;
  let rowBase = bh * u.S;
  let sb4 = ${slot};
${accs.join("\n")}
${regs.join("\n")}
${load("0u").join("\n")}
  for (var k0 = 0u; k0 < ${K4}u; k0 += ${BK4}u) {
    // Double buffering: step n's half is free once every thread passed step n − 1's barrier,
    // which it reaches only after step n − 2's products (the last reads of that half).
    let hb = ((k0 / ${BK4}u) % 2u) * ${HALF}u;
${store.map((l) => "  " + l).join("\n")}
    workgroupBarrier();
    if (k0 + ${BK4}u < ${K4}u) {
${load(`k0 + ${BK4}u`).map((l) => "    " + l).join("\n")}
    }
${products.join("\n")}
  }
${stores.join("\n")}
}
`;
}
