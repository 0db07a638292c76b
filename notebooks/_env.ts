/**
 * Notebook parameters (environment variables: papermill is not available, so notebooks read
 * `MLSTM_NB_*`) and discovery of the optional parts of the toolkit (GPU runtime, WebGPU kernels,
 * backend module, benchmark runner, profiler) that land on their own branches. Every notebook runs
 * on the float64 references alone and picks the GPU kernels up as soon as they are registered.
 *
 * @module
 */

import {
  getAvailableMlstmKernels,
  getMlstmKernel,
  type MlstmKernel,
  registerMlstmKernels,
  type Tensor,
} from "../mod.ts";
import { flushDisplay } from "./_plot.ts";

/** Problem sizes: `small` for CI on lavapipe (the default), `full` for a real GPU. */
export type NbSize = "small" | "full";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** `MLSTM_NB_SIZE` (`small` unless it says `full`). */
export function nbSize(): NbSize {
  return env("MLSTM_NB_SIZE") === "full" ? "full" : "small";
}

/**
 * A numeric parameter from the environment.
 *
 * @param name The variable.
 * @param fallback Used when unset or not a number.
 * @returns The value.
 */
export function envNumber(name: string, fallback: number): number {
  const s = env(name);
  const x = s === undefined || s === "" ? NaN : Number(s);
  return Number.isFinite(x) ? x : fallback;
}

/**
 * A string parameter from the environment.
 *
 * @param name The variable.
 * @param fallback Used when unset or empty.
 * @returns The value.
 */
export function envString(name: string, fallback: string): string {
  const s = env(name);
  return s === undefined || s === "" ? fallback : s;
}

