/**
 * Small WebGPU measurements of the local adapter for the roofline and profiling notebooks, written
 * against `navigator.gpu` directly so they work before (and independently of) the toolkit's GPU
 * runtime: a copy kernel (memory bandwidth) and a tiled f32 matmul (arithmetic rate), timed with
 * timestamp queries when the adapter has them, else with the wall clock over many repetitions.
 *
 * These are ceilings *as measured by simple kernels*: the copy is close to the real bandwidth, the
 * matmul (16×16 tiles, no unrolling) is well below the FMA peak on a real GPU.
 *
 * @module
 */

/** One timed dispatch. */
export interface DispatchTiming {
  /** What ran. */
  label: string;
  /** Start relative to the first dispatch of the batch, in ns. */
  startNs: number;
  /** Duration in ns. */
  durationNs: number;
}

/** What {@linkcode measureCeilings} found. */
export interface Ceilings {
  /** Adapter description. */
  adapter: string;
  /** Copy bandwidth, bytes/s (read + write counted). */
  bandwidth: number;
  /** Matmul rate, FLOP/s. */
  flops: number;
  /** "timestamp-query" or "wall clock". */
  timing: string;
  /** Sizes used. */
  copyBytes: number;
  matmulN: number;
}

interface Ctx {
  device: GPUDevice;
  adapter: string;
  timestamps: boolean;
}

let ctxPromise: Promise<Ctx | undefined> | undefined;

/**
 * Opens (once) a device on the default adapter, with timestamp queries when available.
 *
 * @returns The device, or undefined without an adapter.
 */
