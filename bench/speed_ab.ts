// Issue #14's A/B benchmark: today's kernels (variant `base`) and every speed variant, timed in
// one process, interleaved call by call (A/B/B/A rounds, so that a GPU shared with other work
// stretches them alike), on the TFLA shape (B·S = 65,536, NH 16, DQK 128, DHV 256; S 8192 and
// 1024) and the xLSTM 7B head shape (NH 8, DQK 256, DHV 512, B·S = 65,536), f32 and f16 storage,
// xl_chunk and xl_chunk_siging, chunk 64/128/256, forward and forward+backward. Per variant: min
// and median GPU time of a call (timestamps on the runtime's own passes), TFLOP/s from the
// corrected SPEC §6 cost model (profiling/cost_model.ts), peak GPU memory of one call (allocation
// tracker; inputs and dh included), speedup against `base`. Writes $OUT/speed_ab.csv and
// $OUT/speed_ab.md (and, with --profile, per-dispatch profiles before/after). A time budget
// (--budget-s) is shared between the (shape, dtype) groups in priority order: what does not fit is
// listed as skipped (a group whose inputs were uploaded runs at least its first case), and the
// files are rewritten after every case.
//
//   deno run -A bench/speed_ab.ts                      # the GPU run (~5-6 min), results in $OUT
//   deno run -A bench/speed_ab.ts --tiny --budget-s 60 # lavapipe smoke test
//   flags: --shapes tfla8k,7b8k,tfla1k  --dtypes f32,f16  --kernels xl_chunk,xl_chunk_siging
//          --chunks 128,64,256  --passes fw,fwbw  --variants base,trim,...  --rounds 5
//          --budget-s 330  --profile (per-dispatch profiles, B 8 S 8192, all variants)
//          --profile-chunk 64 (the profiles' chunk size)
//          --no-sweep (profiles only)  --out DIR  --list (print the variants and exit)

import { parseArgs } from "node:util";
import { mlstmFlops } from "../profiling/cost_model.ts";
import { trackGpuMemory } from "../profiling/memory.ts";
import { startProfiling } from "../profiling/profiler.ts";
import type { MlstmOptions, TensorLike } from "../core/types.ts";
import type { Gpu } from "../kernels/runtime.ts";
import {
  benchInputs,
  disposeInputs,
  disposeResult,
  type InputShape,
  kernelTarget,
  releaseKernelScratch,
} from "./_kernels.ts";
import { SPEED_VARIANTS, type SpeedVariant, variantOptions } from "./_speed_variants.ts";
import { tileUnrollDefault } from "../kernels/backward/_wgsl.ts";
import { forwardBackward } from "../kernels/train.ts";

const SHAPES: Record<string, InputShape> = {
  tfla8k: { B: 8, NH: 16, S: 8192, DQK: 128, DHV: 256 },
  tfla1k: { B: 64, NH: 16, S: 1024, DQK: 128, DHV: 256 },
  "7b8k": { B: 8, NH: 8, S: 8192, DQK: 256, DHV: 512 },
  "7b1k": { B: 64, NH: 8, S: 1024, DQK: 256, DHV: 512 },
  // lavapipe smoke shapes
  tiny: { B: 1, NH: 2, S: 301, DQK: 16, DHV: 32 },
  tinyblk: { B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 },
  tiny512: { B: 1, NH: 1, S: 130, DQK: 64, DHV: 320 }, // DHV above 256 (blocked512 vs staged)
};

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    shapes: { type: "string" },
    dtypes: { type: "string", default: "f32,f16" },
    kernels: { type: "string", default: "xl_chunk,xl_chunk_siging" },
    chunks: { type: "string", default: "128,64,256" },
    passes: { type: "string", default: "fw,fwbw" },
    variants: { type: "string" },
    rounds: { type: "string", default: "5" },
    "budget-s": { type: "string", default: "330" },
    "target-ms": { type: "string", default: "40" },
    profile: { type: "boolean", default: false },
    "profile-chunk": { type: "string", default: "64" },
    "no-sweep": { type: "boolean", default: false },
    tiny: { type: "boolean", default: false },
    list: { type: "boolean", default: false },
    out: { type: "string" },
  },
});

