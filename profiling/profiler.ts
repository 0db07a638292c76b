/**
 * A dispatch profiler for the WebGPU runtime: switch it on around any code, and every dispatch is
 * recorded with its label, workgroup counts, metadata, GPU duration (timestamp queries) and CPU
 * encode/submit times. It plugs into the runtime's dispatch-observer hook
 * (`setDispatchObserver` in kernels/runtime.ts).
 *
 * CPU encode time of a dispatch is the time from the runtime asking for its `timestampWrites`
 * to asking for the next dispatch's (or finishing the batch): pass encoding plus the next bind
 * group. Submit time is from `beforeFinish` to `afterSubmit`: `finish()`, `queue.submit()` and
 * the runtime's error-scope checks.
 *
 * @module
 */

import {
  type DispatchInfo,
  type DispatchObserver,
  getDispatchObserver,
  type Gpu,
  setDispatchObserver,
} from "../kernels/runtime.ts";
import { type BatchRecord, type DispatchRecord, ProfileReport } from "./report.ts";

/** Slots per query set: WebGPU's maximum (two per dispatch, so 2048 dispatches per set). */
const QUERY_SET_SLOTS = 4096;
/** Bytes one full query set resolves to; a multiple of the 256-byte resolve alignment. */
const QUERY_SET_BYTES = QUERY_SET_SLOTS * 8;

/** Options of {@linkcode startProfiling}. */
export interface ProfilingOptions {
  /**
   * Use timestamp queries when the device has `timestamp-query`; `false` forces the wall-clock
   * fallback (per-batch submit-to-completion time shared among the batch's dispatches).
   * @default {true}
   */
  timestamps?: boolean;
  /**
   * What one record is: `"dispatch"` gives every dispatch its own compute pass and record (the
   * per-kernel view; each extra pass costs a few µs of GPU time); `"pass"` leaves the runtime's
   * shared passes alone and records one entry per pass, labelled with its first dispatch (the
   * unperturbed total GPU time of a batch, e.g. for benchmarks).
   * @default {"dispatch"}
   */
  granularity?: "dispatch" | "pass";
}

/** A metadata value of a dispatch record. */
export type MetaValue = number | string | boolean;

interface OpenBatch {
  record: BatchRecord;
  /** Query sets written by this batch, with the number of slots used in each. */
  sets: { set: GPUQuerySet; used: number }[];
  /** Records of this batch, in order; slots 2j, 2j+1 of the batch's j-th dispatch. */
  dispatches: DispatchRecord[];
  /** Staging buffers of the batch's resolve. */
  resolve?: GPUBuffer;
  read?: GPUBuffer;
}

/**
 * A running profiler: the runtime's dispatch observer (`setDispatchObserver`) from
 * {@linkcode startProfiling} until {@linkcode Profiler.stop} returns the report. While it runs,
 * the runtime encodes each dispatch in its own compute pass whose `timestampWrites` this
 * profiler supplies; each batch resolves its timestamps into a staging buffer in its own command
 * buffer (one resolve + one copy) and maps it once, without awaiting: only `stop()` waits.
 *
 * @example Group dispatches by call with the dispatch cursor
 * ```ts
 * import { getGpu, NoAdapterError } from "../kernels/runtime.ts";
 * import { Profiler } from "./profiler.ts";
 * const gpu = await getGpu().catch((e) => { if (e instanceof NoAdapterError) return null; throw e; });
 * if (gpu) {
 *   const p = new Profiler(gpu);
 *   const start = p.dispatchCount;
 *   // ... one kernel call ...
 *   const report = await p.stop();
 *   const callMs = report.records.slice(start).reduce((t, r) => t + r.gpuMs, 0);
 *   console.assert(callMs === 0 && p.usesTimestamps === gpu.hasTimestamps);
 * }
 * ```
 */
