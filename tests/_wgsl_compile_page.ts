// The in-page half of the WGSL portability check: functions that puppeteer's page.evaluate runs in
// Chromium (so they may use only browser globals and their arguments), and their Deno twin for Naga.

/** A shader to compile; `f16` says whether it needs `shader-f16`. */
export interface CompileJob {
  key: string;
  code: string;
  f16: boolean;
}

/** Result of compiling a batch: problems (one line each) and what was skipped and why. */
export interface CompileReport {
  problems: string[];
  /** f16 shaders compiled with f16 spelled f32 (the adapter lacks shader-f16). */
  f16AsF32: number;
  /** Pipelines not created because the shader needs more than the device's limits. */
  overLimits: string[];
  adapter: string;
}

/**
 * Compiles shaders on a device: createShaderModule + getCompilationInfo (any error, warning or
 * info message is a problem), then createComputePipeline inside a validation error scope when
 * `pipelines` is set. Without shader-f16 an f16 shader is compiled with `enable f16;` dropped and
 * f16 spelled f32, which still checks everything but f16's own typing rules. Pipeline errors about
 * the device's limits (storage buffers per stage, workgroup storage, invocations) are reported
 * apart: they say the kernel does not fit this device, not that the WGSL is wrong.
 */
export async function compileOnDevice(
  device: GPUDevice,
  jobs: CompileJob[],
  pipelines: boolean,
  adapter: string,
): Promise<CompileReport> {
  const report: CompileReport = { problems: [], f16AsF32: 0, overLimits: [], adapter };
  const hasF16 = device.features.has("shader-f16");
  const limitRe =
    /(storage buffers|maxStorageBuffersPerShaderStage|workgroup storage|maxComputeWorkgroupStorageSize|invocations|maxComputeInvocationsPerWorkgroup|max_storage_buffers|workgroup_storage|max_compute)/i;
  for (const job of jobs) {
    let code = job.code;
    if (job.f16 && !hasF16) {
      code = code.replace(/^\s*enable f16;/m, "").replace(/\bf16\b/g, "f32");
      report.f16AsF32++;
    }
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code, label: job.key });
    const info = await module.getCompilationInfo();
    for (const m of info.messages) {
      const line = code.split("\n")[m.lineNum - 1] ?? "";
      report.problems.push(
        `${job.key}: ${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}\n    ${line.trim()}`,
      );
    }
    const moduleError = await device.popErrorScope();
    if (moduleError && info.messages.length === 0) {
      report.problems.push(`${job.key}: ${moduleError.message}`);
    }
    if (!pipelines || moduleError) continue;
    device.pushErrorScope("validation");
    device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    const e = await device.popErrorScope();
    if (e) {
      if (limitRe.test(e.message)) {
        report.overLimits.push(`${job.key}: ${e.message.split("\n")[0]}`);
      } else report.problems.push(`${job.key}: pipeline: ${e.message}`);
    }
  }
  return report;
}

/**
 * Opens a device with the adapter's largest compute limits and the shader-f16 feature when
 * offered (runs in the page; the device is kept in `globalThis.__wgslDevice`).
 */
export async function openCompileDevice(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error("No WebGPU adapter");
  const limits: Record<string, number> = {};
  for (
    const k of [
      "maxComputeWorkgroupStorageSize",
      "maxComputeInvocationsPerWorkgroup",
      "maxStorageBuffersPerShaderStage",
      "maxComputeWorkgroupSizeX",
      "maxComputeWorkgroupSizeY",
      "maxComputeWorkgroupSizeZ",
      "maxStorageBufferBindingSize",
    ]
  ) limits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
  const requiredFeatures = adapter.features.has("shader-f16") ? ["shader-f16" as const] : [];
  const device = await adapter.requestDevice({ requiredLimits: limits, requiredFeatures });
  (globalThis as unknown as { __wgslDevice: GPUDevice }).__wgslDevice = device;
  return `${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.description}`.trim() +
    ` (shader-f16: ${
      adapter.features.has("shader-f16")
    }, storage buffers per stage: ${limits.maxStorageBuffersPerShaderStage}, workgroup storage: ${limits.maxComputeWorkgroupStorageSize})`;
}
