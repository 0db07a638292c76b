/**
 * GPU memory accounting: counts the bytes of every buffer created on a device while tracking is
 * on, minus the buffers destroyed (or garbage-collected), and keeps the peak.
 *
 * @module
 */

/** A running memory tracker (see {@linkcode trackGpuMemory}). */
export interface GpuMemoryTracker {
  /** Bytes of live buffers created since tracking started. */
  readonly currentBytes: number;
  /** Largest `currentBytes` seen since tracking started or the last {@linkcode resetPeak}. */
  readonly peakBytes: number;
  /** Number of buffers created since tracking started. */
  readonly buffersCreated: number;
  /** Sets the peak to the current value (call before a measured region). */
  resetPeak(): void;
  /** Stops tracking; buffers created afterwards are not counted. */
  stop(): void;
}

type Patched = GPUDevice & { createBuffer: GPUDevice["createBuffer"] };

/**
 * Starts counting buffer allocations on a device by wrapping its `createBuffer` and each new
 * buffer's `destroy`; a buffer that is garbage-collected without `destroy()` is subtracted when
 * the collector reports it. Buffers that existed before tracking started are not counted, nor
 * are the profiler's own staging buffers (labels starting with "profiler ").
 * Costs one wrapper call per buffer creation; nothing per dispatch.
 *
 * @example
 * ```ts
 * import { trackGpuMemory } from "./memory.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice();
 *   const mem = trackGpuMemory(device);
 *   const b = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
 *   b.destroy();
 *   console.assert(mem.peakBytes === 1024 && mem.currentBytes === 0);
 *   mem.stop();
 *   device.destroy();
 * }
 * ```
 *
 * @param device The device.
 * @returns The tracker.
 * @throws {Error} If the device is already tracked.
 */
export function trackGpuMemory(device: GPUDevice): GpuMemoryTracker {
  const d = device as Patched & { [TRACKED]?: true };
  if (d[TRACKED]) {
    throw new Error("This device's memory is already tracked; stop that tracker first");
  }
  const original = d.createBuffer;
  let current = 0, peak = 0, created = 0, active = true;
  const live = new Set<object>();
  const release = (token: object, size: number) => {
    if (live.delete(token)) current -= size;
  };
  const registry = new FinalizationRegistry<{ token: object; size: number }>(
    ({ token, size }) => release(token, size),
  );
  d[TRACKED] = true;
  d.createBuffer = function (descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = original.call(device, descriptor);
    if (!active || descriptor.label?.startsWith("profiler ")) return buffer;
    const size = buffer.size, token = {};
    live.add(token);
    created++;
    current += size;
    if (current > peak) peak = current;
    registry.register(buffer, { token, size }, token);
    const destroy = buffer.destroy;
    (buffer as { destroy: () => void }).destroy = function () {
      registry.unregister(token);
      release(token, size);
      destroy.call(buffer);
    };
    return buffer;
  };
  return {
    get currentBytes() {
      return current;
    },
    get peakBytes() {
      return peak;
    },
    get buffersCreated() {
      return created;
    },
    resetPeak() {
      peak = current;
    },
    stop() {
      active = false;
      if (d.createBuffer !== original) {
        delete (d as { createBuffer?: unknown }).createBuffer;
        if (d.createBuffer !== original) d.createBuffer = original;
      }
      delete d[TRACKED];
    },
  };
}

const TRACKED: unique symbol = Symbol("mlstm.gpuMemoryTracked");