export class Profiler implements DispatchObserver {
  #device: GPUDevice;
  #adapterName: string;
  #timestamps: boolean;
  #granularity: "dispatch" | "pass";
  #records: DispatchRecord[] = [];
  #batches: BatchRecord[] = [];
  #open: OpenBatch | undefined;
  #finished: OpenBatch[] = [];
  #free: GPUQuerySet[] = [];
  #all: GPUQuerySet[] = [];
  #pending: Promise<void>[] = [];
  #meta: Record<string, MetaValue> = {};
  #t0: number;
  #stopped = false;

  /**
   * Attaches to the runtime. Prefer {@linkcode startProfiling}.
   *
   * @param gpu The device whose dispatches are recorded (batches on other devices are ignored).
   * @param options Timing options.
   * @throws {Error} If another dispatch observer is already set.
   */
  constructor(gpu: Gpu, options: ProfilingOptions = {}) {
    if (getDispatchObserver() !== null) {
      throw new Error(
        "A dispatch observer is already attached to the runtime; stop the running profiler first",
      );
    }
    this.#device = gpu.device;
    this.#adapterName = gpu.adapterName;
    this.#timestamps = (options.timestamps ?? true) && gpu.device.features.has("timestamp-query");
    this.#granularity = options.granularity ?? "dispatch";
    this.#t0 = performance.now();
    setDispatchObserver(this);
  }

  /** Runtime hook: `false` in `"pass"` granularity (the runtime keeps its shared passes). */
  get passPerDispatch(): boolean {
    return this.#granularity === "dispatch";
  }

  /** Whether GPU durations come from timestamp queries (otherwise from wall time). */
  get usesTimestamps(): boolean {
    return this.#timestamps;
  }

  /** Number of dispatches recorded so far (a cursor for grouping dispatches by call). */
  get dispatchCount(): number {
    return this.#records.length;
  }

  /**
   * Merges metadata into every dispatch recorded from now on (e.g. the shape of the current
   * benchmark case); `undefined` values remove keys. A dispatch's own metadata wins.
   *
   * @param meta Keys and values.
   */
  annotate(meta: Record<string, MetaValue | undefined>): void {
    for (const [k, v] of Object.entries(meta)) {
      if (v === undefined) delete this.#meta[k];
      else this.#meta[k] = v;
    }
  }

