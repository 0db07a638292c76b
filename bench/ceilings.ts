// Prints the device's measured ceilings (profiling/ceilings.ts): vec4 copy bandwidth and unrolled
// tiled f32 matmul FLOP/s, timed with timestamp queries.
//
//   deno task ceilings [--matmul 4096] [--copy-mib 256] [--json out.json]

import { parseArgs } from "node:util";
import { measureCeilings } from "../profiling/ceilings.ts";
import { getBenchGpu } from "./_gpu.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      matmul: { type: "string" },
      "copy-mib": { type: "string" },
      json: { type: "string" },
    },
  });
  const gpu = await getBenchGpu();
  if (!gpu) {
    console.error("No WebGPU adapter: set XDG_RUNTIME_DIR=/tmp DENO_WEBGPU_BACKEND=vulkan");
    Deno.exit(2);
  }
  const c = await measureCeilings(gpu, {
    ...(values.matmul ? { matmulSize: Number(values.matmul) } : {}),
    ...(values["copy-mib"] ? { copyBytes: Number(values["copy-mib"]) * 2 ** 20 } : {}),
  });
  console.log(`${gpu.adapterName} (${c.timing})`);
  console.log(
    `f32 matmul ${c.matmulSize}³ (tiled, unrolled, vec4): ${c.matmulMs.toFixed(3)} ms -> ${
      (c.flopsPerSecond / 1e12).toFixed(3)
    } TFLOP/s = ${(c.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s (max rel error ${
      c.matmulMaxRelError.toExponential(1)
    })`,
  );
  console.log(
    `copy ${(c.copyBytes / 2 ** 20).toFixed(0)} MiB: ${c.copyMs.toFixed(3)} ms -> ${
      (c.bytesPerSecond / 1e9).toFixed(1)
    } GB/s (read + write)`,
  );
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ device: gpu.adapterName, ...c }, null, 2),
    );
  }
  Deno.exit(0);
}
