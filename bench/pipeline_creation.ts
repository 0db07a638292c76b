// Pipeline creation and compile time of every WebGPU kernel at one head shape (default: xLSTM 7B,
// DQK 256, DHV 512): each kernel's forward (and backward, where it has one) runs twice at
// B = NH = 1 and a short S in a fresh process; the first call's excess over the second is what
// creating and compiling its pipelines cost (lavapipe compiles at the first dispatch, not at
// createComputePipelineAsync), and the runtime's pipelineCreationTimes() gives each pipeline's
// createComputePipelineAsync time. Kernels run one at a time (a pass's pipelines may overlap).
//
//   npx deno run -A bench/pipeline_creation.ts [--dqk 256] [--dhv 512] [--kernels a,b] [--seq 8]
//     [--out DIR] [--bw-unroll full] [--bw-blocked-large]
//
// `--bw-blocked-large`: the register-blocked backward kernels above DHV 256
// (setBackwardBlockedLarge(true); the default everywhere but on lavapipe, where it is timed with
// this flag).
// `--bw-unroll full`: the row-sliced backward kernels with their loops unrolled fully, as before
// issue #11's rolled loops (setBackwardTileUnroll("full")), for before/after figures.
// Besides wall time, the process's CPU time (all threads: lavapipe compiles on its queue thread)
// of each call: a measure that a machine loaded with other work stretches far less.
// Writes DIR/pipeline_creation_passes.csv (kernel, pass, pipelines, first/warm call, compile ms,
// the same in CPU ms) and
// DIR/pipeline_creation.csv (per pipeline); DIR defaults to $OUT, else
// bench_outputs/pipeline_creation. The drivers' on-disk shader caches (Mesa's, NVIDIA's) are turned
// off (set MLSTM_KEEP_SHADER_CACHE=1 to keep them), so that every run compiles.

import { mkdirSync, writeFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { setBackwardBlockedLarge, setBackwardTileUnroll } from "../kernels/backward/backward.ts";
import {
  getAvailableMlstmKernels,
  getGpu,
  getMlstmKernel,
  pipelineCreationTimes,
  Random,
  randomMlstmInputs,
  randomTensor,
} from "../mod.ts";

/** One kernel pass: the pipelines it created and what its first call cost over a warm one. */
export interface CreationRow {
  kernel: string;
  pass: "forward" | "backward";
  /** Pipeline key → createComputePipelineAsync time (ms), for the pipelines this pass created. */
  pipelines: [string, number][];
  /** Wall time of the first call (pipeline creation, the driver's compile, the run), ms. */
  firstMs: number;
  /** Wall time of a second, warm call (the run alone), ms. */
  warmMs: number;
  /** firstMs - warmMs: what creating and compiling the pass's pipelines cost. */
  compileMs: number;
  /** CPU time of the process (all threads) during the first call, ms. */
  firstCpuMs: number;
  /** CPU time of the process during the warm call, ms. */
  warmCpuMs: number;
  /** firstCpuMs - warmCpuMs: the compile's CPU time, which other load on the machine stretches little. */
  compileCpuMs: number;
}

/** The WebGPU kernels, every one of the registry. */
export function webgpuKernelNames(): string[] {
  return getAvailableMlstmKernels().filter((n) => getMlstmKernel(n).backend === "webgpu");
}

/**
 * Runs each kernel's forward and backward twice at (B, NH) = (1, 1), the given head shape and S
 * (1 for step kernels), and returns per pass the pipelines it created and the cost of its first
 * call over the warm one. Both matter: lavapipe creates a pipeline quickly and compiles its shader
 * at the first dispatch (the 47 s of DQK = 257 showed only there); other drivers compile at
 * creation.
 */
export async function timePipelineCreation(
  kernels: readonly string[],
  DQK: number,
  DHV: number,
  S = 8,
): Promise<CreationRow[]> {
  const gpu = await getGpu();
  const rows: CreationRow[] = [];
  let seen = new Set(pipelineCreationTimes(gpu).keys());
  const created = () => {
    const now = pipelineCreationTimes(gpu);
    const out = [...now].filter(([key]) => !seen.has(key));
    seen = new Set(now.keys());
    return out;
  };
  const timed = async (run: () => Promise<unknown>) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run();
    const c = process.cpuUsage(c0);
    return [performance.now() - t0, (c.user + c.system) / 1000] as const;
  };
  for (const name of kernels) {
    const k = getMlstmKernel(name);
    const len = k.form === "step" ? 1 : S;
    const x = randomMlstmInputs({ B: 1, NH: 1, S: len, DQK, DHV }, new Random(1));
    const passes: [CreationRow["pass"], () => Promise<unknown>][] = [
      ["forward", () => k.forward(x, {})],
    ];
    if (k.backward) {
      const dh = randomTensor([1, 1, len, DHV], new Random(2));
      passes.push(["backward", () => k.backward!(x, dh, {})]);
    }
    for (const [pass, run] of passes) {
      const [firstMs, firstCpuMs] = await timed(run);
      const pipelines = created();
      const [warmMs, warmCpuMs] = await timed(run);
      rows.push({
        kernel: name,
        pass,
        pipelines,
        firstMs,
        warmMs,
        compileMs: firstMs - warmMs,
        firstCpuMs,
        warmCpuMs,
        compileCpuMs: firstCpuMs - warmCpuMs,
      });
    }
  }
  return rows;
}

