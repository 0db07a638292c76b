// Device acquisition and loss as a user meets them: no adapter at all (a subprocess without any
// Vulkan driver), and a kernel called on a device that was just destroyed. In a module of its own,
// because it destroys the process's default device.

import assert from "node:assert/strict";
import { getMlstmKernel, Random, randomMlstmInputs, type Tensor } from "../mod.ts";
import { getGpu, GpuError } from "../kernels/runtime.ts";
import { gpuMissing } from "./_gpu.ts";
import { uploadInputs } from "./_gpu_checks.ts";

const ignore = await gpuMissing();
const root = new URL("..", import.meta.url);

async function withoutDriver(requireGpu: boolean): Promise<string> {
  const probe = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      probe,
      `import { getGpu } from "${new URL("kernels/runtime.ts", root).href}";
import { gpuMissing, needGpu } from "${new URL("tests/_gpu.ts", root).href}";
try { await getGpu(); console.log("adapter found"); } catch (e) { console.log(\`\${e.name}: \${e.message}\`); }
console.log(\`gpuMissing: \${await gpuMissing()}\`);
try { await needGpu(); } catch (e) { console.log(\`needGpu: \${e.name}\`); }
`,
    );
    const env: Record<string, string> = {
      // No Vulkan driver at all (both loader variables: newer loaders read VK_DRIVER_FILES).
      VK_ICD_FILENAMES: "/nonexistent/icd.json",
      VK_DRIVER_FILES: "/nonexistent/icd.json",
      DENO_WEBGPU_BACKEND: "vulkan",
      NO_COLOR: "1",
      REQUIRE_GPU: requireGpu ? "1" : "0",
    };
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", probe],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  } finally {
    await Deno.remove(probe);
  }
}

Deno.test("getGpu() without a driver throws NoAdapterError with the fix; REQUIRE_GPU=1 fails GPU tests", async () => {
  const required = await withoutDriver(true);
  assert.match(required, /^NoAdapterError: No WebGPU adapter found/m);
  assert.match(required, /apt-get install -y mesa-vulkan-drivers/);
  assert.match(required, /DENO_WEBGPU_BACKEND=vulkan/);
  // With REQUIRE_GPU=1 nothing is ignored and needGpu() throws: GPU tests fail, never skip.
  assert.match(required, /^gpuMissing: false$/m);
  assert.match(required, /^needGpu: NoAdapterError$/m);
  const optional = await withoutDriver(false);
  assert.match(optional, /^gpuMissing: true$/m);
  assert.match(optional, /GPU tests ignored: .*Set REQUIRE_GPU=1 to make this fail/);
});

Deno.test({
  name: "checkFinite reads device inputs back and names the non-finite argument",
  ignore,
  async fn() {
    const gpu = await getGpu();
    const x = randomMlstmInputs({ B: 1, NH: 1, S: 9, DQK: 8, DHV: 8 }, new Random(1));
    x.f.data[4] = NaN;
    const xg = uploadInputs(gpu, x);
    for (const name of ["chunkwise--xl_chunk", "parallel--stablef", "recurrent--sequence"]) {
      await assert.rejects(
        () => getMlstmKernel(name).forward(xg, { checkFinite: true, chunkSize: 4 }),
        (e: unknown) =>
          e instanceof RangeError &&
          e.message === "Argument f (1, 1, 9) holds a non-finite value NaN at flat index 4",
        name,
      );
    }
    Object.values(xg).forEach((t) => t.destroy());
  },
});

Deno.test({
  name:
    "a kernel called on a destroyed device throws GpuError with the fix; the next call recovers",
  ignore,
  async fn() {
    const kernel = getMlstmKernel("chunkwise--xl_chunk");
    const x = randomMlstmInputs({ B: 1, NH: 2, S: 20, DQK: 8, DHV: 12 }, new Random(41));
    const before = await kernel.forward(x, { chunkSize: 8 });
    const gpu = await getGpu();
    gpu.device.destroy();
    // Right after destroy(), before device.lost has resolved, and once it has.
    await assert.rejects(
      () => kernel.forward(x, { chunkSize: 8 }),
      (e: unknown) => e instanceof GpuError && /getGpu\(\) again/.test(e.message),
    );
    await gpu.device.lost;
    assert.ok(gpu.lost !== undefined);
    // The kernel asks getGpu() for its device: a fresh one, same result.
    const after = await kernel.forward(x, { chunkSize: 8 });
    assert.notEqual(await getGpu(), gpu);
    assert.deepEqual([...(after.h as Tensor).data], [...(before.h as Tensor).data]);
  },
});