if (a.list) {
  for (const v of SPEED_VARIANTS) console.log(`${v.name.padEnd(14)} ${v.doc}`);
  Deno.exit(0);
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0);
const shapeNames = list(a.shapes ?? (a.tiny ? "tiny,tinyblk,tiny512" : "tfla8k,7b8k,tfla1k"));
for (const s of shapeNames) {
  if (!SHAPES[s]) throw new RangeError(`--shapes: unknown shape ${s} (${Object.keys(SHAPES)})`);
}
const variants = a.variants
  ? list(a.variants).map((n) => {
    const v = SPEED_VARIANTS.find((x) => x.name === n);
    if (!v) throw new RangeError(`--variants: unknown ${n} (${SPEED_VARIANTS.map((x) => x.name)})`);
    return v;
  })
  : SPEED_VARIANTS;
if (variants[0]!.name !== "base") variants.unshift(SPEED_VARIANTS[0]!);
const dtypes = list(a.dtypes) as ("f32" | "f16")[];
const kernels = list(a.kernels).map((k) => k.startsWith("chunkwise--") ? k : `chunkwise--${k}`);
const chunks = list(a.chunks).map(Number);
const passes = list(a.passes) as ("fw" | "fwbw")[];
const rounds = Number(a.rounds);
const budgetMs = Number(a["budget-s"]) * 1e3;
const targetMs = Number(a["target-ms"]);
const out = a.out ?? Deno.env.get("OUT") ?? "speed_ab_out";
await Deno.mkdir(out, { recursive: true });
const t0 = performance.now();
const elapsed = () => performance.now() - t0;

interface Row {
  shape: string;
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  kernel: string;
  dtype: string;
  L: number;
  pass: string;
  variant: string;
  calls: number;
  gpu_ms_min: number | "";
  gpu_ms_median: number | "";
  tflops_at_min: number | "";
  tflops_at_median: number | "";
  speedup_min: number | "";
  speedup_median: number | "";
  peak_mem_gb: number | "";
  status: string;
}
const rows: Row[] = [];
const skipped: string[] = [];
const notes: string[] = [];

const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};
const r4 = (x: number) => Number(x.toPrecision(4));

