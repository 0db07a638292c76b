/**
 * Profiling hooks for the mLSTM WebGPU kernels: a dispatch profiler (GPU durations from timestamp
 * queries, CPU encode and submit times) with Chrome-trace, CSV and summary-table exports; measured
 * hardware ceilings (copy bandwidth, tiled-matmul FLOP/s); GPU memory accounting; and the SPEC §6
 * cost model.
 *
 * @example Profile, then print a per-kernel table against measured ceilings
 * ```ts ignore
 * import { getGpu } from "../kernels/mod.ts";
 * import { measureCeilings, startProfiling } from "./mod.ts";
 * const gpu = await getGpu();
 * const ceilings = await measureCeilings(gpu);
 * const p = startProfiling(gpu);
 * // ... run kernels ...
 * const report = await p.stop();
 * console.log(report.formatSummary(ceilings));
 * await Deno.writeTextFile("trace.json", JSON.stringify(report.toChromeTrace()));
 * ```
 *
 * @module
 */

export * from "./profiler.ts";
export * from "./report.ts";
export * from "./ceilings.ts";
export * from "./memory.ts";
export * from "./cost_model.ts";
export type { DispatchInfo, DispatchObserver, Gpu, GpuLimits } from "../kernels/runtime.ts";
