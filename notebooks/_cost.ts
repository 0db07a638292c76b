/**
 * The cost model of SPEC §6 (FLOP and bytes per forward pass) for benchmarks and rooflines.
 *
 * FLOP per token and head (a multiply-add is 2 FLOP; the same count as profiling/cost_model.ts):
 * - chunkwise forward: 4·DQK·DHV (state update Kᵀ V and inter-chunk readout Q C) + 2·L·(DQK + DHV)
 *   (the intra-chunk products q·kᵀ and S̃·v over full L × L blocks), for chunk size L;
 * - parallel forward: 2·S·(DQK + DHV) (full S×S products);
 * - step: 4·DQK·DHV on a state of DQK·DHV·4 bytes read and written once.
 *
 * Bytes (compulsory traffic): q, k, v, i, f read and h written once at `bytesPerElement`; the chunkwise
 * forms also write and read back one f32 state (C, n, m) per chunk boundary, i.e.
 * 2·(DQK·DHV + DQK + 1)·4 bytes per chunk and head. Backward passes are counted as 2× the forward's
 * FLOP (the usual rule; fwbw = 3× forward), which is an assumption, not part of the SPEC.
 *
 * @module
 */

/** Problem shape. */
export interface CostDims {
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
}

/** FLOP and bytes of one pass. */
export interface Cost {
  flop: number;
  bytes: number;
  /** flop / bytes. */
  intensity: number;
}

function io(d: CostDims, bytesPerElement: number): number {
  return d.B * d.NH * d.S * (2 * d.DQK + 2 * d.DHV + 2) * bytesPerElement;
}

function cost(flop: number, bytes: number): Cost {
  return { flop, bytes, intensity: flop / bytes };
}

/** Chunkwise forward with chunk size L. */
export function chunkwiseCost(d: CostDims, L: number, bytesPerElement = 4): Cost {
  const tokens = d.B * d.NH * d.S;
  const flop = tokens * (4 * d.DQK * d.DHV + 2 * L * (d.DQK + d.DHV));
  const chunks = d.B * d.NH * Math.ceil(d.S / L);
  const states = chunks * 2 * (d.DQK * d.DHV + d.DQK + 1) * 4;
  return cost(flop, io(d, bytesPerElement) + states);
}

/** Parallel (quadratic) forward. */
export function parallelCost(d: CostDims, bytesPerElement = 4): Cost {
  const flop = 2 * d.B * d.NH * d.S * d.S * (d.DQK + d.DHV);
  return cost(flop, io(d, bytesPerElement));
}

/** Recurrent forward as S fused steps, the state read and written at every step. */
export function recurrentCost(d: CostDims, bytesPerElement = 4): Cost {
  const tokens = d.B * d.NH * d.S;
  const flop = tokens * 4 * d.DQK * d.DHV;
  const state = tokens * 2 * (d.DQK * d.DHV + d.DQK + 1) * 4;
  return cost(flop, io(d, bytesPerElement) + state);
}

/**
 * The forward cost of a kernel by its registry name's form.
 *
 * @param form "chunkwise", "parallel", "recurrent" or "step".
 * @param d The shape (S = 1 for a step).
 * @param L Chunk size (chunkwise only).
 * @param bytesPerElement 4 for f32 storage, 2 for f16.
 * @returns FLOP, bytes and intensity.
 */
export function forwardCost(form: string, d: CostDims, L = 64, bytesPerElement = 4): Cost {
  if (form === "chunkwise") return chunkwiseCost(d, L, bytesPerElement);
  if (form === "parallel") return parallelCost(d, bytesPerElement);
  return recurrentCost(d, bytesPerElement);
}

/** The form of a registry name: `chunkwise--xl_chunk` → `chunkwise`, `reference--parallel_siging` → `parallel`. */
export function formOf(name: string): string {
  const [a, b = ""] = name.split("--");
  return a === "reference" ? b.replace(/_siging$/, "") : a;
}
