/**
 * A per-device pool of GPU buffers that {@linkcode GpuTensor}s draw from and return to. Creating a
 * buffer is expensive in Deno's WebGPU on NVIDIA (measured on an H200: ~26 ms of CPU time per GiB
 * in `createBuffer`, and the first GPU use of fresh memory took ~60–80 ms more than the kernels'
 * own time at the TFLA benchmark shape), so a training or inference loop that allocates the same
 * outputs and scratch every call would pay more for allocation than for arithmetic. Destroyed
 * tensors therefore hand their buffer back to the pool, and the next allocation of the same byte
 * size and usage takes it again (cleared to zeros on the GPU where the caller needs zeros).
 *
 * Reuse is safe on one queue: work submitted later runs after the work that last used the buffer.
 * The pool keeps at most {@linkcode getBufferPoolLimit} bytes of free buffers per device (least
 * recently returned sizes are destroyed first); {@linkcode releaseBufferPool} destroys them all.
 * Buffers the pool did not create (a `GpuTensor` wrapped around a buffer of your own) are destroyed,
 * never pooled.
 *
 * @example
 * ```ts no-eval
 * import { bufferPoolStats, getGpu, GpuTensor, releaseBufferPool } from "./runtime.ts";
 * const gpu = await getGpu();
 * GpuTensor.empty(gpu, [1024]).destroy(); // the buffer goes back to the pool
 * const t = GpuTensor.empty(gpu, [1024]); // and is taken again, cleared to zeros
 * console.assert(bufferPoolStats(gpu).hits === 1);
 * t.destroy();
 * releaseBufferPool(gpu); // frees the device memory the pool holds
 * ```
 *
 * @module
 */

/** Bytes of free buffers a device's pool keeps by default (8 GiB). */
export const DEFAULT_BUFFER_POOL_LIMIT: number = 8 * 2 ** 30;

/** What a device's pool holds and how often it served an allocation. */
export interface BufferPoolStats {
  /** Free buffers held. */
  readonly freeBuffers: number;
  /** Bytes of the free buffers held. */
  readonly freeBytes: number;
  /** Allocations served by a pooled buffer. */
  readonly hits: number;
  /** Allocations that created a buffer. */
  readonly misses: number;
}

interface Pool {
  /** Free buffers by `size:usage`, least recently returned key first. */
  free: Map<string, GPUBuffer[]>;
  freeBytes: number;
  freeBuffers: number;
  hits: number;
  misses: number;
}

let limit = DEFAULT_BUFFER_POOL_LIMIT;
const pools = new WeakMap<GPUDevice, Pool>();
/** Buffers created by a pool (only these are pooled again). */
const owned = new WeakSet<GPUBuffer>();

function poolOf(device: GPUDevice): Pool {
  let p = pools.get(device);
  if (!p) {
    p = { free: new Map(), freeBytes: 0, freeBuffers: 0, hits: 0, misses: 0 };
    pools.set(device, p);
  }
  return p;
}

const keyOf = (size: number, usage: number) => `${size}:${usage}`;

/**
 * Takes a buffer of exactly `size` bytes and `usage` from the device's pool, or creates one.
 * Pooled buffers hold whatever their last user left in them: `reused` says so, and the caller
 * clears or overwrites them.
 *
 * @example
 * ```ts no-eval
 * import { acquireBuffer, releaseBuffer } from "./buffer_pool.ts";
 * const device = (await (await navigator.gpu.requestAdapter())!.requestDevice());
 * const { buffer } = acquireBuffer(device, 256, GPUBufferUsage.STORAGE, "scratch");
 * releaseBuffer(device, buffer);
 * ```
 *
 * @param device The device.
 * @param size Bytes.
 * @param usage `GPUBufferUsage` flags.
 * @param label Label of a newly created buffer.
 * @returns The buffer and whether it was reused.
 */
export function acquireBuffer(
  device: GPUDevice,
  size: number,
  usage: number,
  label: string,
): { buffer: GPUBuffer; reused: boolean } {
  const p = poolOf(device);
  const key = keyOf(size, usage);
  const list = p.free.get(key);
  const buffer = list?.pop();
  if (buffer) {
    if (list!.length === 0) p.free.delete(key);
    p.freeBytes -= size;
    p.freeBuffers--;
    p.hits++;
    return { buffer, reused: true };
  }
  p.misses++;
  const created = device.createBuffer({ label, size, usage });
  owned.add(created);
  return { buffer: created, reused: false };
}

