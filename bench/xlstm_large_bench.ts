// xLSTM Large (the 7B shape) on WebGPU: load time, peak GPU memory and prefill time, plus the GEMM
// kernels at the model's shapes against PyTorch's f32 matmul (TF32 off) measured in the same run.
// A benchmark for the GPU machine, not a test:
//
//   npx deno run -A bench/xlstm_large_bench.ts --out "$OUT"                 # the 7B shape, f16 and f32
//   npx deno run -A bench/xlstm_large_bench.ts --config tiny --out /tmp/b   # seconds, any adapter
//
// Options: --config 7b|tiny, --dtypes f16,f32, --prompts 128,2048,16384, --gemm-m 2048,16384,
// --reps 3, --chunk 64, --no-torch, --no-gemm, --no-model.
//
// Steps:
// 1. PyTorch (python3 bench/torch_gemm.py, run first so the two never share the GPU): f32
//    X·Wᵀ at the GEMM shapes below, TF32 off.
// 2. The GEMM alone at the model's shapes (fused q|k|v|o|i|f projection, out_proj, fused FFN up,
//    proj_down, lm head) for M prompt tokens, f32 and f16 weights, each tile variant: GPU time per
//    call (R calls in one pass), TFLOP/s, the ratio to PyTorch's f32 at the same shape. The
//    variant fastest over the shapes at the largest M is what the model then runs with.
// 3. Per dtype (the buffer pool emptied in between): random weights generated on the GPU
//    (XlstmLarge's "webgpu" backend `random`): wall time until the GPU finished, weight bytes, GPU
//    memory held afterwards (a createBuffer tracker).
// 4. Prefill at batch 1 for each prompt length: forward with `lastOnly` (the logits of the last
//    position: time to the first token's logits). GPU time = sum of the GPU durations of the
//    forward's compute passes (timestamp queries, one entry per pass, so the runtime encodes as
//    without a profiler); wall time includes encoding and the read-back of the logits (Deno's
//    ~11 ms await floor). Median of --reps after one warm-up (one timed run when the warm-up took
//    over 3 s). Peak GPU memory over the forward (weights included). One extra forward per dtype
//    at the middle prompt length with one pass per dispatch gives the per-kernel breakdown.
//
// Writes under --out: load.csv, prefill.csv, kernels_<dtype>.csv, gemm.csv, torch_gemm.csv,
// summary.md (also printed).

import { parseArgs } from "node:util";
import { createXlstmLargeConfig, type XlstmLargeConfig } from "../models/xlstm_large/config.ts";
import {
  destroyXlstmLargeState,
  projLayout,
  webgpuXlstmLargeBackend,
  type XlstmLargeWebgpu,
} from "../models/xlstm_large/webgpu.ts";
import {
  DispatchBatch,
  getGpu,
  type Gpu,
  GpuTensor,
  releaseBufferPool,
  waitIdle,
} from "../kernels/runtime.ts";
import { releaseChunkwiseScratch } from "../kernels/chunkwise/mod.ts";
import {
  encodeGemm,
  encodeRandomFill,
  type GemmTiles,
  type LinearWeight,
  setGemmTiles,
  type WeightDtype,
} from "../kernels/layers/mod.ts";
import { withProfiling } from "../profiling/profiler.ts";
import { trackGpuMemory } from "../profiling/memory.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    config: { type: "string", default: "7b" },
    dtypes: { type: "string", default: "f16,f32" },
    prompts: { type: "string" },
    "gemm-m": { type: "string" },
    reps: { type: "string", default: "3" },
    chunk: { type: "string", default: "64" },
    out: { type: "string" },
    "no-torch": { type: "boolean", default: false },
    "no-gemm": { type: "boolean", default: false },
    "no-model": { type: "boolean", default: false },
  },
});

const tiny = args.config === "tiny";
if (!tiny && args.config !== "7b") throw new RangeError(`--config must be 7b or tiny`);
const chunkSize = Number(args.chunk);
const config: XlstmLargeConfig = tiny
  ? createXlstmLargeConfig({
    vocabSize: 300,
    embeddingDim: 64,
    numBlocks: 2,
    numHeads: 2,
    chunkSize,
  })
  : createXlstmLargeConfig({
    vocabSize: 50304,
    embeddingDim: 4096,
    numBlocks: 32,
    numHeads: 8,
    chunkSize,
  });