async function writeFiles(device: string) {
  const cols: (keyof Row)[] = [
    "shape",
    "B",
    "NH",
    "S",
    "DQK",
    "DHV",
    "kernel",
    "dtype",
    "L",
    "pass",
    "variant",
    "calls",
    "gpu_ms_min",
    "gpu_ms_median",
    "tflops_at_min",
    "tflops_at_median",
    "speedup_min",
    "speedup_median",
    "peak_mem_gb",
    "status",
  ];
  const csv = [cols.join(","), ...rows.map((r) => cols.map((c) => String(r[c])).join(","))];
  await Deno.writeTextFile(`${out}/speed_ab.csv`, csv.join("\n") + "\n");
  const md: string[] = [
    `# speed_ab on ${device}`,
    "",
    `Variants: ${variants.map((v) => `\`${v.name}\``).join(", ")}; rounds ${rounds}; ` +
    `${
      (elapsed() / 1e3).toFixed(0)
    } s. GPU ms per call (min / median over rounds), TFLOP/s at the ` +
    `minimum (SPEC §6 corrected cost model), speedup = base / variant (min), peak GPU memory of ` +
    `one call (GB, inputs included).`,
    "",
  ];
  const cases = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.shape} ${r.kernel.replace("chunkwise--", "")} ${r.dtype} L=${r.L} ${r.pass}`;
    cases.set(key, [...(cases.get(key) ?? []), r]);
  }
  md.push(
    "| case | " + variants.map((v) => v.name).join(" | ") + " | best |",
    "| --- | " + variants.map(() => "---").join(" | ") + " | --- |",
  );
  for (const [key, rs] of cases) {
    const cell = (v: SpeedVariant) => {
      const r = rs.find((x) => x.variant === v.name);
      if (!r) return "";
      if (r.status !== "ok") return r.status.slice(0, 40);
      return `${r.gpu_ms_min} / ${r.gpu_ms_median} ms, ${r.tflops_at_min} TF, ×${r.speedup_min}, ${r.peak_mem_gb} GB`;
    };
    const ok = rs.filter((r) => r.status === "ok" && typeof r.gpu_ms_min === "number");
    const best = ok.sort((x, y) => (x.gpu_ms_min as number) - (y.gpu_ms_min as number))[0];
    md.push(`| ${key} | ${variants.map(cell).join(" | ")} | ${best?.variant ?? ""} |`);
  }
  // Chunk-size heuristic data: the fastest chunk per (shape, kernel, dtype, pass, variant).
  const bestL = new Map<string, Row>();
  for (const r of rows) {
    if (r.status !== "ok" || typeof r.gpu_ms_min !== "number") continue;
    const key = `${r.shape} ${
      r.kernel.replace("chunkwise--", "")
    } ${r.dtype} ${r.pass} ${r.variant}`;
    const b = bestL.get(key);
    if (!b || r.gpu_ms_min < (b.gpu_ms_min as number)) bestL.set(key, r);
  }
  md.push(
    "",
    "## Fastest chunk size per case and variant",
    "",
    "| case | L | ms (min) | TFLOP/s |",
  );
  md.push("| --- | --- | --- | --- |");
  for (const [k, r] of bestL) md.push(`| ${k} | ${r.L} | ${r.gpu_ms_min} | ${r.tflops_at_min} |`);
  if (skipped.length) md.push("", "## Skipped (time budget)", "", ...skipped.map((s) => `- ${s}`));
  if (notes.length) md.push("", "## Notes", "", ...notes.map((s) => `- ${s}`));
  await Deno.writeTextFile(`${out}/speed_ab.md`, md.join("\n") + "\n");
}