export function gpuContext(): Promise<Ctx | undefined> {
  ctxPromise ??= (async () => {
    if (Deno.env.get("MLSTM_NB_GPU") === "0") return undefined;
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return undefined;
    const timestamps = adapter.features.has("timestamp-query");
    const device = await adapter.requestDevice({
      requiredFeatures: timestamps ? ["timestamp-query"] : [],
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    const info = adapter.info;
    const name = info.description || [info.vendor, info.architecture, info.device]
      .filter(Boolean).join(" ") || "unknown adapter";
    return { device, adapter: name, timestamps };
  })();
  return ctxPromise;
}

const COPY_WGSL = `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = g.x + g.y * n.x * 256u;
  if (i < arrayLength(&src)) { dst[i] = src[i]; }
}`;

const MATMUL_WGSL = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
override N: u32 = 256u;
var<workgroup> ta: array<array<f32, 16>, 16>;
var<workgroup> tb: array<array<f32, 16>, 16>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.y * 16u + l.y;
  let col = wg.x * 16u + l.x;
  var acc = 0.0;
  for (var t = 0u; t < N; t += 16u) {
    ta[l.y][l.x] = a[row * N + t + l.x];
    tb[l.y][l.x] = b[(t + l.y) * N + col];
    workgroupBarrier();
    for (var k = 0u; k < 16u; k++) { acc = fma(ta[l.y][k], tb[k][l.x], acc); }
    workgroupBarrier();
  }
  c[row * N + col] = acc;
}`;

interface Job {
  label: string;
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  groups: [number, number];
}

async function pipeline(ctx: Ctx, code: string, constants?: Record<string, number>) {
  ctx.device.pushErrorScope("validation");
  const module = ctx.device.createShaderModule({ code });
  const p = await ctx.device.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main", constants },
  });
  const err = await ctx.device.popErrorScope();
  if (err) throw new Error(`WGSL pipeline failed: ${err.message}`);
  return p;
}

function storage(ctx: Ctx, bytes: number): GPUBuffer {
  return ctx.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
}

async function copyJob(ctx: Ctx, bytes: number): Promise<Job> {
  const p = await pipeline(ctx, COPY_WGSL);
  const src = storage(ctx, bytes), dst = storage(ctx, bytes);
  const vec4s = bytes / 16, groups = Math.ceil(vec4s / 256);
  const gx = Math.min(groups, 65535), gy = Math.ceil(groups / 65535);
  if (gy > 1) throw new Error("Copy too large for this simple kernel");
  return {
    label: `copy ${(bytes / 2 ** 20).toFixed(0)} MiB`,
    pipeline: p,
    bind: ctx.device.createBindGroup({
      layout: p.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: dst } }],
    }),
    groups: [gx, 1],
  };
}

async function matmulJob(ctx: Ctx, n: number): Promise<Job> {
  const p = await pipeline(ctx, MATMUL_WGSL, { N: n });
  const a = storage(ctx, n * n * 4), b = storage(ctx, n * n * 4), c = storage(ctx, n * n * 4);
  return {
    label: `matmul ${n}³`,
    pipeline: p,
    bind: ctx.device.createBindGroup({
      layout: p.getBindGroupLayout(0),
      entries: [a, b, c].map((buffer, binding) => ({ binding, resource: { buffer } })),
    }),
    groups: [n / 16, n / 16],
  };
}

/**
 * Runs the jobs in order, one compute pass each, in one submit, and times each pass.
 *
 * @returns Per-dispatch timings (timestamp queries), or one wall-clock timing per job averaged
 * over the batch when the adapter has no timestamp queries.
 */
async function runTimed(ctx: Ctx, jobs: Job[]): Promise<DispatchTiming[]> {
  const { device } = ctx;
  if (!ctx.timestamps) {
    // Wall clock: one await for the whole batch; the ~11 ms await floor is subtracted by timing
    // an empty submit first.
    const empty = performance.now();
    device.queue.submit([]);
    await device.queue.onSubmittedWorkDone();
    const floor = performance.now() - empty;
    const out: DispatchTiming[] = [];
    let start = 0;
    for (const j of jobs) {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(j.pipeline);
      pass.setBindGroup(0, j.bind);
      pass.dispatchWorkgroups(...j.groups);
      pass.end();
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      const ns = Math.max(performance.now() - t0 - floor, 1e-3) * 1e6;
      out.push({ label: j.label, startNs: start, durationNs: ns });
      start += ns;
    }
    return out;
  }
  const count = jobs.length * 2;
  const querySet = device.createQuerySet({ type: "timestamp", count });
  const resolve = device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  jobs.forEach((j, k) => {
    const pass = enc.beginComputePass({
      timestampWrites: {
        querySet,
        beginningOfPassWriteIndex: 2 * k,
        endOfPassWriteIndex: 2 * k + 1,
      },
    });
    pass.setPipeline(j.pipeline);
    pass.setBindGroup(0, j.bind);
    pass.dispatchWorkgroups(...j.groups);
    pass.end();
  });
  enc.resolveQuerySet(querySet, 0, count, resolve, 0);
  enc.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const ts = new BigInt64Array(read.getMappedRange().slice(0));
  read.unmap();
  const t0 = ts[0];
  return jobs.map((j, k) => ({
    label: j.label,
    startNs: Number(ts[2 * k] - t0),
    durationNs: Number(ts[2 * k + 1] - ts[2 * k]),
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Measures the adapter's copy bandwidth and matmul rate (median of `reps` dispatches each, after a
 * warm-up).
 *
 * @param options Copy size in bytes, matmul size (multiple of 16), repetitions.
 * @returns The ceilings, or undefined without an adapter.
 */
export async function measureCeilings(
  options: { copyBytes?: number; matmulN?: number; reps?: number } = {},
): Promise<Ceilings | undefined> {
  const ctx = await gpuContext();
  if (!ctx) return undefined;
  const { copyBytes = 32 * 2 ** 20, matmulN = 256, reps = 5 } = options;
  const copy = await copyJob(ctx, copyBytes);
  const mm = await matmulJob(ctx, matmulN);
  await runTimed(ctx, [copy, mm]); // warm-up
  const t = await runTimed(ctx, [...Array(reps)].flatMap(() => [copy, mm]));
  const copyNs = median(t.filter((d) => d.label === copy.label).map((d) => d.durationNs));
  const mmNs = median(t.filter((d) => d.label === mm.label).map((d) => d.durationNs));
  return {
    adapter: ctx.adapter,
    bandwidth: (2 * copyBytes) / (copyNs * 1e-9),
    flops: (2 * matmulN ** 3) / (mmNs * 1e-9),
    timing: ctx.timestamps ? "timestamp-query" : "wall clock",
    copyBytes,
    matmulN,
  };
}

/**
 * A batch of measurement dispatches (copies and matmuls of a few sizes), timed per dispatch: a
 * stand-in workload for the dispatch timeline when no profiler is available.
 *
 * @param matmulSizes Matmul sizes (multiples of 16).
 * @param copyBytes Copy sizes in bytes.
 * @returns The timings, in submission order.
 */
export async function timedDispatchBatch(
  matmulSizes: number[],
  copyBytes: number[],
): Promise<DispatchTiming[] | undefined> {
  const ctx = await gpuContext();
  if (!ctx) return undefined;
  const jobs: Job[] = [];
  for (const n of matmulSizes) jobs.push(await matmulJob(ctx, n));
  for (const b of copyBytes) jobs.push(await copyJob(ctx, b));
  await runTimed(ctx, jobs);
  const seq = [...jobs, ...jobs.slice().reverse()];
  return await runTimed(ctx, seq);
}
