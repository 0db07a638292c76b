// Shared machinery of the `deno bench` files: one Deno.bench per kernel and pass, grouped by
// family, baseline = the float64 reference (small shapes) or the first GPU kernel of the group
// (large shapes, where the reference would take minutes). Each bench times `calls` calls and one
// completion await between b.start() and b.end(), after an untimed warm-up (pipeline
// compilation), so the reported time is for `calls` calls: divide by it (the name says ×N).
// Kernels without a backward pass are ignored in fwbw groups.
//
// Shapes: MLSTM_BENCH_SIZE=small (default; lavapipe, seconds) or large (GPU machine).

import { getAvailableMlstmKernels, getMlstmKernel } from "../mod.ts";
import type { MlstmOptions, TensorLike } from "../core/types.ts";
import {
  benchInputs,
  disposeResult,
  type InputShape,
  kernelTarget,
  loadKernels,
} from "./_kernels.ts";

/** The shape set selected by MLSTM_BENCH_SIZE. */
export const BENCH_SIZE: "small" | "large" = Deno.env.get("MLSTM_BENCH_SIZE") === "large"
  ? "large"
  : "small";

/** One kernel in a bench group. */
export interface BenchEntry {
  /** Registry name. */
  kernel: string;
  /** Chunk size for chunkwise kernels. */
  chunkSize?: number;
  /** Extra options. */
  options?: MlstmOptions;
}

/** A group: kernels of one family on one shape and pass. */
export interface BenchGroup {
  /** Group name shown by deno bench. */
  group: string;
  /** Shape of the inputs. */
  shape: InputShape;
  /** Forward only or forward + backward. */
  pass: "fw" | "fwbw";
  /** Kernels, baseline candidate first. */
  entries: BenchEntry[];
  /** Step kernels: inputs carry initial states and last states are returned. */
  step?: boolean;
  /** Calls per timed iteration (one completion await each). @default {16 small, 8 large} */
  calls?: number;
}

/** Float64 references are benchmarked only up to this B·NH·S·(S + DQK·DHV) (larger: ignored). */
const CPU_MAX_ELEMENTS = 2e6;

/** Registers the Deno.bench entries of the groups (kernels not in this checkout are ignored). */
export async function registerBenchGroups(groups: BenchGroup[]): Promise<void> {
  const { gpu } = await loadKernels();
  const available = new Set(
    getAvailableMlstmKernels().filter((k) => gpu !== null || k.startsWith("reference--")),
  );
  for (const g of groups) {
    const { B, NH, S, DQK, DHV } = g.shape;
    const cpuOk = B * NH * S * (S + DQK * DHV) <= CPU_MAX_ELEMENTS;
    const runnable = g.entries.filter((e) =>
      available.has(e.kernel) && (!e.kernel.startsWith("reference--") || cpuOk) &&
      (g.pass === "fw" || typeof getMlstmKernel(e.kernel).backward === "function")
    );
    const baseline = runnable[0];
    for (const e of g.entries) {
      // Every entry of a group times the same number of calls, so the summary ratios are fair.
      const calls = g.calls ?? (BENCH_SIZE === "large" ? 8 : 16);
      const name = `${e.kernel}${e.chunkSize ? ` cs=${e.chunkSize}` : ""} ${g.pass} ` +
        `B=${B} NH=${NH} S=${S} DQK=${DQK} DHV=${DHV} ×${calls}`;
      Deno.bench({
        name,
        group: g.group,
        baseline: e === baseline,
        ignore: !runnable.includes(e),
        fn: benchFn(g, e, calls),
      });
    }
  }
}

function benchFn(
  g: BenchGroup,
  e: BenchEntry,
  calls: number,
): (b: Deno.BenchContext) => Promise<void> {
  let prepared: Promise<() => Promise<void>> | undefined;
  const prepare = async () => {
    const t = await kernelTarget(e.kernel);
    const x = await t.upload(
      benchInputs(g.shape, 0, { float64: t.gpu === null, withStates: g.step ?? false }),
      "f32",
    );
    let dh: TensorLike | undefined;
    if (g.pass === "fwbw") {
      dh = await t.uploadTensor(
        benchInputs({ ...g.shape, DQK: 1 }, 1, { float64: t.gpu === null, withStates: false }).v,
        "f32",
      );
    }
    const opts: MlstmOptions = {
      ...e.options,
      ...(e.chunkSize ? { chunkSize: e.chunkSize } : {}),
      ...(g.step ? { returnLastStates: true } : {}),
    };
    const call = async () => {
      const r = await t.kernel.forward(x, opts);
      if (dh !== undefined) disposeResult(await t.kernel.backward!(x, dh, opts));
      disposeResult(r);
    };
    // Warm-up outside the timed region: pipeline compilation, first-use costs.
    await call();
    await call();
    await t.sync();
    return async () => {
      for (let j = 0; j < calls; j++) await call();
      await t.sync();
    };
  };
  return async (b) => {
    prepared ??= prepare();
    const run = await prepared;
    b.start();
    await run();
    b.end();
  };
}