/** Times every variant on one case, interleaved; appends one row per variant. */
async function measureCase(
  gpu: Gpu,
  memory: ReturnType<typeof trackGpuMemory>,
  shapeName: string,
  x: Awaited<ReturnType<typeof upload>>,
  kernelName: string,
  dtype: "f32" | "f16",
  L: number,
  pass: "fw" | "fwbw",
) {
  const t = await kernelTarget(kernelName);
  const shape = SHAPES[shapeName]!;
  const vs = variants.filter((v) =>
    (!v.passes || v.passes.includes(pass)) && (!v.dtypes || v.dtypes.includes(dtype)) &&
    !(v.blockedOnly && !blockedShape(shape)) && !(v.rowSlicedOnly && blockedShape(shape)) &&
    !(v.largeHeadOnly && tileUnrollDefault(shape.DQK, shape.DHV) === undefined)
  );
  const flops = mlstmFlops({ form: "chunkwise", ...shape, chunkSize: L, pass });
  const base: Omit<Row, "variant" | "calls"> = {
    shape: shapeName,
    ...shape,
    kernel: kernelName,
    dtype,
    L,
    pass,
    gpu_ms_min: "",
    gpu_ms_median: "",
    tflops_at_min: "",
    tflops_at_median: "",
    speedup_min: "",
    speedup_median: "",
    peak_mem_gb: "",
    status: "ok",
  };
  const callOf = (v: SpeedVariant) => {
    // Tile options go to the forward only (the backward rejects options it does not know).
    const opts = {
      chunkSize: L,
      ...variantOptions(v, shape.DHV, gpu.limits.maxComputeWorkgroupStorageSize),
    } as MlstmOptions;
    const bwOpts: MlstmOptions = { chunkSize: L };
    return async () => {
      v.setup?.();
      try {
        if (pass === "fwbw" && v.forwardBackward) {
          // One call: the forward keeps its chunk states for the backward where it can (tile
          // options go to its forward only).
          disposeResult(await forwardBackward(kernelName, x.x, x.dh, opts));
          return;
        }
        const r = await t.kernel.forward(x.x, opts);
        if (pass === "fwbw") disposeResult(await t.kernel.backward!(x.x, x.dh, bwOpts));
        disposeResult(r);
      } finally {
        v.teardown?.();
      }
    };
  };
  const ok: SpeedVariant[] = [];
  const status = new Map<string, string>();
  let perCall = 0;
  for (const v of vs) {
    // Warm-up (pipeline compilation) and one probe of the GPU time of a call.
    try {
      await callOf(v)();
      await t.sync();
      const p = startProfiling(gpu, { granularity: "pass" });
      await callOf(v)();
      await t.sync();
      const rep = await p.stop();
      perCall = Math.max(perCall, rep.records.reduce((s, r) => s + r.gpuMs, 0));
      ok.push(v);
    } catch (e) {
      status.set(v.name, `error: ${(e as Error).message.split("\n")[0]!.replaceAll(",", ";")}`);
    }
  }
  const calls = Math.max(1, Math.min(4, Math.ceil(targetMs / Math.max(perCall, 1e-3))));
  const times = new Map<string, number[]>(ok.map((v) => [v.name, []]));
  const p = startProfiling(gpu, { granularity: "pass" });
  try {
    const ranges: [string, number, number][] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...ok].reverse() : ok;
      for (const v of order) {
        const call = callOf(v);
        for (let j = 0; j < calls; j++) {
          const s0 = p.dispatchCount;
          await call();
          ranges.push([v.name, s0, p.dispatchCount]);
        }
      }
      await t.sync();
    }
    const rep = await p.stop();
    for (const [name, s0, s1] of ranges) {
      let s = 0;
      for (let j = s0; j < s1; j++) s += rep.records[j]!.gpuMs;
      times.get(name)!.push(s);
    }
  } catch (e) {
    await p.stop().catch(() => {});
    throw e;
  }
  // Peak memory of one call per variant (scratch and pool released first).
  const peak = new Map<string, number>();
  for (const v of ok) {
    releaseKernelScratch(gpu);
    await t.sync();
    memory.resetPeak();
    await callOf(v)();
    await t.sync();
    peak.set(v.name, memory.peakBytes);
  }
  const bt = times.get("base");
  const bMin = bt?.length ? Math.min(...bt) : NaN, bMed = bt?.length ? median(bt) : NaN;
  for (const v of vs) {
    const ts = times.get(v.name);
    if (!ts || ts.length === 0) {
      rows.push({ ...base, variant: v.name, calls, status: status.get(v.name) ?? "not run" });
      continue;
    }
    const mn = Math.min(...ts), md = median(ts);
    rows.push({
      ...base,
      variant: v.name,
      calls: ts.length,
      gpu_ms_min: r4(mn),
      gpu_ms_median: r4(md),
      tflops_at_min: r4(flops / (mn / 1e3) / 1e12),
      tflops_at_median: r4(flops / (md / 1e3) / 1e12),
      speedup_min: Number.isFinite(bMin) ? r4(bMin / mn) : "",
      speedup_median: Number.isFinite(bMed) ? r4(bMed / md) : "",
      peak_mem_gb: r4(peak.get(v.name)! / 1e9),
    });
  }
  const line = rows.slice(-vs.length).map((r) => `${r.variant} ${r.gpu_ms_min}/${r.gpu_ms_median}`)
    .join("  ");
  console.log(
    `[${(elapsed() / 1e3).toFixed(0)} s] ${shapeName} ${kernelName.replace("chunkwise--", "")} ` +
      `${dtype} L=${L} ${pass}: ${line}`,
  );
}