/** Path of the repository root (the folder above `notebooks/`). */
export const REPO_ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Whether a file exists under the repository root. */
export function repoHas(path: string): boolean {
  try {
    Deno.statSync(`${REPO_ROOT}/${path}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Imports an optional module of the toolkit by its path under the repository root.
 *
 * @param path E.g. `kernels/runtime.ts`.
 * @returns The module namespace, or undefined when the file is absent.
 * @throws Whatever the module throws while loading (a broken module is an error, not "absent").
 */
// deno-lint-ignore no-explicit-any
export async function optionalModule(path: string): Promise<any | undefined> {
  if (!repoHas(path)) return undefined;
  return await import(`${REPO_ROOT}/${path}`);
}

let gpuReady = false;

/**
 * Registry names of the WebGPU kernels that can run here: every kernel not named `reference--*`,
 * once {@linkcode loadGpu} found an adapter; none before that or without one (`mod.ts` may
 * register the WebGPU kernels on a machine that has no adapter).
 *
 * @returns The names, in registration order.
 */
export function gpuKernelNames(): string[] {
  if (!gpuReady) return [];
  return getAvailableMlstmKernels().filter((n) => !n.startsWith("reference"));
}

/** Registry names of the float64 references. */
export function referenceKernelNames(): string[] {
  return getAvailableMlstmKernels().filter((n) => n.startsWith("reference"));
}

/** The float64 reference of the same form and input gate as a kernel (`recurrent` for steps). */
export function referenceFor(name: string): string {
  const k = getMlstmKernel(name);
  if (k.backend === "cpu-float64") return name;
  const form = k.form === "step" ? "recurrent" : k.form;
  return `reference--${form}${k.inputGate === "sig" ? "_siging" : ""}`;
}

/** What the GPU side of the toolkit offers in this checkout. */
export interface GpuSupport {
  /** The runtime module (`kernels/runtime.ts`), when present. */
  // deno-lint-ignore no-explicit-any
  runtime?: any;
  /** The runtime's GPU handle from `getGpu()`, when an adapter was found. */
  // deno-lint-ignore no-explicit-any
  gpu?: any;
  /** Adapter description, when known. */
  adapter?: string;
  /** Why there is no GPU, when there is none. */
  reason?: string;
}

let gpuSupport: Promise<GpuSupport> | undefined;

/**
 * Loads the GPU runtime when this checkout has one, asks it for a device and, when there is an
 * adapter, registers the WebGPU kernels (`webgpuKernels` of `kernels/mod.ts`, `chunkwiseKernels` of
 * `kernels/chunkwise/mod.ts`) that the registry does not have yet. Never throws: a missing runtime
 * or adapter is reported in `reason`. Call it before {@linkcode gpuKernelNames}.
 *
 * @returns The runtime, GPU handle and adapter description, or a reason.
 */
export function loadGpu(): Promise<GpuSupport> {
  gpuSupport ??= (async (): Promise<GpuSupport> => {
    if (env("MLSTM_NB_GPU") === "0") return { reason: "GPU disabled (MLSTM_NB_GPU=0)" };
    let runtime;
    try {
      runtime = await optionalModule("kernels/runtime.ts");
    } catch (e) {
      return { reason: `kernels/runtime.ts failed to load: ${e}` };
    }
    if (!runtime) return { reason: "no GPU runtime in this checkout (kernels/runtime.ts)" };
    if (typeof runtime.getGpu !== "function") return { runtime, reason: "runtime has no getGpu()" };
    let gpu;
    try {
      gpu = await runtime.getGpu();
    } catch (e) {
      return { runtime, reason: `no WebGPU adapter: ${e instanceof Error ? e.message : e}` };
    }
    const fresh = (list: readonly MlstmKernel[] | undefined) =>
      (list ?? []).filter((k) => !getAvailableMlstmKernels().includes(k.name));
    const all = await optionalModule("kernels/mod.ts");
    registerMlstmKernels(fresh(all?.webgpuKernels));
    const cw = await optionalModule("kernels/chunkwise/mod.ts");
    registerMlstmKernels(fresh(cw?.chunkwiseKernels));
    gpuReady = true;
    return { runtime, gpu, adapter: gpu.adapterName ?? "unknown adapter" };
  })();
  return gpuSupport;
}

/**
 * Copies a CPU tensor to the GPU with the runtime's `GpuTensor` (f32 unless `dtype` says f16).
 *
 * @param s The loaded GPU support.
 * @param t The CPU tensor.
 * @param dtype Storage type. @default {"f32"}
 * @returns The device tensor.
 * @throws {Error} When the runtime has no known upload function.
 */
export function toDevice(s: GpuSupport, t: Tensor, dtype: "f32" | "f16" = "f32"): unknown {
  const G = s.runtime?.GpuTensor;
  if (G?.fromTensor) return G.fromTensor(s.gpu, t, dtype);
  if (G?.from) return G.from(s.gpu, t, dtype);
  if (s.gpu?.upload) return s.gpu.upload(t, dtype);
  throw new Error("The GPU runtime offers no upload (GpuTensor.fromTensor / from, gpu.upload)");
}

/**
 * Formats a table as HTML and plain text and displays it (in Jupyter) or prints it.
 *
 * @param rows Objects with the same keys.
 * @param columns The keys to show, in order. @default {the keys of the first row}
 */
export async function showTable(
  rows: Record<string, unknown>[],
  columns?: string[],
): Promise<void> {
  const cols = columns ?? Object.keys(rows[0] ?? {});
  const cell = (x: unknown) =>
    typeof x === "number"
      ? (Number.isInteger(x) ? String(x) : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4
        ? x.toPrecision(4)
        : x.toExponential(2))
      : String(x ?? "");
  const esc = (s: string) => s.replaceAll("&", "&amp;").replaceAll("<", "&lt;");
  const html = `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>` +
    `<tbody>${
      rows.map((r) => `<tr>${cols.map((c) => `<td>${esc(cell(r[c]))}</td>`).join("")}</tr>`).join("")
    }</tbody></table>`;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const text = [cols, ...rows.map((r) => cols.map((c) => cell(r[c])))]
    .map((line) => line.map((s, j) => s.padEnd(widths[j])).join("  ")).join("\n");
  if (typeof (Deno as { jupyter?: unknown }).jupyter === "object") {
    await Deno.jupyter.display({ "text/html": html, "text/plain": text }, { raw: true });
    await flushDisplay();
  } else {
    console.log(text);
  }
}