if (import.meta.main) {
  // Drivers keep compiled shaders on disk (Mesa, NVIDIA): a second run would time the cache.
  if (Deno.env.get("MLSTM_KEEP_SHADER_CACHE") !== "1") {
    Deno.env.set("MESA_SHADER_CACHE_DISABLE", "true");
    Deno.env.set("__GL_SHADER_DISK_CACHE", "0");
  }
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      dqk: { type: "string", default: "256" },
      dhv: { type: "string", default: "512" },
      kernels: { type: "string" },
      seq: { type: "string", default: "8" },
      out: { type: "string" },
      "bw-unroll": { type: "string" },
      "bw-blocked-large": { type: "boolean", default: false },
    },
  });
  // The register-blocked backward above DHV 256 (off by default).
  if (values["bw-blocked-large"]) setBackwardBlockedLarge(true);
  if (values["bw-unroll"] !== undefined) {
    if (values["bw-unroll"] !== "full") throw new RangeError("--bw-unroll: only `full` is known");
    setBackwardTileUnroll("full");
  }
  const DQK = Number(values.dqk), DHV = Number(values.dhv);
  const kernels = values.kernels ? values.kernels.split(",") : webgpuKernelNames();
  const dir = values.out ?? Deno.env.get("OUT") ?? "bench_outputs/pipeline_creation";
  const gpu = await getGpu();
  console.log(`${gpu.adapterName}: pipeline creation at DQK ${DQK}, DHV ${DHV}`);
  const rows = await timePipelineCreation(kernels, DQK, DHV, Number(values.seq));
  mkdirSync(dir, { recursive: true });
  const q = (x: string) => JSON.stringify(x);
  const passes = [
    "adapter,DQK,DHV,kernel,pass,pipelines,first_call_ms,warm_call_ms,compile_ms," +
    "first_call_cpu_ms,warm_call_cpu_ms,compile_cpu_ms",
  ].concat(
    rows.map((r) =>
      [q(gpu.adapterName), DQK, DHV, r.kernel, r.pass, r.pipelines.length, r.firstMs.toFixed(1)]
        .concat(
          [r.warmMs, r.compileMs, r.firstCpuMs, r.warmCpuMs, r.compileCpuMs].map((x) =>
            x.toFixed(1)
          ),
        )
        .join(",")
    ),
  );
  const pipes = ["adapter,DQK,DHV,kernel,pass,pipeline,create_ms"].concat(
    rows.flatMap((r) =>
      r.pipelines.map(([key, ms]) =>
        [q(gpu.adapterName), DQK, DHV, r.kernel, r.pass, q(key), ms.toFixed(1)].join(",")
      )
    ),
  );
  writeFileSync(`${dir}/pipeline_creation_passes.csv`, passes.join("\n") + "\n");
  writeFileSync(`${dir}/pipeline_creation.csv`, pipes.join("\n") + "\n");
  for (const r of [...rows].sort((a, b) => b.compileMs - a.compileMs)) {
    const create = Math.max(0, ...r.pipelines.map(([, ms]) => ms));
    console.log(
      `${r.compileMs.toFixed(0).padStart(8)} ms compile (first ${r.firstMs.toFixed(0)}, warm ${
        r.warmMs.toFixed(0)
      }, slowest createComputePipeline ${create.toFixed(0)}; CPU ${
        r.compileCpuMs.toFixed(0)
      } ms)  ${r.kernel} ${r.pass}`,
    );
  }
  console.log(`wrote ${dir}/pipeline_creation_passes.csv and pipeline_creation.csv`);
}
