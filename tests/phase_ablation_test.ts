// The phase-ablation profiling hook (issue #14): the blocked backward kernels' phase markers, their
// removal (bindings kept), setShaderTransform's effect and its separate pipeline cache, and
// bench/phase_ablation.ts end to end at its smoke shape.

import assert from "node:assert/strict";
import { randomMlstmInputs, randomTensor, type Tensor } from "../mod.ts";
import { BLOCK_PHASES, blockWgsl, removeBlockPhase } from "../kernels/backward/_block_wgsl.ts";
import type { BwParams } from "../kernels/backward/_wgsl.ts";
import { setBackwardStateTerm } from "../kernels/backward/backward.ts";
import { GpuTensor, setShaderTransform } from "../kernels/runtime.ts";
import { forwardBackward } from "../kernels/train.ts";
import { gpuMissing, needGpu } from "./_gpu.ts";
import { uploadInputs } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

const P: BwParams = {
  gate: "exp",
  dtype: "f32",
  gateDtype: "f32",
  DQK: 64,
  DHV: 128,
  inter: true,
  normalize: true,
  exact: true,
};

Deno.test("blocked kernels: each phase is marked, and removing it keeps every binding", () => {
  const prefetch = { state: true, accum: true, scores: true };
  const stats = blockWgsl(P, "stats", false, 16, true, true, true, "out", {
    prefetch,
    rowFirst: true,
  });
  const dkdv = blockWgsl(P, "dkdv", false, 16, true, false, true, "in", { prefetch });
  const count = (code: string, name: string) => removeBlockPhase(code, name).removed;
  // stats: one state product (dh·Cᵀ), two score products, the shared blocks' write, one
  // accumulation; dkdv: two state products, the shared blocks' read, two accumulations.
  assert.deepEqual(BLOCK_PHASES.map((n) => count(stats, n)), [1, 2, 1, 1]);
  assert.deepEqual(BLOCK_PHASES.map((n) => count(dkdv, n)), [2, 1, 0, 2]);
  const bindings = (code: string) =>
    [...code.matchAll(/@binding\(\d+\)\s+var(?:<[^>]*>)?\s+(\w+)/g)].map((m) => m[1]);
  for (const code of [stats, dkdv]) {
    for (const name of BLOCK_PHASES) {
      const { wgsl, removed } = removeBlockPhase(code, name);
      if (!removed) continue;
      assert.ok(!wgsl.includes(`// phase ${name} {`), name);
      for (const b of bindings(code)) assert.ok(wgsl.includes(`_ = &${b};`), `${name}: ${b}`);
      // The other phases' markers are untouched.
      for (const other of BLOCK_PHASES.filter((o) => o !== name)) {
        assert.equal(count(wgsl, other), count(code, other), `${name} kept ${other}`);
      }
    }
    // Without any removal the markers are comments: the code is the same without them.
    assert.ok(!/\/\/ phase \w+ removed/.test(code));
  }
  // A state product's staging is inside its marked block.
  assert.ok(stats.includes("stg[") && removeBlockPhase(stats, "state").wgsl.length < stats.length);
});

Deno.test({
  name: "setShaderTransform: rewritten kernels run, and their pipelines are cached apart",
  ignore,
  fn: async () => {
    const gpu = await needGpu();
    const rng = rngOf(4100);
    const shape = { B: 1, NH: 2, S: 100, DQK: 64, DHV: 128 };
    const x = randomMlstmInputs(shape, rng);
    const xg = uploadInputs(gpu, x);
    const dh = GpuTensor.fromTensor(gpu, randomTensor([1, 2, 100, 128], rng));
    const dq = async () => {
      const r = await forwardBackward("chunkwise--xl_chunk", xg, dh, { chunkSize: 64 });
      const out = await (r.grads.dq as GpuTensor).read();
      for (const t of [r.h, ...Object.values(r.grads)]) if (t instanceof GpuTensor) t.destroy();
      return out;
    };
    const diff = (a: Tensor, b: Tensor) => {
      let m = 0;
      for (let j = 0; j < a.data.length; j++) m = Math.max(m, Math.abs(a.data[j]! - b.data[j]!));
      return m;
    };
    // U = dh·Cᵀ formed in the fused stats (by default its own kernel, which no transform selects).
    setBackwardStateTerm(false);
    try {
      const full = await dq();
      const rewritten: string[] = [];
      setShaderTransform({
        id: "test-no-state",
        selects: (key) => key.startsWith("mlstm-bw-block-"),
        rewrite: (wgsl, key) => {
          rewritten.push(key);
          return removeBlockPhase(wgsl, "state").wgsl;
        },
      });
      const ablated = await dq();
      // Only the selected pipelines were rewritten (the others came from the cache as they were).
      assert.ok(rewritten.length > 0);
      assert.ok(rewritten.every((k) => k.startsWith("mlstm-bw-block-")), rewritten.join(", "));
      // dq's state term (dh·Cᵀ) is gone: dq changes (beyond rounding) for the second chunk.
      assert.ok(diff(full, ablated) > 1e-3, `ablated dq differs by ${diff(full, ablated)}`);
      setShaderTransform(null);
      // Cleared: the unmodified pipelines again, bit for bit.
      assert.equal(diff(full, await dq()), 0);
    } finally {
      setShaderTransform(null);
      setBackwardStateTerm(undefined);
      for (const t of [...Object.values(xg), dh]) if (t instanceof GpuTensor) t.destroy();
    }
  },
});

Deno.test({
  name: "bench/phase_ablation.ts --tiny writes a row per kernel and removed phase",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "bench/phase_ablation.ts", "--tiny", "--out", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, err);
      const csv = (await Deno.readTextFile(`${dir}/phase_ablation.csv`)).trim().split("\n");
      assert.equal(csv[0], "kernel,dtype,removed,msPerStep,markers");
      const rows = csv.slice(1).map((l) => l.split(","));
      // One total per configuration; markers removed as the first test counts them, less stats'
      // state product, which runs in its own kernel by default (setBackwardStateTerm): 2 state
      // products, 3 score blocks, 1 shared write, 3 accumulations.
      const totals = rows.filter((c) => c[0] === "total").map((c) => [c[2], Number(c[4])]);
      assert.deepEqual(totals, [["none", 0], ["state", 2], ["scores", 3], ["share", 1], [
        "accum",
        3,
      ]]);
      for (const c of rows) assert.ok(Number(c[3]) > 0, c.join(","));
      assert.ok(
        rows.some((c) => c[0].endsWith("bw stats")) && rows.some((c) => c[0].endsWith("bw dkdv")),
      );
      assert.match(
        await Deno.readTextFile(`${dir}/phase_ablation.md`),
        /\| kernel \| none \| state/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
