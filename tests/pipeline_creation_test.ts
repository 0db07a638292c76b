// Pipeline creation and compile stay short at large head dimensions: every WebGPU kernel's
// pipelines at the xLSTM 7B head shape (DQK 256, DHV 512), and the step kernels at a prime DQK
// (257), which used to unroll all 257 rows of C into one thread (47-49 s to compile on lavapipe).
// Lavapipe compiles a shader at its first dispatch and caches it on disk, so the measure is a
// kernel pass's first call over a warm second one, in a fresh process with Mesa's shader cache off
// (bench/pipeline_creation.ts). Measured on lavapipe (2 shared cores, loaded) at 256 × 512: the
// step and sequence kernels 0.8-1.3 s per pass (DQK 257: ~2 s, 66 s before the row bound); the
// parallel forward 5-7 s (17 s before its key loop); the chunkwise forwards up to 9 s, the backward
// passes 10-27 s (5 to 9 pipelines each). Bounds: 10 s per pass for the step family (fails the old
// 66 s), 60 s per pass for the others (lavapipe today with room for load; a GPU driver compiles
// them much faster: bench/pipeline_creation.ts on the GPU machine says how long).

import assert from "node:assert/strict";
import { stepKernelParams } from "../kernels/recurrent.ts";
import { gpuMissing } from "./_gpu.ts";

const ignore = await gpuMissing();
/** The step family's bound per pass, and everyone else's. */
const STEP_BOUND_MS = 10_000;
const BOUND_MS = 60_000;

interface Pass {
  kernel: string;
  pass: string;
  pipelines: number;
  compileMs: number;
}

/** Runs bench/pipeline_creation.ts in a fresh process and reads its per-pass CSV. */
async function measure(DQK: number, DHV: number, kernels?: string[]): Promise<Pass[]> {
  const out = await Deno.makeTempDir({ prefix: "pipeline_creation_" });
  const args = ["run", "-A", "bench/pipeline_creation.ts", "--dqk", `${DQK}`, "--dhv", `${DHV}`];
  args.push("--seq", "2"); // compile time is the measure: the shortest sequence that runs
  if (kernels) args.push("--kernels", kernels.join(","));
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...args, "--out", out],
    env: { MESA_SHADER_CACHE_DISABLE: "true" },
  }).output();
  const text = new TextDecoder();
  assert.equal(r.code, 0, text.decode(r.stderr));
  console.log(text.decode(r.stdout).trim().split("\n").slice(0, 4).join("\n"));
  const csv = await Deno.readTextFile(`${out}/pipeline_creation_passes.csv`);
  await Deno.remove(out, { recursive: true });
  return csv.trim().split("\n").slice(1).map((line) => {
    // adapter (quoted, may hold commas), DQK, DHV, kernel, pass, pipelines, first, warm, compile
    const f = line.slice(line.lastIndexOf('"') + 2).split(",");
    return { kernel: f[2]!, pass: f[3]!, pipelines: Number(f[4]), compileMs: Number(f[7]) };
  });
}

function assertFast(rows: Pass[]) {
  const bound = (k: string) => /^(step|recurrent)--/.test(k) ? STEP_BOUND_MS : BOUND_MS;
  const slow = rows.filter((r) => !(r.compileMs <= bound(r.kernel)))
    .map((r) =>
      `${r.kernel} ${r.pass}: ${(r.compileMs / 1000).toFixed(1)} s > ${bound(r.kernel) / 1000} s`
    );
  assert.deepEqual(slow, [], "kernel passes too slow to compile");
}

Deno.test({
  name: "every WebGPU kernel's pipelines at DQK 256, DHV 512 compile within bounds per pass",
  ignore,
  async fn() {
    const rows = await measure(256, 512);
    const pipelines = rows.reduce((n, r) => n + r.pipelines, 0);
    assert.ok(
      rows.length >= 12 && pipelines >= 10,
      `${rows.length} passes, ${pipelines} pipelines`,
    );
    assertFast(rows);
  },
});

Deno.test({
  name: "step and sequence kernels at a prime DQK (257) unroll at most 32 rows and compile fast",
  ignore,
  async fn() {
    for (const timeLoop of [false, true]) {
      const p = stepKernelParams(257, 64, "f32", "f32", "exp", true, !timeLoop, timeLoop);
      assert.ok(p.RPT <= 32 && p.R * p.RPT >= 257, JSON.stringify(p));
    }
    const names = ["step--fused", "recurrent--sequence", "recurrent--sequence_resident"];
    const rows = await measure(257, 64, [...names, ...names.map((n) => `${n}_siging`)]);
    assert.equal(rows.reduce((n, r) => n + r.pipelines, 0), 6);
    assertFast(rows);
  },
});
