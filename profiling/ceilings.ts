/**
 * Measured hardware ceilings for roofline figures: device-to-device copy bandwidth (a vec4 copy
 * shader) and f32 arithmetic rate (a tiled matmul whose inner loop the generator fully unrolls,
 * with vec4 tiles), both timed with timestamp queries when the device has them.
 *
 * @module
 */

import type { Ceilings } from "./report.ts";

/** Options of {@linkcode measureCeilings}. */
export interface CeilingOptions {
  /** Bytes of each of the copy's two buffers. @default {16 MiB on a fallback adapter, 256 MiB otherwise} */
  copyBytes?: number;
  /** M = N = K of the matmul (multiple of 64). @default {256 on a fallback adapter, 4096 otherwise} */
  matmulSize?: number;
  /** Dispatches per timed pass. @default {4 on a fallback adapter, 20 otherwise} */
  dispatchesPerPass?: number;
  /** Timed passes; the median is reported. @default {3} */
  passes?: number;
}

/** What {@linkcode measureCeilings} measured. */
export interface MeasuredCeilings extends Ceilings {
  /** Median time of one copy dispatch, ms. */
  copyMs: number;
  /** Bytes per buffer of the copy (bytes/s counts a read and a write of this size). */
  copyBytes: number;
  /** Median time of one matmul dispatch, ms. */
  matmulMs: number;
  /** M = N = K of the matmul. */
  matmulSize: number;
  /** Largest relative error of 64 sampled matmul entries against a CPU float64 dot product. */
  matmulMaxRelError: number;
  /** How the times were measured (`"wall"` includes Deno's ~11 ms await floor per pass). */
  timing: "gpu-timestamps" | "wall";
}

const WG = 256;

/**
 * WGSL of the vec4 copy kernel the copy bandwidth is measured with: bindings 0 `src`, 1 `dst`
 * (vec4<f32> arrays), one vec4 per invocation, workgroups of 256 folded into (x, y).
 *
 * @example
 * ```ts
 * import { copyShader } from "./ceilings.ts";
 * console.assert(copyShader().includes("dst[i] = src[i]"));
 * ```
 *
 * @returns WGSL source.
 */
export function copyShader(): string {
  return `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid;
  if (i < arrayLength(&dst)) { dst[i] = src[i]; }
}`;
}

/**
 * WGSL of a tiled f32 matmul C = A·B (row-major, M = N = K = `n`): 64×64 output tiles, 256
 * threads with 4×4 outputs each as four vec4 accumulators, K tiles of 16 staged in workgroup
 * memory as vec4, and the K-tile loop fully unrolled by this generator.
 *
 * @example
 * ```ts
 * import { matmulShader } from "./ceilings.ts";
 * const wgsl = matmulShader(128);
 * console.assert(wgsl.includes("@workgroup_size(16, 16)") && wgsl.includes("As[240u + ty]"));
 * ```
 *
 * @param n M = N = K, a multiple of 64.
 * @returns The WGSL source (entry point `main`; bindings A, B, C).
 */
export function matmulShader(n: number): string {
  const q = n / 4;
  const inner: string[] = [];
  for (let kk = 0; kk < 16; kk++) {
    inner.push(
      `    { let a = As[${kk * 16}u + ty]; let b = Bs[${kk * 16}u + tx];` +
        ` acc0 += a.x * b; acc1 += a.y * b; acc2 += a.z * b; acc3 += a.w * b; }`,
    );
  }
  const store = [0, 1, 2, 3].map((j) =>
    `  C[(row0 + ty * 4u + ${j}u) * ${q}u + col0 / 4u + tx] = acc${j};`
  );
  return `
@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let tx = lid.x;
  let ty = lid.y;
  let t = ty * 16u + tx;
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  let r = t / 4u;
  let kq = t % 4u;
  let kk = t / 16u;
  let cq = t % 16u;
  for (var k0 = 0u; k0 < ${n}u; k0 += 16u) {
    let a = A[(row0 + r) * ${q}u + k0 / 4u + kq];
    As[(kq * 4u + 0u) * 16u + r / 4u][r % 4u] = a.x;
    As[(kq * 4u + 1u) * 16u + r / 4u][r % 4u] = a.y;
    As[(kq * 4u + 2u) * 16u + r / 4u][r % 4u] = a.z;
    As[(kq * 4u + 3u) * 16u + r / 4u][r % 4u] = a.w;
    Bs[t] = B[(k0 + kk) * ${q}u + col0 / 4u + cq];
    workgroupBarrier();
${inner.join("\n")}
    workgroupBarrier();
  }
${store.join("\n")}
}`;
}

