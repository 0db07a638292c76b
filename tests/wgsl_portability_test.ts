// Portable WGSL: every variant the generators can emit (tools/wgsl_variants.ts) compiles without an
// error, warning or note in Deno's compiler (Naga) and in Chrome's (Tint, headless Chromium on
// SwiftShader). Tint follows the WGSL specification where Naga is lenient (e.g. `a <= b & c < d`
// needs parentheses).
//
// Pipelines: on a CPU adapter (SwiftShader, lavapipe) a large unrolled pipeline takes seconds to
// minutes to build, so pipelines are created for the smallest variant of every generator mode;
// WGSL_PIPELINES=all creates all of them (for a browser on a real GPU). Pipelines over the device's
// limits (storage buffers per stage, workgroup storage) are listed, not failed: they say the kernel
// does not fit that device, which the launchers check before dispatch.

import assert from "node:assert/strict";
import { allWgslVariants, type WgslVariant } from "../tools/wgsl_variants.ts";
import { browserMissing, launchBrowser, serveRoutes } from "./_browser.ts";
import { gpuMissing, needGpu } from "./_gpu.ts";
import {
  type CompileJob,
  compileOnDevice,
  type CompileReport,
  openCompileDevice,
} from "./_wgsl_compile_page.ts";

const variants = allWgslVariants();
const allPipelines = Deno.env.get("WGSL_PIPELINES") === "all";

/** The smallest variant of each generator mode (the key up to its first colon), if small. */
function pipelineSample(vs: readonly WgslVariant[]): Set<string> {
  const best = new Map<string, WgslVariant>();
  for (const x of vs) {
    const mode = x.key.split(":")[0]!;
    const b = best.get(mode);
    if (!b || x.code.length < b.code.length) best.set(mode, x);
  }
  // SwiftShader needs 1-3 s for a pipeline of 8,000 characters and minutes for the large unrolled
  // tiles: those modes get their pipelines only with WGSL_PIPELINES=all.
  return new Set([...best.values()].filter((x) => x.code.length <= 8000).map((x) => x.key));
}

const sample = pipelineSample(variants);

function summary(r: CompileReport, n: number): string {
  return `${n} shaders on ${r.adapter}: ${r.problems.length} problems, ${r.f16AsF32} f16 shaders checked with f16 spelled f32, ${r.overLimits.length} pipelines over the device's limits`;
}

Deno.test("the variant list covers every generator and has unique keys", () => {
  const modes = new Set(variants.map((x) => x.key.split(":")[0]));
  for (
    const m of [
      "chunkwise-gates",
      "matvec",
      "sampling",
      "decode-split",
      "chunkwise-init",
      "chunkwise-init-zero",
      "chunkwise-last",
      "chunkwise-state",
      "chunkwise-parallel",
      "bw-prep",
      "bw-stats",
      "bw-dq",
      "bw-dkdv",
      "bw-gates",
      "bw-gates-wide",
      "bw-outer-state",
      "bw-outer-dstate",
      "bw-scanf",
      "bw-scanb",
      "bw-block-stats",
      "bw-block-dq",
      "bw-block-dkdv",
      "bw-block-dk",
      "bw-block-dv",
      "bw-block-outer-state",
      "bw-block-outer-dstate",
      "parallel",
      "step",
      "gemm",
      "gather",
      "random-fill",
      "norm",
      "elementwise",
      "toheads",
      "slstm-forward",
      "slstm-backward",
      "slstm-dr",
      "slstm-dr-reduce",
      "slstm-rcopy",
    ]
  ) assert.ok(modes.has(m), `no ${m} variant`);
  assert.equal(new Set(variants.map((x) => x.key)).size, variants.length);
  assert.ok(variants.some((x) => x.f16) && variants.some((x) => !x.f16));
});

Deno.test({
  name: "every WGSL variant compiles in Deno (Naga) without messages",
  ignore: await gpuMissing(),
  timeout: 600_000,
  async fn() {
    const gpu = await needGpu();
    const jobs: CompileJob[] = variants.filter((x) => !x.f16 || gpu.hasF16);
    const r = await compileOnDevice(
      gpu.device,
      jobs,
      false,
      `Deno ${Deno.version.deno} ${gpu.adapterName}`,
    );
    console.log(summary(r, jobs.length));
    assert.deepEqual(r.problems, []);
  },
});

Deno.test({
  name: "every WGSL variant compiles in Chromium (Tint) without messages; pipelines build",
  ignore: browserMissing(),
  timeout: 900_000,
  async fn() {
    const server = serveRoutes({
      "/": { body: "<!doctype html><title>WGSL check</title>", type: "text/html" },
    });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(600_000);
      await page.goto(server.url);
      await page.addScriptTag({
        content: `globalThis.compileOnDevice = ${compileOnDevice.toString()};
globalThis.openCompileDevice = ${openCompileDevice.toString()};`,
      });
      type PageGlobals = {
        compileOnDevice: typeof compileOnDevice;
        openCompileDevice: typeof openCompileDevice;
        __wgslDevice: GPUDevice;
      };
      const adapter = await page.evaluate(() =>
        (globalThis as unknown as PageGlobals).openCompileDevice()
      );
      const total: CompileReport = { problems: [], f16AsF32: 0, overLimits: [], adapter };
      const run = async (jobs: CompileJob[], pipelines: boolean) => {
        const n = pipelines ? 1 : 50;
        for (let s = 0; s < jobs.length; s += n) {
          const r = await page.evaluate(
            (batch, pipes) => {
              const g = globalThis as unknown as PageGlobals;
              return g.compileOnDevice(g.__wgslDevice, batch, pipes, "");
            },
            jobs.slice(s, s + n),
            pipelines,
          );
          total.problems.push(...r.problems);
          total.overLimits.push(...r.overLimits);
          if (!pipelines) total.f16AsF32 += r.f16AsF32;
        }
      };
      await run(variants, false);
      const withPipes = variants.filter((x) => allPipelines || sample.has(x.key));
      await run(withPipes, true);
      console.log(summary(total, variants.length));
      console.log(
        `pipelines created for ${withPipes.length} variants: ${
          withPipes.map((x) => x.key.split(":")[0]).join(", ")
        }`,
      );
      if (total.overLimits.length) {
        console.log(`over this device's limits:\n  ${total.overLimits.join("\n  ")}`);
      }
      assert.deepEqual(total.problems, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