/**
 * Returns a buffer to its device's pool, or destroys it when the pool did not create it or the
 * pool would exceed its limit (older free buffers are destroyed first to make room).
 *
 * @example
 * ```ts no-eval
 * import { acquireBuffer, releaseBuffer } from "./buffer_pool.ts";
 * const device = (await (await navigator.gpu.requestAdapter())!.requestDevice());
 * releaseBuffer(device, acquireBuffer(device, 64, GPUBufferUsage.STORAGE, "x").buffer);
 * ```
 *
 * @param device The device the buffer belongs to.
 * @param buffer The buffer; it must not be used afterwards except through a new acquire.
 */
export function releaseBuffer(device: GPUDevice, buffer: GPUBuffer): void {
  const size = buffer.size;
  if (!owned.has(buffer) || size > limit) {
    buffer.destroy();
    return;
  }
  const p = poolOf(device);
  for (const [k, list] of p.free) {
    if (p.freeBytes + size <= limit) break;
    while (list.length > 0 && p.freeBytes + size > limit) {
      const b = list.shift()!;
      p.freeBytes -= b.size;
      p.freeBuffers--;
      b.destroy();
    }
    if (list.length === 0) p.free.delete(k);
  }
  const key = keyOf(size, buffer.usage);
  const list = p.free.get(key) ?? [];
  // Re-inserted at the end: the most recently returned size is evicted last.
  p.free.delete(key);
  list.push(buffer);
  p.free.set(key, list);
  p.freeBytes += size;
  p.freeBuffers++;
}

/**
 * Destroys every free buffer a device's pool holds (tensors still alive are not touched).
 *
 * @example
 * ```ts no-eval
 * import { getGpu, releaseBufferPool } from "./runtime.ts";
 * releaseBufferPool(await getGpu());
 * ```
 *
 * @param gpu The device (or an object holding it as `device`).
 */
export function releaseBufferPool(gpu: { readonly device: GPUDevice }): void {
  const p = pools.get(gpu.device);
  if (!p) return;
  for (const list of p.free.values()) list.forEach((b) => b.destroy());
  p.free.clear();
  p.freeBytes = 0;
  p.freeBuffers = 0;
}

/**
 * Sets how many bytes of free buffers each device's pool keeps; 0 turns pooling off (destroyed
 * tensors free their memory at once). Pools over the new limit shrink as buffers come back.
 *
 * @example
 * ```ts
 * import { getBufferPoolLimit, setBufferPoolLimit } from "./buffer_pool.ts";
 * const before = getBufferPoolLimit();
 * setBufferPoolLimit(0);
 * console.assert(getBufferPoolLimit() === 0);
 * setBufferPoolLimit(before);
 * ```
 *
 * @param bytes A non-negative number of bytes. @default {8 GiB}
 * @throws {RangeError} If `bytes` is negative or not a number.
 */
export function setBufferPoolLimit(bytes: number): void {
  if (!(bytes >= 0)) {
    throw new RangeError(`Buffer pool limit must be a number of bytes >= 0, received ${bytes}`);
  }
  limit = bytes;
}

/**
 * The bytes of free buffers each device's pool keeps (see {@linkcode setBufferPoolLimit}).
 *
 * @example
 * ```ts
 * import { DEFAULT_BUFFER_POOL_LIMIT, getBufferPoolLimit } from "./buffer_pool.ts";
 * console.assert(getBufferPoolLimit() === DEFAULT_BUFFER_POOL_LIMIT);
 * ```
 *
 * @returns The limit in bytes.
 */
export function getBufferPoolLimit(): number {
  return limit;
}

/**
 * What a device's pool holds now and how often it served allocations.
 *
 * @example
 * ```ts no-eval
 * import { bufferPoolStats, getGpu } from "./runtime.ts";
 * console.log(bufferPoolStats(await getGpu()).freeBytes);
 * ```
 *
 * @param gpu The device (or an object holding it as `device`).
 * @returns The counts.
 */
export function bufferPoolStats(gpu: { readonly device: GPUDevice }): BufferPoolStats {
  const p = pools.get(gpu.device);
  return p
    ? { freeBuffers: p.freeBuffers, freeBytes: p.freeBytes, hits: p.hits, misses: p.misses }
    : { freeBuffers: 0, freeBytes: 0, hits: 0, misses: 0 };
}
