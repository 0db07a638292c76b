// bench/shader_stats.ts: the WGSL parsing it needs, and the --tiny capture of one training
// step (f32 and f16) translated to SPIR-V and built into Vulkan pipelines through FFI. Where the
// driver implements VK_KHR_pipeline_executable_properties (NVIDIA) every pipeline must report
// statistics; where it does not (Mesa 22's lavapipe), the error must say so and the pipelines must
// still build without statistics. The decoding of the driver's structs and the report (summary and
// CSV rows) are checked without Vulkan, on arrays built here byte by byte.

import assert from "node:assert/strict";
import {
  captureTrainingStep,
  decodeExecutableProperties,
  decodeExecutableStatistics,
  EXECUTABLE_PROPERTIES_SIZE,
  EXECUTABLE_STATISTIC_SIZE,
  type PipelineStatistics,
  readShaderStatistics,
  shadersToProfile,
  STATISTICS_CSV_COLUMNS,
  statisticsRows,
  statisticsSummary,
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

/** Writes a NUL-terminated string into a char[256] field. */
function putString(view: DataView, off: number, s: string): void {
  const b = new TextEncoder().encode(s);
  assert.ok(b.length < 256);
  new Uint8Array(view.buffer, view.byteOffset + off, 256).set(b);
}

/** The union's 8 bytes: writes each value the way a driver does for its format. */
type FakeValue =
  | { format: 0; b32: number; junk?: number }
  | { format: 1; i64: bigint }
  | { format: 2; u64: bigint }
  | { format: 3; f64: number };

/** A fake VkPipelineExecutableStatisticKHR array (x86-64 layout), offset within its buffer. */
function fakeStatistics(
  stats: { name: string; description: string; v: FakeValue }[],
  byteOffset = 0,
): DataView {
  const size = EXECUTABLE_STATISTIC_SIZE;
  const view = new DataView(new ArrayBuffer(byteOffset + size * stats.length), byteOffset);
  stats.forEach(({ name, description, v }, j) => {
    const o = size * j;
    view.setUint32(o, 1000269004, true); // VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR
    view.setUint32(o + 4, 0xdeadbeef, true); // padding: never read
    putString(view, o + 16, name);
    putString(view, o + 272, description);
    view.setUint32(o + 528, v.format, true);
    view.setUint32(o + 532, 0xdeadbeef, true); // padding before the 8-byte union
    if (v.format === 0) {
      view.setUint32(o + 536, v.b32, true);
      view.setUint32(o + 540, v.junk ?? 0, true); // a bool32 leaves the rest of the union
    } else if (v.format === 1) view.setBigInt64(o + 536, v.i64, true);
    else if (v.format === 2) view.setBigUint64(o + 536, v.u64, true);
    else view.setFloat64(o + 536, v.f64, true);
  });
  return view;
}

Deno.test("decodeExecutableStatistics() reads every format from the x86-64 layout", () => {
  assert.equal(EXECUTABLE_STATISTIC_SIZE, 544);
  const view = fakeStatistics([
    { name: "Register Count", description: "registers per thread", v: { format: 2, u64: 40n } },
    { name: "Local Memory Size", description: "bytes", v: { format: 2, u64: 1n << 36n } },
    { name: "Huge", description: "", v: { format: 2, u64: 0xffff_ffff_ffff_fffen } },
    { name: "Delta", description: "signed", v: { format: 1, i64: -3n } },
    { name: "Min", description: "", v: { format: 1, i64: -(1n << 63n) } },
    { name: "Spills", description: "yes/no", v: { format: 0, b32: 1, junk: 0x1234 } },
    { name: "Uniform", description: "", v: { format: 0, b32: 0, junk: 0xffffffff } },
    { name: "Occupancy", description: "fraction", v: { format: 3, f64: 0.625 } },
  ], 24);
  const got = decodeExecutableStatistics(view, 8);
  assert.deepEqual(got, [
    {
      name: "Register Count",
      description: "registers per thread",
      format: "uint64",
      value: 40,
      raw: "0x0000000000000028",
    },
    {
      name: "Local Memory Size",
      description: "bytes",
      format: "uint64",
      value: 68719476736,
      raw: "0x0000001000000000",
    },
    {
      name: "Huge",
      description: "",
      format: "uint64",
      value: 0xffff_ffff_ffff_fffen,
      raw: "0xfffffffffffffffe",
    },
    {
      name: "Delta",
      description: "signed",
      format: "int64",
      value: -3,
      raw: "0xfffffffffffffffd",
    },
    {
      name: "Min",
      description: "",
      format: "int64",
      value: -(1n << 63n),
      raw: "0x8000000000000000",
    },
    {
      name: "Spills",
      description: "yes/no",
      format: "bool32",
      value: true,
      raw: "0x0000123400000001",
    },
    {
      name: "Uniform",
      description: "",
      format: "bool32",
      value: false,
      raw: "0xffffffff00000000",
    },
    {
      name: "Occupancy",
      description: "fraction",
      format: "float64",
      value: 0.625,
      raw: "0x3fe4000000000000",
    },
  ]);
  assert.deepEqual(decodeExecutableStatistics(view, 0), []);
});

Deno.test("decodeExecutableStatistics() rejects a count past the array and unknown formats", () => {
  const view = fakeStatistics([{ name: "A", description: "", v: { format: 2, u64: 1n } }]);
  assert.throws(() => decodeExecutableStatistics(view, 2), RangeError);
  view.setUint32(528, 4, true);
  assert.throws(() => decodeExecutableStatistics(view, 1), {
    name: "RangeError",
    message: "Statistic A: unknown VkPipelineExecutableStatisticFormatKHR 4",
  });
});

Deno.test("decodeExecutableProperties() reads stages, names and subgroup sizes", () => {
  assert.equal(EXECUTABLE_PROPERTIES_SIZE, 536);
  const exes = [
    { stages: 0x20, name: "CS", description: "compute shader", subgroupSize: 32 },
    { stages: 0x1 | 0x10, name: "VS+FS", description: "x".repeat(255), subgroupSize: 64 },
  ];
  const view = new DataView(new ArrayBuffer(EXECUTABLE_PROPERTIES_SIZE * exes.length));
  exes.forEach((e, j) => {
    const o = EXECUTABLE_PROPERTIES_SIZE * j;
    view.setUint32(o, 1000269002, true); // VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR
    view.setUint32(o + 16, e.stages, true);
    putString(view, o + 20, e.name);
    putString(view, o + 276, e.description);
    view.setUint32(o + 532, e.subgroupSize, true);
  });
  assert.deepEqual(decodeExecutableProperties(view, 2), exes);
  assert.deepEqual(decodeExecutableProperties(view, 1), exes.slice(0, 1));
  assert.throws(() => decodeExecutableProperties(view, 3), RangeError);
});

Deno.test("statisticsSummary() and statisticsRows() report the same statistics", () => {
  const decoded = decodeExecutableStatistics(
    fakeStatistics([
      { name: "Register Count", description: "regs", v: { format: 2, u64: 107n } },
      { name: "Local Memory Size", description: "bytes", v: { format: 2, u64: 1n << 36n } },
      { name: "Spills", description: "", v: { format: 0, b32: 1 } },
    ]),
    3,
  );
  const pipelines: PipelineStatistics[] = [
    {
      key: "state",
      subgroupSizes: { CS: 32 },
      statistics: decoded.map((d) => ({ key: "state", executable: "CS", ...d })),
    },
    { key: "f16", statistics: [], subgroupSizes: {}, error: "no shaderFloat16" },
    {
      key: "half",
      subgroupSizes: { CS: 32 },
      statistics: decoded.slice(0, 1).map((d) => ({ key: "half", executable: "CS", ...d })),
      error: "vkGetPipelineExecutableStatisticsKHR failed: VK_ERROR_UNKNOWN",
    },
  ];
  assert.deepEqual(statisticsSummary(pipelines), [
    "",
    "state",
    "  CS (subgroup size 32):",
    "    Register Count = 107",
    "    Local Memory Size = 68719476736",
    "    Spills = true",
    "",
    "f16",
    "  error: no shaderFloat16",
    "",
    "half",
    "  CS (subgroup size 32):",
    "    Register Count = 107",
    "  error: vkGetPipelineExecutableStatisticsKHR failed: VK_ERROR_UNKNOWN",
  ]);
  const rows = statisticsRows(pipelines);
  for (const r of rows) assert.deepEqual(Object.keys(r), [...STATISTICS_CSV_COLUMNS]);
  assert.deepEqual(rows.map((r) => [r.key, r.executable, r.statistic, r.value, r.format, r.raw]), [
    ["state", "CS", "Register Count", "107", "uint64", "0x000000000000006b"],
    ["state", "CS", "Local Memory Size", "68719476736", "uint64", "0x0000001000000000"],
    ["state", "CS", "Spills", "true", "bool32", "0x0000000000000001"],
    ["f16", "", "error", "no shaderFloat16", "", ""],
    ["half", "CS", "Register Count", "107", "uint64", "0x000000000000006b"],
    [
      "half",
      "",
      "error",
      "vkGetPipelineExecutableStatisticsKHR failed: VK_ERROR_UNKNOWN",
      "",
      "",
    ],
  ]);
  assert.equal(rows[0]!.description, "regs");
  // Every "name = value" line of the summary is a row of the CSV, and the other way round.
  const fromSummary = statisticsSummary(pipelines).filter((l) => l.startsWith("    "))
    .map((l) => l.trim());
  const fromRows = rows.filter((r) => r.statistic !== "error")
    .map((r) => `${r.statistic} = ${r.value}`);
  assert.deepEqual(fromSummary, fromRows);
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
    const rows = statisticsRows(report.pipelines);
    assert.equal(rows.length, report.pipelines.reduce((n, p) => n + p.statistics.length, 0));
    assert.ok(rows.every((r) => r.statistic !== "error"));
  },
});
