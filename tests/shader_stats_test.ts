// bench/shader_stats.ts: the WGSL parsing it needs, and the --tiny capture of one training
// step (f32 and f16) translated to SPIR-V and built into Vulkan pipelines through FFI. Where the
// driver implements VK_KHR_pipeline_executable_properties (NVIDIA) every pipeline must report
// statistics; where it does not (Mesa 22's lavapipe), the error must say so and the pipelines must
// still build without statistics.

import assert from "node:assert/strict";
import {
  captureTrainingStep,
  readShaderStatistics,
  shadersToProfile,
  wgslBindings,
  wgslEntryPoint,
} from "../bench/shader_stats.ts";
import { gpuMissing } from "./_gpu.ts";

const ignore = await gpuMissing();

Deno.test("wgslBindings() reads storage and uniform bindings, sorted", () => {
  const wgsl = `
    @group(0) @binding(2) var<uniform> u: U;
    @group(1) @binding(0) var<storage, read> a: array<f32>;
    @group(0) @binding(0)
    var<storage, read_write> b: array<vec4<f32>>;
    var<workgroup> tile: array<f32, 64>;`;
  assert.deepEqual(wgslBindings(wgsl), [
    { group: 0, binding: 0, kind: "storage" },
    { group: 0, binding: 2, kind: "uniform" },
    { group: 1, binding: 0, kind: "storage" },
  ]);
});

Deno.test("wgslEntryPoint() finds the compute entry point, or throws", () => {
  const wgsl =
    "fn helper() {}\n@compute @workgroup_size(64, 1, 1)\nfn run(@builtin(workgroup_id) w: vec3u) {}";
  assert.equal(wgslEntryPoint(wgsl), "run");
  assert.throws(() => wgslEntryPoint("fn main() {}"), {
    message: "WGSL has no @compute entry point",
  });
});

Deno.test({
  name: "shader_stats: --tiny training step captured, translated to SPIR-V, built on Vulkan",
  ignore,
  async fn() {
    const capture = await captureTrainingStep(
      { B: 1, NH: 2, S: 200, DQK: 64, DHV: 128 },
      { chunkSize: 64, dtypes: ["f32", "f16"] },
    );
    const keys = capture.shaders.map((s) => s.key);
    assert.equal(new Set(keys).size, keys.length);
    // The forward's and the backward's kernels, in both dtypes.
    for (const family of ["chunkwise-parallel", "chunkwise-state", "mlstm-bw-block-stats"]) {
      for (const dtype of ["f32", "f16"]) {
        assert.ok(
          keys.some((k) => k.startsWith(family) && k.includes(dtype)),
          `${family} ${dtype} in ${keys.join("\n")}`,
        );
      }
    }
    const shaders = shadersToProfile(capture.shaders);
    assert.deepEqual(shaders.map((s) => s.key), keys);
    for (const s of shaders) {
      assert.equal(s.spirv[0], 0x07230203, `${s.key}: SPIR-V magic number`);
      assert.ok(s.spirv.length > 100, s.key);
      assert.equal(s.entryPoint, "main", s.key);
      assert.ok(s.bindings.length > 0, s.key);
      // f16 arithmetic only where the storage dtype is f16.
      if (s.f16) assert.ok(s.key.includes("f16"), s.key);
    }
    assert.ok(shaders.some((s) => s.f16));

    const deviceName = capture.adapterName;
    let report;
    try {
      report = readShaderStatistics(shaders, { preferredDeviceName: deviceName });
    } catch (e) {
      const ext = "VK_KHR_pipeline_executable_properties";
      assert.equal(
        (e as Error).message,
        `Vulkan device ${deviceName} does not implement ${ext}: its driver reports no shader ` +
          `statistics (run on a driver that does, e.g. NVIDIA's; with requireStatistics false, ` +
          `or --build-only, the pipelines are built without statistics)`,
      );
      report = readShaderStatistics(shaders, {
        preferredDeviceName: deviceName,
        requireStatistics: false,
      });
      assert.equal(report.statisticsSupported, false);
    }
    assert.equal(report.deviceName, deviceName);
    assert.deepEqual(report.pipelines.map((p) => p.key), keys);
    for (const p of report.pipelines) {
      assert.equal(p.error, undefined, `${p.key}: ${p.error}`);
      if (report.statisticsSupported) {
        assert.ok(p.statistics.length > 0, `${p.key}: no statistics`);
        assert.ok(Object.keys(p.subgroupSizes).length > 0, p.key);
      } else {
        assert.equal(p.statistics.length, 0);
      }
    }
  },
});
