/**
 * The SPEC §6 cost model: FLOP and minimal memory traffic of an mLSTM kernel call, for
 * achieved-FLOP/s columns and rooflines.
 *
 * @module
 */

/** Shape and kernel parameters of a cost estimate. */
export interface CostShape {
  /** The kernel's form. */
  form: "recurrent" | "parallel" | "chunkwise" | "step";
  /** Batch size. */
  B: number;
  /** Heads. */
  NH: number;
  /** Sequence length (1 for a step). */
  S: number;
  /** Query/key head dimension. */
  DQK: number;
  /** Value head dimension. */
  DHV: number;
  /** Chunk size (chunkwise only). @default {64} */
  chunkSize?: number;
  /** Forward only, or forward + backward. @default {"fw"} */
  pass?: "fw" | "fwbw";
  /** Bytes per stored element (4 for f32, 2 for f16). @default {4} */
  elementBytes?: number;
}

/** Backward ≈ twice the forward's arithmetic (two products per forward product). */
const BACKWARD_FACTOR = 2;

/**
 * FLOP of one call by the SPEC §6 model (a multiply-add is 2 FLOP), per token and head:
 * chunkwise 4·DQK·DHV + 2·L·(DQK+DHV) (the state update Kᵀ V and the inter-chunk readout Q C, one
 * multiply-add per (DQK, DHV) pair each; then the intra-chunk Q Kᵀ and S̃ V over full L × L blocks),
 * parallel 2·S·(DQK+DHV), step and recurrent 4·DQK·DHV. (Before 2026-12-06 the chunkwise count was
 * 8·DQK·DHV + 2·L·(DQK+DHV), which overstated rates by 1.73× at the TFLA shape with L = 64.) Forward + backward counts the forward three times (backward = 2 × forward), the
 * usual convention; the model ignores gate arithmetic and the normalizer.
 *
 * @example TFLA shape, chunk 128
 * ```ts
 * import { mlstmFlops } from "./cost_model.ts";
 * const f = mlstmFlops({ form: "chunkwise", B: 64, NH: 16, S: 1024, DQK: 128, DHV: 256, chunkSize: 128 });
 * console.assert(f === 64 * 16 * 1024 * (4 * 128 * 256 + 2 * 128 * (128 + 256)));
 * ```
 *
 * @param s Shape and kernel parameters.
 * @returns FLOP of the call.
 */
export function mlstmFlops(s: CostShape): number {
  const { B, NH, S, DQK, DHV } = s;
  let perToken: number;
  switch (s.form) {
    case "chunkwise":
      perToken = 4 * DQK * DHV + 2 * (s.chunkSize ?? 64) * (DQK + DHV);
      break;
    case "parallel":
      perToken = 2 * S * (DQK + DHV);
      break;
    case "recurrent":
    case "step":
      perToken = 4 * DQK * DHV;
      break;
  }
  const fw = B * NH * S * perToken;
  return (s.pass ?? "fw") === "fwbw" ? fw * (1 + BACKWARD_FACTOR) : fw;
}

/**
 * Minimal bytes one call must move: read q, k, v, i, f and write h once (f32 unless
 * `elementBytes` says otherwise); a step or recurrent call also reads and writes the state
 * C, n (4 bytes per element: states stay f32) once per call. Forward + backward adds reading
 * the inputs and dh again and writing dq, dk, dv, di, df.
 *
 * @example One step of B=16, NH=16, DQK=128, DHV=256 is bound by its state
 * ```ts
 * import { mlstmBytes } from "./cost_model.ts";
 * const b = mlstmBytes({ form: "step", B: 16, NH: 16, S: 1, DQK: 128, DHV: 256 });
 * console.assert(b > 2 * 16 * 16 * 128 * 256 * 4);
 * ```
 *
 * @param s Shape and kernel parameters.
 * @returns Bytes of the call.
 */
export function mlstmBytes(s: CostShape): number {
  const { B, NH, S, DQK, DHV } = s;
  const e = s.elementBytes ?? 4;
  const inputs = B * NH * S * (2 * DQK + DHV + 2) * e;
  const out = B * NH * S * DHV * e;
  const state = s.form === "step" || s.form === "recurrent"
    ? 2 * B * NH * (DQK * DHV + DQK + 1) * 4
    : 0;
  const fw = inputs + out + state;
  if ((s.pass ?? "fw") === "fw") return fw;
  return fw + inputs + out + inputs + state;
}
