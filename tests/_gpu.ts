// The shared lazily created GPU device of a test module. With REQUIRE_GPU=1 a missing adapter fails
// every GPU test; otherwise GPU tests are ignored with a message naming mesa-vulkan-drivers.

import { getGpu, type Gpu, NoAdapterError } from "../kernels/runtime.ts";

const required = Deno.env.get("REQUIRE_GPU") === "1";

let probe: Promise<{ gpu: Gpu | null; error?: unknown }> | undefined;

function tryGpu() {
  probe ??= getGpu().then((gpu) => ({ gpu }), (error) => ({ gpu: null, error }));
  return probe;
}

/** Whether GPU tests should be ignored: no adapter and REQUIRE_GPU unset (prints why, once). */
export async function gpuMissing(): Promise<boolean> {
  const { gpu, error } = await tryGpu();
  if (gpu || required || !(error instanceof NoAdapterError)) return false;
  console.warn(`GPU tests ignored: ${error.message}. Set REQUIRE_GPU=1 to make this fail.`);
  return true;
}

/** The shared device; throws (failing the test) when there is none. */
export async function needGpu(): Promise<Gpu> {
  const { gpu, error } = await tryGpu();
  if (!gpu) throw error;
  return gpu;
}

/** Fails if the device recorded uncaptured errors. */
export function assertNoUncapturedErrors(gpu: Gpu): void {
  if (gpu.uncapturedErrors.length) {
    throw new Error(`Uncaptured GPU errors: ${gpu.uncapturedErrors.join("; ")}`);
  }
}
