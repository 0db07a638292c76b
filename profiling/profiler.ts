/**
 * A dispatch profiler for the WebGPU runtime: switch it on around any code, and every dispatch is
 * recorded with its label, workgroup counts, metadata, GPU duration (timestamp queries) and CPU
 * encode/submit times.
 *
 * @module
 */

import type { DispatchInfo, DispatchObserver, ObservableGpu } from "./observer.ts";
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
}

interface OpenBatch {
  record: BatchRecord;
  /** Query sets written by this batch, with the number of slots used in each. */
  sets: { set: GPUQuerySet; used: number }[];
  /** Records of this batch, in order; slot 2j/2j+1 of the batch's j-th dispatch. */
  dispatches: DispatchRecord[];
}

/**
 * A running profiler. Create it with {@linkcode startProfiling}; it is the runtime's dispatch
 * observer until {@linkcode Profiler.stop} returns the report.
 */
export class Profiler implements DispatchObserver {
  #gpu: ObservableGpu;
  #device: GPUDevice;
  #timestamps: boolean;
  #records: DispatchRecord[] = [];
  #batches: BatchRecord[] = [];
  #open: OpenBatch;
  #free: GPUQuerySet[] = [];
  #all: GPUQuerySet[] = [];
  #pending: Promise<void>[] = [];
  #current: DispatchRecord | undefined;
  #t0: number;
  #stopped = false;

  /**
   * Attaches to a GPU context. Prefer {@linkcode startProfiling}.
   *
   * @param gpu The GPU context (runtime GPU object or `{ device, dispatchObserver }`).
   * @param options Timing options.
   * @throws {Error} If another observer is already attached.
   */
  constructor(gpu: ObservableGpu, options: ProfilingOptions = {}) {
    if (gpu.dispatchObserver !== undefined) {
      throw new Error(
        "A dispatch observer is already attached to this GPU context; stop the running profiler first",
      );
    }
    this.#gpu = gpu;
    this.#device = gpu.device;
    this.#timestamps = (options.timestamps ?? true) && gpu.device.features.has("timestamp-query");
    this.#t0 = performance.now();
    this.#open = this.#newBatch();
    gpu.dispatchObserver = this;
  }

  /** Whether GPU durations come from timestamp queries (otherwise from wall time). */
  get usesTimestamps(): boolean {
    return this.#timestamps;
  }

  /** Number of dispatches recorded so far (a cursor for grouping dispatches by call). */
  get dispatchCount(): number {
    return this.#records.length;
  }

