/**
 * The kernel registry: every kernel of the toolkit by its SPEC name.
 *
 * The registry hands out each kernel behind a guard that ties a backward pass to its forward: a
 * forward call remembers, for its `inputs` object (weakly, by identity), the options that change
 * the function it computes (`eps`; `documentStarts`; `chunkSize` for chunkwise forms; `normalize`
 * for the sigmoid input gate; `dtype` for WebGPU kernels), defaults filled in. A later `backward` of the same
 * kernel on the same `inputs` object with other such options is rejected with a `TypeError` that
 * names the option and both values. A backward without a preceding forward is allowed (every
 * backward recomputes what it needs from the inputs).
 *
 * @module
 */

import { hasDocumentStarts } from "./documents.ts";
import type { MlstmInputs, MlstmKernel, MlstmOptions } from "./types.ts";

const kernels = new Map<string, MlstmKernel>();
/** Guarded kernel → the kernel it guards, and back (re-registering reuses the guard). */
const unguarded = new WeakMap<MlstmKernel, MlstmKernel>();
const guarded = new WeakMap<MlstmKernel, MlstmKernel>();
/** inputs object → kernel name → the function-changing options of its last forward. */
const forwards = new WeakMap<object, Map<string, [string, unknown][]>>();

/** The options that change the function a kernel computes, with their defaults filled in. */
function functionOptions(
  k: MlstmKernel,
  inputs: MlstmInputs | undefined,
  options: MlstmOptions | undefined,
): [string, unknown][] {
  const o = options ?? {};
  const out: [string, unknown][] = [["eps", o.eps ?? 1e-6]];
  if (k.form === "chunkwise") out.push(["chunkSize", o.chunkSize ?? 64]);
  if (k.inputGate === "sig") out.push(["normalize", o.normalize ?? true]);
  // Packed sequences: no starts (undefined or only empty lists) is one document per row.
  const starts = o.documentStarts;
  out.push([
    "documentStarts",
    hasDocumentStarts(starts) ? starts!.map((r) => (Array.isArray(r) ? [...r] : r)) : [],
  ]);
  if (k.backend === "webgpu") {
    // Device-tensor inputs carry their own storage type; CPU inputs are uploaded as f32.
    const q = inputs?.q as { dtype?: unknown } | undefined;
    const own = typeof q === "object" && q !== null && !("data" in q) ? q.dtype : undefined;
    out.push(["dtype", o.dtype ?? own ?? "f32"]);
  }
  return out;
}

function show(v: unknown): string {
  if (typeof v === "number") {
    return v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(v);
  }
  return typeof v === "string" || Array.isArray(v) ? JSON.stringify(v) : String(v);
}

function guard(raw: MlstmKernel): MlstmKernel {
  const known = guarded.get(raw);
  if (known) return known;
  const forward: MlstmKernel["forward"] = async (inputs, options) => {
    const seen = functionOptions(raw, inputs, options);
    const out = await raw.forward(inputs, options);
    if (typeof inputs === "object" && inputs !== null) {
      let byName = forwards.get(inputs);
      if (!byName) forwards.set(inputs, byName = new Map());
      byName.set(raw.name, seen);
    }
    return out;
  };
  const k: MlstmKernel = { ...raw, forward };
  const bw = raw.backward;
  if (bw) {
    k.backward = (inputs, dh, options) => {
      const fw = typeof inputs === "object" && inputs !== null
        ? forwards.get(inputs)?.get(raw.name)
        : undefined;
      if (fw) {
        const now = functionOptions(raw, inputs, options);
        for (const [j, [name, was]] of fw.entries()) {
          const is = now[j]![1];
          const same = Array.isArray(is)
            ? JSON.stringify(is) === JSON.stringify(was)
            : Object.is(is, was);
          if (!same) {
            return Promise.reject(
              new TypeError(
                `Option ${name} of backward (${show(is)}) differs from the forward's (${
                  show(was)
                }) on these inputs of ${raw.name}: pass the forward's options`,
              ),
            );
          }
        }
      }
      return bw.call(raw, inputs, dh, options);
    };
  }
  guarded.set(raw, k);
  unguarded.set(k, raw);
  return k;
}

/**
 * Adds kernels to the registry (the toolkit registers its own at import of `mod.ts`). A kernel is
 * stored behind the forward/backward guard described in the module documentation; registering a
 * kernel that {@linkcode getMlstmKernel} handed out stores it again without a second guard.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getMlstmKernel, registerMlstmKernels } from "./registry.ts";
 * import { referenceKernels } from "../reference/kernels.ts";
 * registerMlstmKernels(referenceKernels);
 * assert.ok(getMlstmKernel("reference--parallel").form === "parallel");
 * ```
 *
 * @param list The kernels.
 */
export function registerMlstmKernels(list: readonly MlstmKernel[]): void {
  for (const k of list) kernels.set(k.name, guard(unguarded.get(k) ?? k));
}

/**
 * Names of all registered kernels, in registration order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getAvailableMlstmKernels } from "../mod.ts";
 * assert.ok(getAvailableMlstmKernels().includes("reference--chunkwise"));
 * ```
 *
 * @returns The names.
 */
export function getAvailableMlstmKernels(): string[] {
  return [...kernels.keys()];
}

/**
 * A kernel by name. Its `backward` rejects options that differ from those of its last `forward`
 * on the same `inputs` object (`eps`, `documentStarts`, `chunkSize` of chunkwise forms,
 * `normalize` of the sigmoid gate, `dtype` of WebGPU kernels; defaults count as given: `eps` 1e-6,
 * `documentStarts` none, `chunkSize` 64, `normalize` true, `dtype` that of device inputs or "f32").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getMlstmKernel } from "../mod.ts";
 * const k = getMlstmKernel("reference--recurrent");
 * assert.ok(k.supportsStates && typeof k.backward === "function");
 * ```
 *
 * @example A backward must use its forward's options
 * ```ts
 * import assert from "node:assert/strict";
 * import { getMlstmKernel, Random, randomMlstmInputs, randomTensor } from "../mod.ts";
 * const k = getMlstmKernel("reference--parallel");
 * const x = randomMlstmInputs({ B: 1, NH: 1, S: 3, DQK: 2, DHV: 2 }, new Random(0));
 * const dh = randomTensor([1, 1, 3, 2], new Random(1));
 * await k.forward(x, { eps: 0.01 });
 * await assert.rejects(() => k.backward!(x, dh), {
 *   name: "TypeError",
 *   message: "Option eps of backward (1e-6) differs from the forward's (0.01) on these inputs " +
 *     "of reference--parallel: pass the forward's options",
 * });
 * const g = await k.backward!(x, dh, { eps: 0.01 });
 * assert.ok(g.dq.shape.join() === "1,1,3,2");
 * ```
 *
 * @param name The registry name, e.g. `"chunkwise--xl_chunk"`.
 * @returns The kernel.
 * @throws {RangeError} For an unknown name; the message lists the available names.
 */
export function getMlstmKernel(name: string): MlstmKernel {
  const k = kernels.get(name);
  if (k === undefined) {
    throw new RangeError(
      `Unknown mLSTM kernel ${JSON.stringify(name)}; available: ${[...kernels.keys()].join(", ")}`,
    );
  }
  return k;
}