/** Whether the backward's register-blocked kernels serve these head dimensions. */
const blockedShape = (s: InputShape) =>
  s.DQK % 64 === 0 && s.DHV % 64 === 0 && s.DQK <= 256 && s.DHV <= 256;

async function upload(shapeName: string, dtype: "f32" | "f16") {
  const t = await kernelTarget("chunkwise--xl_chunk");
  const shape = SHAPES[shapeName]!;
  const x = t.upload(benchInputs(shape, 0, { float64: false, withStates: false }), dtype);
  const dh = t.uploadTensor(
    benchInputs({ ...shape, DQK: 1 }, 1, { float64: false, withStates: false }).v,
    dtype,
  );
  return { x, dh: dh as TensorLike };
}

/** Calls `call` (each followed by a GPU sync) for `ms` milliseconds: the GPU's clocks up. */
async function warmUp(ms: number, call: () => Promise<void>) {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    await call();
    await t.sync();
  }
}

/** Per-dispatch profiles of one forward+backward per variant (and f32 vs f16), like v3's. */
async function profiles(gpu: Gpu) {
  // The timed TFLA case (B 8, S 8192): at S 4096 forwardBackward recomputes the chunk states
  // (keptStateHeads in kernels/train.ts), so a profile there would not show the timed step.
  const shape = a.tiny ? SHAPES.tinyblk! : SHAPES.tfla8k!;
  const L = a.tiny ? 64 : Number(a["profile-chunk"]);
  const t = await kernelTarget("chunkwise--xl_chunk");
  for (const dtype of dtypes) {
    const x = t.upload(benchInputs(shape, 0, { float64: false, withStates: false }), dtype);
    const dh = t.uploadTensor(
      benchInputs({ ...shape, DQK: 1 }, 1, { float64: false, withStates: false }).v,
      dtype,
    );
    for (const v of variants.filter((v) => !v.dtypes || v.dtypes.includes(dtype))) {
      const opts = {
        chunkSize: L,
        ...variantOptions(v, shape.DHV, gpu.limits.maxComputeWorkgroupStorageSize),
      } as MlstmOptions;
      const call = async () => {
        v.setup?.();
        try {
          if (v.forwardBackward) {
            disposeResult(await forwardBackward(t.kernel.name, x, dh, opts));
            return;
          }
          const r = await t.kernel.forward(x, opts);
          disposeResult(await t.kernel.backward!(x, dh, { chunkSize: L }));
          disposeResult(r);
        } finally {
          v.teardown?.();
        }
      };
      try {
        // Warm-up: 1.5 s of calls, so that the GPU's clocks are up (stop 10 saw an H200 idle at
        // 345 MHz after light load, and stop 11's first profile at chunk 64 ran 2× slow).
        await warmUp(1500, call);
        // The fastest of three profiles: a profile now and then runs at lowered clocks (stop 14's
        // f16 profile of `reuse` ran 3× slow in every kernel after the same warm-up).
        let rep: Awaited<ReturnType<ReturnType<typeof startProfiling>["stop"]>> | undefined;
        let best = Infinity;
        for (let r = 0; r < 3; r++) {
          const p = startProfiling(gpu);
          p.annotate({ ...shape, pass: "fwbw", dtype, L, variant: v.name });
          for (let j = 0; j < 2; j++) await call();
          await t.sync();
          const got = await p.stop();
          const ms = got.records.reduce((s, x) => s + x.gpuMs, 0);
          if (ms < best) [best, rep] = [ms, got];
        }
        if (!rep) throw new Error("no profile");
        const name = `profile_fwbw_${dtype}_${v.name}`;
        const table = rep.formatSummary();
        await Deno.writeTextFile(`${out}/${name}.txt`, table + "\n");
        await Deno.writeTextFile(`${out}/${name}.csv`, rep.toCsv());
        console.log(`\n${name} (B ${shape.B} S ${shape.S} L ${L}):\n${table}`);
      } catch (e) {
        console.log(`profile ${dtype} ${v.name}: error ${(e as Error).message.split("\n")[0]}`);
      }
    }
    disposeInputs(x);
    disposeResult(dh);
    releaseKernelScratch(gpu);
    await t.sync();
  }
}

