// chunkwise--limit_chunk is its own tiling, not xl_chunk under another name: its parallel kernel
// runs one workgroup per chunk and head (all of DHV), xl_chunk's several (DHV tiles); both match
// the float64 reference. Also: the whole-chunk tiles of the NVIDIA defaults (48 KiB) compile.

import assert from "node:assert/strict";
import { getMlstmKernel, randomMlstmInputs, type Tensor } from "../mod.ts";
import { limitChunkTiles, parallelTiles, parallelWgsl } from "../kernels/chunkwise/_wgsl.ts";
import { startProfiling } from "../profiling/profiler.ts";
import { assertNoUncapturedErrors, gpuMissing, needGpu } from "./_gpu.ts";
import { check, roundInputs, tolerance } from "./_gpu_checks.ts";
import { rngOf } from "./_seed.ts";

const ignore = await gpuMissing();

Deno.test({
  name: "chunkwise--limit_chunk runs one parallel workgroup per chunk and head, xl_chunk tiles DHV",
  ignore,
  async fn() {
    const gpu = await needGpu();
    // DHV 264: xl_chunk's default tiles are 256 columns wide at most (128 where the workgroup
    // storage is 32 KiB), so it needs several; limit_chunk's cover it whole.
    const shape = { B: 1, NH: 2, S: 150, DQK: 16, DHV: 264 };
    const x = roundInputs(randomMlstmInputs(shape, rngOf(611)), "f32");
    const ref = await getMlstmKernel("reference--recurrent").forward(x, { eps: 1e-6 });
    const workgroupsOf = async (name: string) => {
      const p = startProfiling(gpu, { timestamps: false });
      const { h } = await getMlstmKernel(name).forward(x, { chunkSize: 64 });
      const report = await p.stop();
      const par = report.records.filter((r) => r.label.endsWith(" parallel"));
      assert.equal(par.length, 1, `${name}: one parallel dispatch`);
      check(
        "limit_chunk tiling",
        name,
        "reference--recurrent",
        "h",
        x,
        "f32",
        (h as Tensor).data,
        (ref.h as Tensor).data,
        tolerance("f32"),
      );
      return par[0]!.workgroups;
    };
    // Grid (DHV tiles, query blocks per chunk, chunks · heads): 3 chunks of 2 heads.
    assert.deepEqual(await workgroupsOf("chunkwise--limit_chunk"), [1, 1, 6]);
    const xt = parallelTiles(shape.DHV, gpu.limits.maxComputeWorkgroupStorageSize);
    const xlTiles = Math.ceil(shape.DHV / (xt.TX * xt.TN));
    assert.ok(xlTiles >= 2, `xl_chunk tiles: ${JSON.stringify(xt)}`);
    assert.deepEqual(await workgroupsOf("chunkwise--xl_chunk"), [xlTiles, 1, 6]);
    assertNoUncapturedErrors(gpu);
  },
});

Deno.test({
  name: "limitChunkTiles() covers DHV in one tile; its WGSL for 48 KiB devices compiles",
  ignore,
  async fn() {
    const gpu = await needGpu();
    for (const DHV of [16, 64, 100, 256, 512]) {
      const t = limitChunkTiles(DHV, 48 * 1024)!;
      assert.ok(t.TX * t.TN >= DHV && 4 * t.TY >= 64, `DHV ${DHV}: ${JSON.stringify(t)}`);
      for (const gate of ["exp", "sig"] as const) {
        const code = parallelWgsl({ gate, normalize: true, dtype: "f32", ...t, vec4io: true });
        const info = await gpu.device.createShaderModule({ code }).getCompilationInfo();
        const errors = info.messages.filter((m) => m.type === "error");
        assert.deepEqual(errors.map((e) => `${e.lineNum}: ${e.message}`), [], `DHV ${DHV} ${gate}`);
      }
    }
    // WebGPU's default 16 KiB cannot hold a whole-chunk tile of DHV 512: xl tiles are used then.
    assert.equal(limitChunkTiles(512, 16 * 1024), undefined);
    assertNoUncapturedErrors(gpu);
  },
});