async function pipelineOf(device: GPUDevice, code: string, label: string) {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code, label });
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main" },
    label,
  });
  const err = await device.popErrorScope();
  if (err) throw new Error(`Ceiling shader ${label} failed to compile: ${err.message}`);
  return pipeline;
}

/**
 * Times `passes` compute passes of `perPass` identical dispatches; returns the median time of
 * one dispatch in ms.
 */
async function timeDispatches(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bind: GPUBindGroup,
  wg: [number, number, number],
  perPass: number,
  passes: number,
  timestamps: boolean,
): Promise<number> {
  const encodeAll = (enc: GPUCommandEncoder, qs?: GPUQuerySet) => {
    for (let p = 0; p < passes; p++) {
      const pass = enc.beginComputePass(
        qs
          ? {
            timestampWrites: {
              querySet: qs,
              beginningOfPassWriteIndex: 2 * p,
              endOfPassWriteIndex: 2 * p + 1,
            },
          }
          : {},
      );
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let d = 0; d < perPass; d++) pass.dispatchWorkgroups(...wg);
      pass.end();
    }
  };
  // Warm-up (clock ramp, first-use costs).
  const warm = device.createCommandEncoder();
  encodeAll(warm);
  device.queue.submit([warm.finish()]);
  await device.queue.onSubmittedWorkDone();
  const times: number[] = [];
  if (timestamps) {
    const qs = device.createQuerySet({ type: "timestamp", count: 2 * passes });
    const size = Math.ceil((16 * passes) / 256) * 256;
    const res = device.createBuffer({
      size,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const read = device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = device.createCommandEncoder();
    encodeAll(enc, qs);
    enc.resolveQuerySet(qs, 0, 2 * passes, res, 0);
    enc.copyBufferToBuffer(res, 0, read, 0, size);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    for (let p = 0; p < passes; p++) times.push(Number(t[2 * p + 1] - t[2 * p]) / 1e6 / perPass);
    read.destroy();
    res.destroy();
    qs.destroy();
  } else {
    for (let p = 0; p < passes; p++) {
      const enc = device.createCommandEncoder();
      const t0 = performance.now();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      for (let d = 0; d < perPass; d++) pass.dispatchWorkgroups(...wg);
      pass.end();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      times.push((performance.now() - t0) / perPass);
    }
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function grid(workgroups: number): [number, number, number] {
  const x = Math.min(workgroups, 32768);
  return [x, Math.ceil(workgroups / x), 1];
}

/**
 * Measures a copy bandwidth and a matmul FLOP/s on the device: the ceilings that
 * {@linkcode ProfileReport.summary} and the sweep's roofline columns compare against.
 * Pipelines are compiled and warmed up outside the timed passes. The copy counts
 * 2 × `copyBytes` per dispatch (read + write); the matmul 2·n³ FLOP.
 *
 * @example
 * ```ts
 * import { measureCeilings } from "./ceilings.ts";
 * const adapter = await navigator.gpu?.requestAdapter();
 * if (adapter) {
 *   const device = await adapter.requestDevice({
 *     requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
 *   });
 *   const c = await measureCeilings({ device }, { copyBytes: 1 << 20, matmulSize: 64, passes: 1 });
 *   console.assert(c.bytesPerSecond > 0 && c.flopsPerSecond > 0 && c.matmulMaxRelError < 1e-4);
 *   device.destroy();
 * }
 * ```
 *
 * @param gpu The runtime's GPU object (`getGpu()`), or anything with a `device`.
 * @param options Sizes and repetitions.
 * @returns The ceilings and the raw times.
 * @throws {RangeError} If `matmulSize` is not a positive multiple of 64.
 */
export async function measureCeilings(
  gpu: { readonly device: GPUDevice; readonly adapter?: GPUAdapter },
  options: CeilingOptions = {},
): Promise<MeasuredCeilings> {
  const { device } = gpu;
  const small = gpu.adapter?.info?.isFallbackAdapter ??
    (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo?.isFallbackAdapter ??
    false;
  const maxBind = device.limits.maxStorageBufferBindingSize;
  const copyBytes = Math.min(
    options.copyBytes ?? (small ? 16 << 20 : 256 << 20),
    Math.floor(maxBind / 16) * 16,
  );
  const n = options.matmulSize ?? (small ? 256 : 4096);
  if (!Number.isInteger(n) || n <= 0 || n % 64 !== 0) {
    throw new RangeError(`matmulSize must be a positive multiple of 64, received ${n}`);
  }
  const perPass = options.dispatchesPerPass ?? (small ? 4 : 20);
  const passes = options.passes ?? 3;
  const timestamps = device.features.has("timestamp-query");
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

  // Copy.
  const src = device.createBuffer({ size: copyBytes, usage, label: "ceiling copy src" });
  const dst = device.createBuffer({ size: copyBytes, usage, label: "ceiling copy dst" });
  const copy = await pipelineOf(device, copyShader(), "ceiling copy");
  const copyBind = device.createBindGroup({
    layout: copy.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
  });
  const copyMs = await timeDispatches(
    device,
    copy,
    copyBind,
    grid(Math.ceil(copyBytes / 16 / WG)),
    perPass,
    passes,
    timestamps,
  );
  src.destroy();
  dst.destroy();

  // Matmul, with entries in [-1, 1) from a small LCG.
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31) - 1;
  const a: Float32Array<ArrayBuffer> = new Float32Array(n * n).map(rand);
  const b: Float32Array<ArrayBuffer> = new Float32Array(n * n).map(rand);
  const mk = (data: Float32Array<ArrayBuffer> | null, label: string) => {
    const buf = device.createBuffer({ size: n * n * 4, usage, label });
    if (data) device.queue.writeBuffer(buf, 0, data);
    return buf;
  };
  const bufA = mk(a, "ceiling A"), bufB = mk(b, "ceiling B"), bufC = mk(null, "ceiling C");
  const mm = await pipelineOf(device, matmulShader(n), `ceiling matmul ${n}`);
  const mmBind = device.createBindGroup({
    layout: mm.getBindGroupLayout(0),
    entries: [bufA, bufB, bufC].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const matmulMs = await timeDispatches(
    device,
    mm,
    mmBind,
    [n / 64, n / 64, 1],
    perPass,
    passes,
    timestamps,
  );
  const read = device.createBuffer({
    size: n * n * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(bufC, 0, read, 0, n * n * 4);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const c = new Float32Array(read.getMappedRange().slice(0));
  read.unmap();
  let maxRel = 0;
  for (let j = 0; j < 64; j++) {
    const row = (j * 7919) % n, col = (j * 104729 + 13) % n;
    let ref = 0, mag = 0;
    for (let k = 0; k < n; k++) {
      ref += a[row * n + k] * b[k * n + col];
      mag += Math.abs(a[row * n + k] * b[k * n + col]);
    }
    maxRel = Math.max(maxRel, Math.abs(c[row * n + col] - ref) / Math.max(mag, 1e-30));
  }
  for (const x of [bufA, bufB, bufC, read]) x.destroy();
  return {
    bytesPerSecond: (2 * copyBytes) / (copyMs / 1e3),
    flopsPerSecond: (2 * n ** 3) / (matmulMs / 1e3),
    copyMs,
    copyBytes,
    matmulMs,
    matmulSize: n,
    matmulMaxRelError: maxRel,
    timing: timestamps ? "gpu-timestamps" : "wall",
  };
}