const t = await kernelTarget("chunkwise--xl_chunk");
const gpu = t.gpu!;
const device = gpu.adapterName;
console.log(`speed_ab on ${device}; out ${out}; budget ${budgetMs / 1e3} s`);
// Warm-up: 2 s of forward calls at the first shape, so that the first cases (and the profiles) do
// not run at idle clocks (stop 11's first sweep cases ran 1.5–2.7× slow without it, and stop 13's
// first profile 3.3× slow).
{
  const shape = SHAPES[shapeNames[0]!]!;
  const x = t.upload(benchInputs(shape, 0, { float64: false, withStates: false }), dtypes[0]!);
  await warmUp(2000, async () => {
    disposeResult(await t.kernel.forward(x, { chunkSize: chunks[0]! } as MlstmOptions));
  });
  disposeInputs(x);
  releaseKernelScratch(gpu);
  await t.sync();
}
if (a.profile) await profiles(gpu);
if (!a["no-sweep"]) {
  const memory = trackGpuMemory(gpu.device);
  // (shape, dtype) groups in priority order; within a group (kernel, chunk) pairs in the order
  // given, forward and forward+backward together.
  const groups: [string, "f32" | "f16"][] = [];
  for (const dtype of dtypes) for (const s of shapeNames) groups.push([s, dtype]);
  groups.sort((x, y) =>
    (shapeNames.indexOf(x[0]) + 1.5 * dtypes.indexOf(x[1])) -
    (shapeNames.indexOf(y[0]) + 1.5 * dtypes.indexOf(y[1]))
  );
  const sweepStart = elapsed();
  for (let gi = 0; gi < groups.length; gi++) {
    const [shapeName, dtype] = groups[gi]!;
    const share = (budgetMs - elapsed()) / (groups.length - gi);
    const groupEnd = elapsed() + share;
    const pairs: [string, number][] = [];
    for (const L of chunks) for (const k of kernels) pairs.push([k, L]);
    // xl_chunk first at every chunk size, then the siging rows.
    pairs.sort((x, y) => kernels.indexOf(x[0]) - kernels.indexOf(y[0]));
    if (share < 5e3) {
      skipped.push(`${shapeName} ${dtype}: all (budget spent)`);
      continue;
    }
    releaseKernelScratch(gpu);
    let x: Awaited<ReturnType<typeof upload>> | undefined;
    try {
      x = await upload(shapeName, dtype);
      // The group's first case runs whatever the upload took (generating the inputs of a large
      // shape can take longer than a small budget's share): no group is uploaded for nothing.
      let first = true;
      for (const [k, L] of pairs) {
        for (const pass of passes) {
          const tag = `${shapeName} ${k.replace("chunkwise--", "")} ${dtype} L=${L} ${pass}`;
          if (!first && (elapsed() > groupEnd || elapsed() > budgetMs)) {
            skipped.push(tag);
            continue;
          }
          first = false;
          try {
            await measureCase(gpu, memory, shapeName, x, k, dtype, L, pass);
          } catch (e) {
            const msg = (e as Error).message.split("\n")[0]!;
            console.log(`${tag}: error ${msg}`);
            notes.push(`${tag}: error ${msg}`);
          }
          await writeFiles(device);
        }
      }
    } finally {
      if (x) {
        disposeInputs(x.x as Parameters<typeof disposeInputs>[0]);
        disposeResult(x.dh);
      }
      await t.sync().catch(() => {});
    }
  }
  memory.stop();
  notes.push(`sweep took ${((elapsed() - sweepStart) / 1e3).toFixed(0)} s`);
  await writeFiles(device);
  console.log(`\nwrote ${out}/speed_ab.csv and ${out}/speed_ab.md`);
  console.log(await Deno.readTextFile(`${out}/speed_ab.md`));
}
Deno.exit(0);