const list = (s: string) => s.split(",").map((v) => v.trim()).filter((v) => v !== "");
const dtypes = list(args.dtypes!) as WeightDtype[];
const prompts = list(args.prompts ?? (tiny ? "8,33,130" : "128,2048,16384")).map(Number);
const gemmMs = list(args["gemm-m"] ?? (tiny ? "33,130" : "2048,16384")).map(Number);
const reps = Number(args.reps);
const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
const out = args.out ?? Deno.env.get("OUT") ?? `bench_outputs/${stamp}_xlstm_large`;
await Deno.mkdir(out, { recursive: true });

const D = config.embeddingDim, F = config.ffnDim, L = projLayout(config);
const gemmShapes: { name: string; N: number; K: number }[] = [
  { name: "proj q|k|v|o|i|f", N: L.NP, K: D },
  { name: "out_proj", N: D, K: config.vDim },
  { name: "ffn up_gate|up", N: 2 * F, K: D },
  { name: "ffn proj_down", N: D, K: F },
  { name: "lm_head", N: config.vocabSize, K: D },
];
const TILES: GemmTiles[] = [
  { TM: 8, TN: 8, BK: 16 },
  { TM: 8, TN: 8, BK: 32 },
  { TM: 8, TN: 8, BK: 8 },
  { TM: 8, TN: 4, BK: 16 },
  { TM: 4, TN: 4, BK: 16 },
];