  #newBatch(): OpenBatch {
    const record: BatchRecord = {
      index: this.#batches.length,
      firstDispatch: this.#records.length,
      dispatchCount: 0,
      submitStartMs: NaN,
      submitMs: NaN,
      wallMs: NaN,
    };
    return { record, sets: [], dispatches: [] };
  }

  #slotPair(): GPUComputePassTimestampWrites {
    let last = this.#open.sets[this.#open.sets.length - 1];
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
      this.#open.sets.push(last);
    }
    const i = last.used;
    last.used += 2;
    return { querySet: last.set, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
  }

  /** @inheritdoc */
  beginDispatch(info: DispatchInfo): GPUComputePassTimestampWrites | undefined {
    const now = performance.now();
    const rec: DispatchRecord = {
      index: this.#records.length,
      batch: this.#batches.length,
      label: info.label,
      workgroups: [...info.workgroups],
      meta: info.meta ? { ...info.meta } : {},
      flops: info.flops,
      bytes: info.bytes,
      cpuStartMs: now - this.#t0,
      cpuEncodeMs: NaN,
      gpuStartNs: NaN,
      gpuMs: NaN,
    };
    this.#records.push(rec);
    this.#open.dispatches.push(rec);
    this.#current = rec;
    return this.#timestamps ? this.#slotPair() : undefined;
  }

  /** @inheritdoc */
  endDispatch(): void {
    const rec = this.#current;
    if (rec !== undefined) {
      rec.cpuEncodeMs = performance.now() - this.#t0 - rec.cpuStartMs;
      this.#current = undefined;
    }
  }

  /** @inheritdoc */
  beforeSubmit(): void {
    this.#open.record.submitStartMs = performance.now() - this.#t0;
  }

  /** @inheritdoc */
  afterSubmit(): void {
    const b = this.#open.record;
    const now = performance.now() - this.#t0;
    if (Number.isNaN(b.submitStartMs)) b.submitStartMs = now;
    b.submitMs = now - b.submitStartMs;
    if (this.#open.dispatches.length > 0) this.#flush();
  }

  /** Closes the open batch: one resolve + one copy + one map (not awaited here). */
  #flush(): void {
    const open = this.#open;
    this.#open = this.#newBatch();
    open.record.dispatchCount = open.dispatches.length;
    this.#batches.push(open.record);
    if (!this.#timestamps) {
      const start = open.record.submitStartMs;
      this.#pending.push(
        this.#device.queue.onSubmittedWorkDone().then(() => {
          open.record.wallMs = performance.now() - this.#t0 - start;
        }),
      );
      return;
    }
    const size = open.sets.length * QUERY_SET_BYTES;
    const resolve = this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      label: "profiler resolve",
    });
    const read = this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "profiler readback",
    });
    const enc = this.#device.createCommandEncoder({ label: "profiler resolve" });
    open.sets.forEach(({ set, used }, j) => {
      enc.resolveQuerySet(set, 0, used, resolve, j * QUERY_SET_BYTES);
    });
    enc.copyBufferToBuffer(resolve, 0, read, 0, size);
    this.#device.queue.submit([enc.finish()]);
    // The resolve is queued after the batch's writes, so the sets may be reused right away.
    for (const { set } of open.sets) this.#free.push(set);
    this.#pending.push(
      read.mapAsync(GPUMapMode.READ).then(() => {
        const ticks = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        read.destroy();
        resolve.destroy();
        open.dispatches.forEach((rec, j) => {
          const setIndex = Math.floor((2 * j) / QUERY_SET_SLOTS);
          const slot = setIndex * QUERY_SET_SLOTS + ((2 * j) % QUERY_SET_SLOTS);
          const begin = ticks[slot], end = ticks[slot + 1];
          rec.gpuStartNs = Number(begin);
          rec.gpuMs = Number(end - begin) / 1e6;
        });
      }),
    );
  }

  /**
   * Detaches from the GPU context, waits for the outstanding timestamp read-backs (one GPU round
   * trip) and returns the report. Dispatches not yet followed by `afterSubmit` are assumed to
   * have been submitted and form the last batch.
   *
   * @returns The report.
   * @throws {Error} If called twice.
   */
  async stop(): Promise<ProfileReport> {
    if (this.#stopped) throw new Error("This profiler was already stopped");
    this.#stopped = true;
    if (this.#gpu.dispatchObserver === this) this.#gpu.dispatchObserver = undefined;
    if (this.#open.dispatches.length > 0) {
      if (Number.isNaN(this.#open.record.submitStartMs)) {
        this.#open.record.submitStartMs = this.#open.dispatches[0].cpuStartMs;
      }
      this.#flush();
    }
    await Promise.all(this.#pending);
    const wallMs = performance.now() - this.#t0;
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
      device: describeDevice(this.#device),
      records: this.#records,
      batches: this.#batches,
      wallMs,
    });
  }
}

function describeDevice(device: GPUDevice): string {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info ? [info.vendor, info.description].filter((s) => s).join(" ") : "unknown device";
}

/**
 * Starts recording every dispatch on a GPU context (the runtime's GPU object).
 *
 * With `timestamp-query` on the device each dispatch gets a GPU duration from a pair of
 * timestamps written by its own compute pass (the runtime gives each observed dispatch its own
 * pass, which adds a few µs per dispatch on the GPU); without it, or with
 * `{ timestamps: false }`, durations are wall time and the report says so.
 *
 * @example Profile a block of GPU work
 * ```ts ignore
 * import { getGpu } from "../kernels/runtime.ts";
 * import { startProfiling } from "./mod.ts";
 * const gpu = await getGpu();
 * const p = startProfiling(gpu);
 * // ... run kernels ...
 * const report = await p.stop();
 * console.log(report.formatSummary());
 * ```
 *
 * @example Attach to any object with a device and an observer slot
 * ```ts
 * import { startProfiling } from "./mod.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const ctx: { device: GPUDevice; dispatchObserver?: undefined } = { device };
 *   const p = startProfiling(ctx);
 *   const report = await p.stop();
 *   console.assert(report.records.length === 0);
 *   device.destroy();
 * }
 * ```
 *
 * @param gpu The GPU context.
 * @param options Timing options.
 * @returns The running profiler.
 * @throws {Error} If a profiler is already attached to the context.
 */
export function startProfiling(gpu: ObservableGpu, options?: ProfilingOptions): Profiler {
  return new Profiler(gpu, options);
}

/**
 * Runs `fn` with a profiler attached and returns its result with the report. The profiler is
 * stopped even when `fn` throws.
 *
 * @example
 * ```ts
 * import { withProfiling } from "./mod.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const { result, report } = await withProfiling({ device }, () => 42);
 *   console.assert(result === 42 && report.records.length === 0);
 *   device.destroy();
 * }
 * ```
 *
 * @param gpu The GPU context.
 * @param fn The code to profile.
 * @param options Timing options.
 * @returns `fn`'s result and the report.
 */
export async function withProfiling<T>(
  gpu: ObservableGpu,
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