  #now(): number {
    return performance.now() - this.#t0;
  }

  #closeEncode(): void {
    const open = this.#open;
    const last = open?.dispatches[open.dispatches.length - 1];
    if (last && Number.isNaN(last.cpuEncodeMs)) last.cpuEncodeMs = this.#now() - last.cpuStartMs;
  }

  #slotPair(open: OpenBatch): GPUComputePassTimestampWrites {
    let last = open.sets[open.sets.length - 1];
    if (last === undefined || last.used + 2 > QUERY_SET_SLOTS) {
      let set = this.#free.pop();
      if (set === undefined) {
        set = this.#device.createQuerySet({
          type: "timestamp",
          count: QUERY_SET_SLOTS,
          label: "profiler timestamps",
        });
        this.#all.push(set);
      }
      last = { set, used: 0 };
      open.sets.push(last);
    }
    const i = last.used;
    last.used += 2;
    return { querySet: last.set, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /**
   * Runtime hook: a batch starts encoding; batches on other devices are not recorded.
   *
   * @param gpu The batch's device.
   */
  beginBatch(gpu: Gpu): void {
    if (this.#stopped || gpu.device !== this.#device) {
      this.#open = undefined;
      return;
    }
    const index = this.#batches.length;
    this.#open = {
      record: {
        index,
        firstDispatch: this.#records.length,
        dispatchCount: 0,
        submitStartMs: NaN,
        submitMs: NaN,
        wallMs: NaN,
      },
      sets: [],
      dispatches: [],
    };
    this.#batches.push(this.#open.record);
  }

  /**
   * Runtime hook: records a dispatch and hands out its pair of timestamp slots.
   *
   * @param info The dispatch.
   * @returns The pass's `timestampWrites`, or `undefined` (wall-clock fallback, foreign device).
   */
  timestampWrites(info: DispatchInfo): GPUComputePassTimestampWrites | undefined {
    const open = this.#open;
    if (open === undefined) return undefined;
    this.#closeEncode();
    const rec: DispatchRecord = {
      index: this.#records.length,
      batch: open.record.index,
      label: info.label,
      workgroups: [...info.workgroups],
      meta: { ...this.#meta, ...info.meta },
      // A pass record covers dispatches the observer never sees: no per-dispatch costs on it.
      flops: this.#granularity === "dispatch" ? info.flops : undefined,
      bytes: this.#granularity === "dispatch" ? info.bytes : undefined,
      cpuStartMs: this.#now(),
      cpuEncodeMs: NaN,
      gpuStartNs: NaN,
      gpuMs: NaN,
    };
    this.#records.push(rec);
    open.dispatches.push(rec);
    return this.#timestamps ? this.#slotPair(open) : undefined;
  }

  /**
   * Runtime hook: resolves the batch's timestamps into a staging buffer inside its own encoder.
   *
   * @param encoder The batch's command encoder, before `finish()`.
   */
  beforeFinish(encoder: GPUCommandEncoder): void {
    const open = this.#open;
    if (open === undefined) return;
    this.#closeEncode();
    this.#open = undefined;
    open.record.submitStartMs = this.#now();
    open.record.dispatchCount = open.dispatches.length;
    // The runtime submits right after this, synchronously; afterSubmit comes later, after its
    // error checks, possibly after other batches began: finished batches wait in a queue.
    this.#finished.push(open);
    // The resolve goes into this batch's own command buffer: the sets are free for later batches.
    for (const { set } of open.sets) this.#free.push(set);
    if (!this.#timestamps || open.sets.length === 0) return;
    const lastUsed = open.sets[open.sets.length - 1].used;
    const size = (open.sets.length - 1) * QUERY_SET_BYTES + Math.ceil((lastUsed * 8) / 256) * 256;
    open.resolve = this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      label: "profiler resolve",
    });
    open.read = this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "profiler readback",
    });
    open.sets.forEach(({ set, used }, j) => {
      encoder.resolveQuerySet(set, 0, used, open.resolve!, j * QUERY_SET_BYTES);
    });
    encoder.copyBufferToBuffer(open.resolve, 0, open.read, 0, size);
  }

  /** Runtime hook: the batch was submitted; starts (without awaiting) its one read-back. */
  afterSubmit(): void {
    const now = this.#now();
    for (const open of this.#finished.splice(0)) {
      open.record.submitMs = now - open.record.submitStartMs;
      this.#readBack(open);
    }
  }

  #readBack(open: OpenBatch): void {
    if (!this.#timestamps) {
      const start = open.record.submitStartMs;
      this.#pending.push(
        this.#device.queue.onSubmittedWorkDone().then(() => {
          open.record.wallMs = this.#now() - start;
        }),
      );
      return;
    }
    const { read, resolve } = open;
    if (!read || !resolve) return;
    this.#pending.push(
      read.mapAsync(GPUMapMode.READ).then(() => {
        const ticks = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        open.dispatches.forEach((rec, j) => {
          const setIndex = Math.floor((2 * j) / QUERY_SET_SLOTS);
          const slot = setIndex * QUERY_SET_SLOTS + ((2 * j) % QUERY_SET_SLOTS);
          const begin = ticks[slot], end = ticks[slot + 1];
          rec.gpuStartNs = Number(begin);
          rec.gpuMs = Number(end - begin) / 1e6;
        });
      }).catch(() => {
        // The batch's submit failed (the runtime threw): its dispatches keep NaN durations.
      }).finally(() => {
        read.destroy();
        resolve.destroy();
      }),
    );
  }

  /**
   * Detaches from the runtime, waits for the outstanding timestamp read-backs (one GPU round
   * trip) and returns the report.
   *
   * @returns The report.
   * @throws {Error} If called twice.
   */
  async stop(): Promise<ProfileReport> {
    if (this.#stopped) throw new Error("This profiler was already stopped");
    this.#stopped = true;
    if (getDispatchObserver() === this) setDispatchObserver(null);
    // Batches whose afterSubmit never came (their submit threw) still release their buffers.
    for (const open of this.#finished.splice(0)) this.#readBack(open);
    await Promise.all(this.#pending);
    const wallMs = this.#now();
    for (const set of this.#all) set.destroy();
    if (!this.#timestamps) {
      // Wall-clock fallback: each batch's submit-to-completion time shared among its dispatches.
      for (const b of this.#batches) {
        const n = b.dispatchCount;
        for (let j = 0; j < n; j++) this.#records[b.firstDispatch + j].gpuMs = b.wallMs / n;
      }
    }
    return new ProfileReport({
      timing: this.#timestamps ? "gpu-timestamps" : "wall",
      granularity: this.#granularity,
      device: this.#adapterName,
      records: this.#records,
      batches: this.#batches,
      wallMs,
    });
  }
}

/**
 * Starts recording every dispatch the runtime submits on `gpu`'s device (all `DispatchBatch`
 * submits; kernels run through the registry use them).
 *
 * With `timestamp-query` on the device each dispatch gets a GPU duration from a pair of
 * timestamps written by its own compute pass (while a profiler runs the runtime gives each
 * dispatch its own pass, which adds a few µs per dispatch on the GPU); without it, or with
 * `{ timestamps: false }`, durations are wall time and the report says so. When no profiler
 * runs, the runtime pays one null check per batch.
 *
 * @example Profile a kernel
 * ```ts
 * import { getGpu, GpuTensor, NoAdapterError } from "../kernels/mod.ts";
 * import { getMlstmKernel, Random, randomMlstmInputs, registerMlstmKernels } from "../mod.ts";
 * import { webgpuKernels } from "../kernels/mod.ts";
 * import { startProfiling } from "./mod.ts";
 * const gpu = await getGpu().catch((e) => { if (e instanceof NoAdapterError) return null; throw e; });
 * if (gpu) {
 *   registerMlstmKernels(webgpuKernels);
 *   const x = randomMlstmInputs({ B: 1, NH: 2, S: 16, DQK: 8, DHV: 8 }, new Random(0));
 *   const p = startProfiling(gpu);
 *   p.annotate({ S: 16 });
 *   const { h } = await getMlstmKernel("parallel--stablef").forward(x);
 *   const report = await p.stop();
 *   console.assert(report.records.length >= 1 && report.records[0].meta.S === 16);
 *   console.log(report.formatSummary());
 * }
 * ```
 *
 * @param gpu The device (from `getGpu()`).
 * @param options Timing options.
 * @returns The running profiler.
 * @throws {Error} If a profiler (or another dispatch observer) is already attached.
 */
export function startProfiling(gpu: Gpu, options?: ProfilingOptions): Profiler {
  return new Profiler(gpu, options);
}

/**
 * Runs `fn` with a profiler attached and returns its result with the report. The profiler is
 * stopped even when `fn` throws.
 *
 * @example
 * ```ts
 * import { getGpu, NoAdapterError } from "../kernels/runtime.ts";
 * import { withProfiling } from "./mod.ts";
 * const gpu = await getGpu().catch((e) => { if (e instanceof NoAdapterError) return null; throw e; });
 * if (gpu) {
 *   const { result, report } = await withProfiling(gpu, () => 42);
 *   console.assert(result === 42 && report.records.length === 0);
 * }
 * ```
 *
 * @param gpu The device (from `getGpu()`).
 * @param fn The code to profile.
 * @param options Timing options.
 * @returns `fn`'s result and the report.
 */
export async function withProfiling<T>(
  gpu: Gpu,
  fn: () => T | Promise<T>,
  options?: ProfilingOptions,
): Promise<{ result: T; report: ProfileReport }> {
  const p = startProfiling(gpu, options);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    await p.stop();
    throw e;
  }
  return { result, report: await p.stop() };
}