const summary: string[] = [];
const say = (s: string) => {
  console.log(s);
  summary.push(s);
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const csv = (rows: (string | number)[][]) => rows.map((r) => r.join(",")).join("\n") + "\n";
const GiB = (
  b: number,
) => (b >= 2 ** 28 ? `${(b / 2 ** 30).toFixed(2)}` : `${(b / 2 ** 20).toFixed(2)} MiB`);
const tflopsText = (
  tf: number,
) => (tf >= 0.1 ? `${tf.toFixed(2)} TFLOP/s` : `${(tf * 1e3).toPrecision(3)} GFLOP/s`);

// 1. PyTorch first.
const torch = new Map<string, number>();
const shapesArg = gemmMs.flatMap((M) => gemmShapes.map((s) => `${M}x${s.N}x${s.K}`)).join(",");
if (!args["no-torch"] && !args["no-gemm"]) {
  const r = await new Deno.Command("python3", {
    args: ["bench/torch_gemm.py", "--shapes", shapesArg, "--out", `${out}/torch_gemm.csv`],
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((e) => ({ success: false, code: -1, error: e }));
  if (r.success) {
    const text = await Deno.readTextFile(`${out}/torch_gemm.csv`);
    for (const line of text.trim().split("\n").slice(1)) {
      const [M, N, K, , tf] = line.split(",");
      torch.set(`${M}x${N}x${K}`, Number(tf));
    }
  } else {
    say(`PyTorch baseline not measured (python3 bench/torch_gemm.py failed or is unavailable)`);
  }
}

const gpu = await getGpu();
say(`# xLSTM Large on WebGPU: ${gpu.adapterName}, ${new Date().toISOString()}`);
say(
  `config ${args.config}: V ${config.vocabSize}, D ${D}, blocks ${config.numBlocks}, NH ${config.numHeads}, DQK ${config.qkHeadDim}, DHV ${config.vHeadDim}, FFN ${F}, chunk ${chunkSize}`,
);

async function gpuTime(fn: () => Promise<void>): Promise<number> {
  const { report } = await withProfiling(gpu, async () => {
    await fn();
    await waitIdle(gpu);
  }, { granularity: "pass" });
  return report.totalMs;
}

function randomIds(S: number, V: number): number[][] {
  let x = 12345;
  return [Array.from({ length: S }, () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % V)];
}

// 2. GEMM alone (first, so that the model runs with the fastest tiles).
const gemmRows: (string | number)[][] = [[
  "shape",
  "M",
  "N",
  "K",
  "w_dtype",
  "tiles",
  "gpu_ms",
  "tflops",
  "torch_f32_tflops",
  "ratio_to_torch",
  "device",
]];
async function gemmBench(gpu: Gpu) {
  for (const dtype of dtypes) {
    for (const M of gemmMs) {
      for (const s of gemmShapes) {
        const yBytes = M * s.N * 4;
        if (yBytes > gpu.limits.maxStorageBufferBindingSize) {
          say(`gemm ${s.name} M=${M}: output of ${GiB(yBytes)} exceeds one binding, skipped`);
          continue;
        }
        releaseBufferPool(gpu);
        const W = GpuTensor.empty(gpu, [s.N, s.K], dtype);
        const X = GpuTensor.empty(gpu, [M, s.K]);
        const Y = GpuTensor.empty(gpu, [M, s.N]);
        const fill = new DispatchBatch(gpu);
        await encodeRandomFill(fill, W, { seed: 1, name: "w", center: 0, half: 0.05 });
        await encodeRandomFill(fill, X, { seed: 2, name: "x", center: 0, half: 1 });
        await fill.submit();
        const w: LinearWeight = { N: s.N, K: s.K, dtype, blocks: [W] };
        const flops = 2 * M * s.N * s.K;
        const R = tiny ? 2 : Math.max(2, Math.min(50, Math.ceil((0.03 * 25e12) / flops)));
        const tq = torch.get(`${M}x${s.N}x${s.K}`) ?? NaN;
        let best = 0;
        for (const [ti, tiles] of TILES.entries()) {
          const run = async () => {
            const b = new DispatchBatch(gpu);
            for (let r = 0; r < R; r++) await encodeGemm(b, X, w, Y, { tiles });
            await b.submit();
          };
          await run();
          await waitIdle(gpu);
          const times: number[] = [];
          for (let j = 0; j < 3; j++) times.push((await gpuTime(run)) / R);
          const ms = median(times);
          const tf = flops / (ms / 1e3) / 1e12;
          best = Math.max(best, tf);
          if (M === Math.max(...gemmMs)) {
            const key = `${dtype}:${ti}`;
            tileTotals.set(key, (tileTotals.get(key) ?? 0) + ms);
          }
          gemmRows.push([
            s.name,
            M,
            s.N,
            s.K,
            dtype,
            `${tiles.TM}x${tiles.TN}/${tiles.BK}`,
            ms.toFixed(4),
            tf.toFixed(3),
            Number.isFinite(tq) ? tq.toFixed(3) : "",
            Number.isFinite(tq) ? (tf / tq).toFixed(3) : "",
            gpu.adapterName,
          ]);
        }
        say(
          `gemm ${s.name} ${M}x${s.N}x${s.K} W ${dtype}: best ${tflopsText(best)}${
            Number.isFinite(tq)
              ? `, PyTorch f32 ${tq.toFixed(2)} TFLOP/s, ratio ${(best / tq * 100).toFixed(0)}%`
              : ""
          }`,
        );
        for (const t of [W, X, Y]) t.destroy();
      }
    }
  }
  await Deno.writeTextFile(`${out}/gemm.csv`, csv(gemmRows));
  for (const dtype of dtypes) {
    let bi = 0;
    TILES.forEach((_, ti) => {
      const t = tileTotals.get(`${dtype}:${ti}`) ?? Infinity;
      if (t < (tileTotals.get(`${dtype}:${bi}`) ?? Infinity)) bi = ti;
    });
    if (tileTotals.has(`${dtype}:${bi}`)) bestTiles.set(dtype, TILES[bi]!);
  }
}
const tileTotals = new Map<string, number>();
const bestTiles = new Map<string, GemmTiles>();
if (!args["no-gemm"]) await gemmBench(gpu);

// 3-4. The model.
const loadRows: (string | number)[][] = [[
  "dtype",
  "load_ms",
  "weight_bytes",
  "gpu_bytes_after_load",
  "device",
]];
const prefillRows: (string | number)[][] = [[
  "dtype",
  "prompt_tokens",
  "gpu_ms",
  "wall_ms",
  "gpu_ms_runs",
  "peak_gpu_bytes",
  "prompt_tokens_per_s",
  "device",
]];
if (!args["no-model"]) {
  for (const dtype of dtypes) {
    releaseChunkwiseScratch(gpu);
    releaseBufferPool(gpu);
    const tiles = bestTiles.get(dtype);
    setGemmTiles(tiles ?? null);
    if (tiles) {
      say(`${dtype}: GEMM tiles ${tiles.TM}x${tiles.TN}/${tiles.BK} (fastest at the largest M)`);
    }
    const tracker = trackGpuMemory(gpu.device);
    const t0 = performance.now();
    const model = await webgpuXlstmLargeBackend.random!(config, {
      dtype,
      seed: 1,
    }) as XlstmLargeWebgpu;
    await waitIdle(gpu);
    const loadMs = performance.now() - t0;
    loadRows.push([
      dtype,
      loadMs.toFixed(1),
      model.weightBytes,
      tracker.currentBytes,
      gpu.adapterName,
    ]);
    say(
      `${dtype}: random init on the GPU ${loadMs.toFixed(0)} ms, weights ${
        GiB(model.weightBytes)
      }, GPU memory after load ${GiB(tracker.currentBytes)}`,
    );
    for (const S of prompts) {
      const ids = randomIds(S, config.vocabSize);
      const once = async () => {
        const r = await model.forwardDevice(ids, { lastOnly: true });
        await r.logits.read();
        r.logits.destroy();
        destroyXlstmLargeState(r.state);
      };
      try {
        const c0 = performance.now();
        await once(); // warm-up: pipelines for this shape
        // Long prompts (a warm-up over 3 s) are timed once, to stay within one device call.
        const n = performance.now() - c0 > 3000 ? 1 : reps;
        tracker.resetPeak();
        const walls: number[] = [], gpus: number[] = [];
        for (let j = 0; j < n; j++) {
          let wall = 0;
          gpus.push(
            await gpuTime(async () => {
              const w0 = performance.now();
              await once();
              wall = performance.now() - w0;
            }),
          );
          walls.push(wall);
        }
        const g = median(gpus), w = median(walls);
        prefillRows.push([
          dtype,
          S,
          g.toFixed(3),
          w.toFixed(3),
          gpus.map((v) => v.toFixed(3)).join(" "),
          tracker.peakBytes,
          (S / (g / 1e3)).toFixed(1),
          gpu.adapterName,
        ]);
        say(
          `${dtype} prefill ${S} tokens: GPU ${g.toFixed(2)} ms, wall ${
            w.toFixed(2)
          } ms (to the last logits read back), peak GPU memory ${GiB(tracker.peakBytes)}, ${
            (S / (g / 1e3)).toFixed(0)
          } tokens/s`,
        );
      } catch (e) {
        prefillRows.push([
          dtype,
          S,
          "",
          "",
          `failed: ${(e as Error).message.replaceAll(",", ";")}`,
          "",
          "",
          gpu.adapterName,
        ]);
        say(`${dtype} prefill ${S} tokens failed: ${(e as Error).message}`);
      }
    }
    // Per-kernel breakdown at the middle prompt length.
    const S = prompts[Math.floor(prompts.length / 2)]!;
    const ids = randomIds(S, config.vocabSize);
    const { report } = await withProfiling(gpu, async () => {
      const r = await model.forwardDevice(ids, { lastOnly: true });
      await r.logits.read();
      r.logits.destroy();
      destroyXlstmLargeState(r.state);
    }, { granularity: "dispatch" });
    await Deno.writeTextFile(`${out}/kernels_${dtype}_${S}.csv`, report.toCsv());
    say(`\n${dtype} prefill ${S} tokens, per kernel (one pass per dispatch):`);
    say(report.formatSummary());
    model.destroy();
    tracker.stop();
  }
  await Deno.writeTextFile(`${out}/load.csv`, csv(loadRows));
  await Deno.writeTextFile(`${out}/prefill.csv`, csv(prefillRows));
}

say(
  "\nFor scale (issue 12, paper data): PyTorch with bf16 tensor cores on an H100 needs 8.7 / 46.1 / 348.9 ms to the first token for 128 / 2048 / 16384 prompt tokens; WebGPU here has no tensor cores (f32 FMA only).",
);
await Deno.writeTextFile(`${out}/summary.md`, summary.join("\n") + "\n");
console.log(`\nwrote ${out}/`);
