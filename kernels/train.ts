/**
 * Training step entry: {@linkcode forwardBackward} runs a kernel's forward pass and its backward
 * pass back to back on the GPU, keeping everything on the device in between.
 *
 * @module
 */

import { getAvailableMlstmKernels, getMlstmKernel } from "../core/registry.ts";
import type { Tensor } from "../core/tensor.ts";
import type {
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../core/types.ts";
import { isCpuTensor, validateDh, validateMlstmInputs } from "../core/validate.ts";
import { assertDeviceInputsFinite, toDevice } from "./_common.ts";
import {
  attachBackwards,
  chunkwiseBackwardBytes,
  forwardScoresBuffer,
  type MlstmBackwardOptions,
  savedStatesHeadLimit,
} from "./backward/backward.ts";
import {
  type ChunkwiseForwardResult,
  chunkwiseHeadGroup,
  chunkwiseKernels,
  type ChunkwiseOptions,
} from "./chunkwise/mod.ts";
import { hasDocumentStarts } from "../core/documents.ts";
import { parallelKernels } from "./parallel.ts";
import { recurrentKernels } from "./recurrent.ts";
import { type Gpu, GpuTensor, readTensors } from "./runtime.ts";

/** What {@linkcode forwardBackward} resolves to. */
export interface ForwardBackwardResult<T = TensorLike> {
  /** The forward output (B, NH, S, DHV). */
  h: T;
  /** The last states, when `returnLastStates` was set. */
  last?: MlstmStates<T>;
  /** The gradients of the loss whose output gradient is `dh`. */
  grads: MlstmGradients<T>;
}

/** The chunkwise WebGPU kernels, whose forward can keep the chunk states for the backward. */
const KEEPS_STATES = new Set(chunkwiseKernels.map((k) => k.name));

const own = new Map<string, MlstmKernel>(
  attachBackwards([...recurrentKernels, ...parallelKernels, ...chunkwiseKernels]).map((
    k,
  ) => [k.name, k]),
);

function resolveKernel(name: string): MlstmKernel {
  let k: MlstmKernel | undefined;
  try {
    k = getMlstmKernel(name);
  } catch {
    k = undefined;
  }
  if (!k?.backward) k = own.get(name) ?? k;
  if (!k) {
    throw new RangeError(
      `Unknown mLSTM kernel ${JSON.stringify(name)}; kernels with a backward pass: ${
        withBackward().join(", ")
      }`,
    );
  }
  if (!k.backward) {
    throw new TypeError(
      `Kernel ${name} has no backward pass; kernels with one: ${withBackward().join(", ")}`,
    );
  }
  return k;
}

function withBackward(): string[] {
  const names = [...own.values()].filter((k) => k.backward).map((k) => k.name);
  for (const n of getAvailableMlstmKernels()) {
    if (getMlstmKernel(n).backward && !names.includes(n)) names.push(n);
  }
  return names;
}

/**
 * Runs the forward pass of a kernel and then its backward pass for the output gradient `dh`, with
 * one options object for both (so they cannot disagree). For a WebGPU kernel the inputs are
 * uploaded once, h (and the last states) stay on the GPU, the backward reads the same device
 * inputs, and nothing is read back between the two passes: CPU inputs give CPU results, read back
 * together at the end (one GPU wait); GpuTensor inputs give GpuTensors and, without
 * `checkFinite`, nothing is read back at all. `checkFinite` checks the inputs (device inputs are
 * read back for it) and a CPU dh before the passes, and every output (h, last states, gradients)
 * once after both (for GpuTensor inputs with one read-back at the end); it is not handed to the
 * passes themselves. If the backward pass
 * or that check throws, the forward's device outputs are freed. The backward recomputes the
 * per-row normalizer statistics from the inputs. For the chunkwise WebGPU kernels
 * (`chunkwise--xl_chunk`, `chunkwise--xl_chunk_siging`, `chunkwise--limit_chunk`), where the
 * backward's register-blocked kernels run (head dimensions multiples of 64; see
 * `savedStatesHeadLimit`) and this takes no more GPU memory at its peak than recomputing, the
 * forward keeps its chunk-boundary states (`keepForBackward`, in head groups that fit the
 * backward's buffers) and the backward reads them (`savedStates`) instead of recomputing them:
 * one state scan fewer (~3 ms of 34.6 at B·S 65,536, NH 16, DQK 128, DHV 256, chunk 64 on an
 * H100, where the peak is 8 MB lower). The kept states of all heads replace the forward's pooled
 * states of one head group and the backward's recomputed ones, so this holds with up to two head
 * groups of states on long enough sequences (at DQK 128, DHV 256, chunk 64: S ≥ 4112 with two
 * groups, any S with one; larger chunks need fewer groups); elsewhere the backward recomputes.
 * The kept states are freed after the backward, also when it throws. The results agree to
 * rounding either way. With `setBackwardScoresFromForward` on (issue #14, the default since
 * stop 17; speed variant `fwx`) and kept states at chunk size 64, the backward's dk buffer is
 * allocated before the forward, whose parallel kernel writes each chunk's raw score block q·kᵀ
 * into it, and the backward's fused stats reads the blocks there instead of forming them (the
 * same peak memory; the same results to rounding). Float64 reference kernels (`reference--*`)
 * run both passes on the CPU.
 *
 * @example One training step of the parallel kernel
 * ```ts ignore
 * import { forwardBackward } from "./train.ts";
 * import { Random, randomMlstmInputs, randomTensor } from "../mod.ts";
 * const rng = new Random(0);
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 9, DQK: 8, DHV: 8 }, rng);
 * const { h, grads } = await forwardBackward("parallel--stablef", x, randomTensor([1, 2, 9, 8], rng));
 * console.assert(h.shape.join() === "1,2,9,8" && grads.df.shape.join() === "1,2,9");
 * ```
 *
 * @example Both passes of a float64 reference (runs without a GPU)
 * ```ts
 * import assert from "node:assert/strict";
 * import { forwardBackward } from "./train.ts";
 * import { Random, randomMlstmInputs, randomTensor } from "../mod.ts";
 * const rng = new Random(0);
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 2, DHV: 3 }, rng);
 * const r = await forwardBackward("reference--chunkwise", x, randomTensor([1, 1, 5, 3], rng), {
 *   chunkSize: 2,
 *   checkFinite: true,
 * });
 * assert.ok(r.h.shape.join() === "1,1,5,3" && r.grads.dv.shape.join() === "1,1,5,3");
 * ```
 *
 * @param kernelName A kernel with a backward pass, e.g. `"chunkwise--xl_chunk"`.
 * @param inputs q, k, v, i, f and optional initial states.
 * @param dh Gradient of the loss with respect to h, (B, NH, S, DHV).
 * @param options Forward options (`chunkSize`, `eps`, `normalize`, `dtype`, `returnLastStates`,
 *   `checkFinite`, `documentStarts`; `tiles` for the chunkwise WebGPU kernels, given to the
 *   forward only) plus `gradient` ("exact" by default).
 * @returns h, the last states when asked for, and the gradients.
 * @throws {RangeError} For an unknown kernel, a dh of the wrong shape, or (with `checkFinite`) a
 *   non-finite input or output.
 * @throws {TypeError} For a kernel without a backward pass or options its forward rejects.
 */
export async function forwardBackward(
  kernelName: string,
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmOptions & Pick<ChunkwiseOptions, "tiles"> = {},
): Promise<ForwardBackwardResult> {
  const kernel = resolveKernel(kernelName);
  const context = { inputGate: kernel.inputGate, name: kernel.name, backend: kernel.backend };
  // Tile overrides are the chunkwise WebGPU forward's alone: the backward takes none.
  const { tiles, ...common } = options;
  if (tiles !== undefined && !KEEPS_STATES.has(kernel.name)) {
    throw new TypeError(
      `Option tiles applies to the chunkwise WebGPU kernels (${
        [...KEEPS_STATES].join(", ")
      }); ${kernel.name} takes none`,
    );
  }
  const dims = validateMlstmInputs(inputs, common, context);
  validateDh(dh, dims, common, context);
  const checkFinite = options.checkFinite ?? false;
  // The one options object of both passes; checkFinite is applied once, to the results.
  const passOptions: MlstmOptions = { ...common };
  delete passOptions.checkFinite;
  if (kernel.backend !== "webgpu") {
    const fw = await kernel.forward(inputs, passOptions);
    const grads = await kernel.backward!(inputs, dh, passOptions);
    const out = { ...fw, grads };
    if (checkFinite) assertFiniteOutputs(outputsOf(fw, grads) as [string, Tensor][]);
    return out;
  }
  const x = await toDevice(inputs, options, {
    c: inputs.cInitial,
    n: inputs.nInitial,
    m: inputs.mInitial,
  });
  const dev: MlstmInputs = { q: x.q, k: x.k, v: x.v, i: x.i, f: x.f };
  if (x.c) {
    dev.cInitial = x.c;
    dev.nInitial = x.n!;
    dev.mInitial = x.m!;
  }
  let dhG: TensorLike = dh;
  // The device inputs carry the storage type now.
  delete passOptions.dtype;
  // The forward's score blocks for the backward (setBackwardScoresFromForward), until the
  // backward returns them as dk (freed on every other way out).
  let scores: GpuTensor | undefined;
  try {
    if (x.cpu) {
      if (!isCpuTensor(dh)) {
        throw new TypeError(
          "Argument dh is a GpuTensor but the inputs are CPU tensors: pass both alike",
        );
      }
      dhG = GpuTensor.fromTensor(x.gpu, dh as Tensor, x.dtype);
    } else if (checkFinite && dh instanceof GpuTensor) {
      // Named here (toDevice checked the inputs), not later as a non-finite gradient.
      await assertDeviceInputsFinite([["dh", dh]]);
    }
    // Chunkwise WebGPU kernels: the forward keeps its chunk states for the backward (in head
    // groups that fit the backward's buffers) where the backward would use them and the peak
    // memory is no higher than with the states recomputed.
    let fwOptions: ChunkwiseOptions = tiles === undefined ? passOptions : { ...passOptions, tiles };
    if (kernel.backend === "webgpu" && KEEPS_STATES.has(kernel.name)) {
      const heads = keptStateHeads(x.gpu, dims, common, x.c !== undefined);
      if (heads > 0) {
        fwOptions = { ...fwOptions, keepForBackward: true, maxHeadsPerGroup: heads };
        // setBackwardScoresFromForward: the backward's dk buffer, allocated before the forward,
        // which writes its raw score blocks into it for the backward's stats.
        scores = forwardScoresBuffer(x.gpu, dims, {
          chunkSize: common.chunkSize ?? 64,
          gradient: common.gradient ?? "exact",
          gate: kernel.inputGate,
        });
        if (scores) fwOptions = { ...fwOptions, scoresOut: scores };
      }
    }
    const fw: ChunkwiseForwardResult = await kernel.forward(dev, fwOptions);
    const saved = fw.saved;
    delete fw.saved;
    let grads: MlstmGradients;
    try {
      const bwOptions: MlstmBackwardOptions = saved
        ? {
          ...passOptions,
          savedStates: saved,
          ...(scores && saved.scores === scores ? { forwardScores: scores } : {}),
        }
        : passOptions;
      grads = await kernel.backward!(dev, dhG, bwOptions);
    } catch (e) {
      destroyAll(outputsOf(fw));
      throw e;
    } finally {
      saved?.destroy();
    }
    // The score blocks' tensor is the gradient dk where the backward read them.
    if (scores && grads.dk !== scores) scores.destroy();
    scores = undefined;
    const named = outputsOf(fw, grads) as [string, GpuTensor][];
    if (x.cpu) return await readBack(fw, grads, named, checkFinite);
    if (checkFinite) {
      try {
        const read = await readTensors(named.map(([, t]) => t));
        assertFiniteOutputs(named.map(([n], j) => [n, read[j]!]));
      } catch (e) {
        destroyAll(named);
        throw e;
      }
    }
    return { ...fw, grads };
  } finally {
    scores?.destroy();
    for (const t of x.temps) t.destroy();
    if (dhG !== dh && dhG instanceof GpuTensor) dhG.destroy();
  }
}

/**
 * Heads per group of kept states for {@linkcode forwardBackward}, or 0 to let the backward
 * recompute them: where the backward would read them (`savedStatesHeadLimit`) and the states of
 * all heads kept by the forward plus the backward's scratch with them take no more memory than
 * the forward's pooled states of one head group plus the recomputing backward's scratch (the gate
 * scratch is the same either way). Kept states cost one head group more than the pooled ones and
 * save the recomputed states (a group's NC packed states) and the per-row gate statistics, so
 * they win with up to two head groups on long enough sequences (at DQK 128, DHV 256: S ≥ 4112
 * with two groups; any S with one), and lose with three or more.
 */
function keptStateHeads(
  gpu: Gpu,
  d: { B: number; NH: number; S: number; DQK: number; DHV: number },
  o: MlstmOptions,
  withInitialStates: boolean,
): number {
  const L = o.chunkSize ?? 64;
  const heads = savedStatesHeadLimit(gpu, d, { chunkSize: L, withInitialStates });
  if (heads < 1) return 0;
  const BH = d.B * d.NH, NC = Math.ceil(d.S / L);
  const perHead = 4 * (NC + 1) * (d.DQK * d.DHV + d.DQK + 1);
  const pooled = chunkwiseHeadGroup(gpu.limits, BH, NC, d.DQK, d.DHV) * perHead;
  // The backward's groups with saved states are the forward's, at most as large as its own
  // (the per-row terms that do not depend on the states are the same either way).
  const bw = (saved: boolean) =>
    chunkwiseBackwardBytes(
      d.B,
      d.NH,
      d.S,
      d.DQK,
      d.DHV,
      L,
      heads * 4 * (NC + 1) * (d.DQK * d.DHV + d.DQK),
      false,
      true,
      hasDocumentStarts(o.documentStarts),
      saved,
    );
  return BH * perHead + bw(true) <= pooled + bw(false) ? Math.min(heads, BH) : 0;
}

/** The outputs of both passes by name: h, last c/n/m, then the gradients. */
function outputsOf(fw: MlstmForwardResult, grads?: MlstmGradients): [string, TensorLike][] {
  const named: [string, TensorLike][] = [["h", fw.h]];
  if (fw.last) named.push(["last c", fw.last.c], ["last n", fw.last.n], ["last m", fw.last.m]);
  if (grads) { for (const [k, t] of Object.entries(grads)) if (t) named.push([k, t]); }
  return named;
}

function destroyAll(named: [string, TensorLike][]): void {
  for (const [, t] of named) if (t instanceof GpuTensor) t.destroy();
}

function assertFiniteOutputs(named: [string, Tensor][]): void {
  for (const [name, t] of named) {
    const j = t.data.findIndex((v) => !Number.isFinite(v));
    if (j >= 0) {
      throw new RangeError(
        `Output ${name} of forwardBackward holds a non-finite value ${t.data[j]} at flat index ` +
          `${j}: the inputs overflow float32 (or f16 storage) or are themselves non-finite`,
      );
    }
  }
}

async function readBack(
  fw: MlstmForwardResult,
  grads: MlstmGradients,
  named: [string, GpuTensor][],
  checkFinite: boolean,
): Promise<ForwardBackwardResult<Tensor>> {
  let read: Tensor[];
  try {
    read = await readTensors(named.map(([, t]) => t));
  } finally {
    destroyAll(named);
  }
  if (checkFinite) assertFiniteOutputs(named.map(([n], j) => [n, read[j]!]));
  const get = (k: string) => read[named.findIndex(([n]) => n === k)]!;
  const g: Record<string, Tensor> = {};
  for (const k of Object.keys(grads)) if (grads[k as keyof MlstmGradients]) g[k] = get(k);
  const out: ForwardBackwardResult<Tensor> = {
    h: get("h"),
    grads: g as unknown as MlstmGradients<Tensor>,
  };
  if (fw.last) out.last = { c: get("last c"), n: get("last n"), m: get("last m") };
  return out;
}
