/**
 * The backend module, like `mlstm_kernels`' `mLSTMBackend`: one object that picks the kernel for
 * each call. In "train" mode every call goes to the chunkwise kernel; in "inference" mode a
 * length-1 input goes to the step kernel, a short one (S < chunkSize) to the sequence kernel and a
 * long one to the chunkwise kernel, and the last states are carried from call to call. Both input
 * gates route the same way.
 *
 * @module
 */

import { getAvailableMlstmKernels, getMlstmKernel } from "../core/registry.ts";
import type {
  InputGate,
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../core/types.ts";
import { nearestName, validateMlstmInputs } from "../core/validate.ts";

/** Configuration of an {@linkcode MlstmBackend}. */
export interface MlstmBackendConfig {
  /** Kernel for training and for long inference inputs. @default {"chunkwise--xl_chunk"} */
  chunkwiseKernel?: string;
  /**
   * Kernel for short inference inputs (S < chunkSize).
   * @default {"recurrent--sequence" ("recurrent--sequence_siging" for a sigmoid-gate chunkwise kernel)}
   */
  sequenceKernel?: string;
  /**
   * Kernel for inference inputs of length 1.
   * @default {"step--fused" ("step--fused_siging" for a sigmoid-gate chunkwise kernel)}
   */
  stepKernel?: string;
  /** Chunk size of the chunkwise kernel; also the short/long threshold. @default {64} */
  chunkSize?: number;
  /** Return the last states in "train" mode (always returned in "inference"). @default {true} */
  returnLastStates?: boolean;
  /** "train": chunkwise kernel, states only if given; "inference": routed by length, states carried. @default {"train"} */
  mode?: "train" | "inference";
  /** Storage type of the kernels' inputs and outputs on the GPU. @default {"f32"} */
  autocastDtype?: "f32" | "f16";
  /** Normalizer eps. @default {1e-6} */
  eps?: number;
  /** Sigmoid input gate only: normalize the output. @default {true} */
  normalize?: boolean;
}

/**
 * Per-call options of {@linkcode MlstmBackend.forward} and {@linkcode MlstmBackend.backward}.
 *
 * @example Two documents packed into one row of 10 steps
 * ```ts
 * import type { MlstmBackendCallOptions } from "./backend.ts";
 * const call: MlstmBackendCallOptions = { documentStarts: [[6]] };
 * console.assert(call.documentStarts![0]![0] === 6);
 * ```
 */
export interface MlstmBackendCallOptions {
  /**
   * Packed sequences (see `MlstmOptions.documentStarts`): per batch row, the positions
   * 0 < t < S of this call where a document starts (states zeroed there). Positions are relative
   * to the call: in "inference" mode the carried states seed each row's first document only, and
   * the states carried on are those of the last document. A document that starts at a call's
   * first step needs zero initial states (`resetState()` for a whole batch). A backward must get
   * its forward's starts. @default {undefined} (one document per row)
   */
  documentStarts?: MlstmOptions["documentStarts"];
}

function callOptions(call: MlstmBackendCallOptions | undefined): MlstmOptions {
  if (call === undefined) return {};
  if (typeof call !== "object" || call === null) {
    throw new TypeError(`Argument call must be an object { documentStarts? }, received ${call}`);
  }
  for (const key of Object.keys(call)) {
    if (key !== "documentStarts") {
      throw new RangeError(
        `Call options have no field ${show(key)}; the only field is documentStarts`,
      );
    }
  }
  return call.documentStarts === undefined ? {} : { documentStarts: call.documentStarts };
}

/** Which kernel a call went to and why: `"step"`, `"sequence"` or `"chunkwise"`. */
export type BackendRoute = "step" | "sequence" | "chunkwise";

const DEFAULTS = {
  chunkwiseKernel: "chunkwise--xl_chunk",
  sequenceKernel: "recurrent--sequence",
  stepKernel: "step--fused",
  chunkSize: 64,
  returnLastStates: true,
  mode: "train",
  autocastDtype: "f32",
  eps: 1e-6,
  normalize: true,
} as const satisfies Required<MlstmBackendConfig>;

/** The defaults of the sequence and step kernels, per input gate of the chunkwise kernel. */
const TWINS: Record<InputGate, { sequenceKernel: string; stepKernel: string }> = {
  exp: { sequenceKernel: "recurrent--sequence", stepKernel: "step--fused" },
  sig: { sequenceKernel: "recurrent--sequence_siging", stepKernel: "step--fused_siging" },
};

const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : String(v));
const fieldError = (field: string, expected: string, received: unknown) =>
  `Config ${field} must be ${expected}, received ${show(received)}`;

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new RangeError(fieldError(field, allowed.map(show).join(" or "), value));
  }
  return value as T;
}

function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new TypeError(fieldError(field, "a boolean", value));
  return value;
}

function resolveKernel(field: string, name: unknown): MlstmKernel {
  if (typeof name !== "string" || !getAvailableMlstmKernels().includes(name)) {
    throw new RangeError(
      `${fieldError(field, "a registered mLSTM kernel name", name)}; available: ${
        getAvailableMlstmKernels().join(", ")
      }`,
    );
  }
  const k = getMlstmKernel(name);
  // The backend seeds every call with the carried states and keeps the returned ones.
  if (!k.supportsStates) {
    throw new TypeError(
      fieldError(field, "a kernel that takes and returns states", name) +
        ` (a ${k.form} kernel without states)`,
    );
  }
  // A step kernel computes S = 1 only; the other two slots get any length.
  if (field !== "stepKernel" && k.form === "step") {
    throw new TypeError(
      fieldError(field, "a kernel for any sequence length", name) + " (a step kernel: S = 1 only)",
    );
  }
  return k;
}

/** The one check of a backward pass, shared by the constructor ("train") and `backward`. */
function backwardOf(k: MlstmKernel): NonNullable<MlstmKernel["backward"]> {
  if (k.backward === undefined) {
    throw new TypeError(
      `Config chunkwiseKernel ${
        show(k.name)
      } has no backward pass; mode "train" needs one (mode "inference" does not)`,
    );
  }
  return k.backward.bind(k);
}

/**
 * Runs mLSTM forward (and backward) passes through configured kernels.
 *
 * @example Inference: a prompt, then token by token, with the states carried
 * ```ts
 * import assert from "node:assert/strict";
 * import { MlstmBackend } from "./backend.ts";
 * import { Random, randomMlstmInputs } from "../mod.ts";
 * const backend = new MlstmBackend({
 *   mode: "inference",
 *   chunkwiseKernel: "reference--chunkwise",
 *   sequenceKernel: "reference--recurrent",
 *   stepKernel: "reference--recurrent",
 *   chunkSize: 4,
 * });
 * const rng = new Random(0);
 * await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 9, DQK: 4, DHV: 4 }, rng));
 * assert.ok(backend.lastRoute === "chunkwise" && backend.state !== undefined);
 * await backend.forward(randomMlstmInputs({ B: 1, NH: 1, S: 1, DQK: 4, DHV: 4 }, rng));
 * assert.equal(backend.lastRoute as string, "step");
 * ```
 */
export class MlstmBackend {
  /** The configuration with defaults filled in (validated, frozen). */
  readonly config: Readonly<Required<MlstmBackendConfig>>;
  // Resolved once, so that the kernels that run are the ones validated.
  readonly #kernels: Readonly<Record<BackendRoute, MlstmKernel>>;
  #state: MlstmStates | undefined;
  #lastRoute: BackendRoute | undefined;

  /**
   * Creates a backend and validates every field of the config at once.
   *
   * @example A sigmoid-gate backend: the sequence and step kernels default to the `_siging` twins
   * ```ts
   * import assert from "node:assert/strict";
   * import { MlstmBackend } from "../mod.ts";
   * const backend = new MlstmBackend({ chunkwiseKernel: "chunkwise--xl_chunk_siging" });
   * assert.equal(backend.config.stepKernel, "step--fused_siging");
   * assert.throws(() => new MlstmBackend({ chunkSize: 0 }), /Config chunkSize/);
   * ```
   *
   * @param config Kernels, chunk size, mode and dtype.
   * @throws {RangeError} For a value outside its set (mode, autocastDtype, chunkSize, eps, an
   *   unknown kernel name, listing the available ones) or an unknown field (naming the nearest).
   * @throws {TypeError} For a value of the wrong type, `normalize: false` with exponential-gate
   *   kernels, a kernel without states, a step kernel in
   *   another slot, kernels of different input gates, or (mode "train") a chunkwise kernel without
   *   a backward pass.
   */
  constructor(config: MlstmBackendConfig = {}) {
    if (typeof config !== "object" || config === null) {
      throw new TypeError(`Config must be an object, received ${show(config)}`);
    }
    for (const field of Object.keys(config)) {
      if (!(field in DEFAULTS)) {
        const near = nearestName(field, Object.keys(DEFAULTS));
        throw new RangeError(
          `Config has no field ${show(field)}${
            near === undefined ? "" : ` (did you mean ${near}?)`
          }; the fields are ${Object.keys(DEFAULTS).join(", ")}`,
        );
      }
    }
    // A field given as undefined takes its default, like a field left out.
    const given = Object.fromEntries(
      Object.entries(config).filter(([, v]) => v !== undefined),
    ) as MlstmBackendConfig;
    const mode = oneOf("mode", given.mode ?? DEFAULTS.mode, ["train", "inference"]);
    const chunkSize = given.chunkSize ?? DEFAULTS.chunkSize;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(fieldError("chunkSize", "a positive integer", chunkSize));
    }
    const autocastDtype = oneOf(
      "autocastDtype",
      given.autocastDtype ?? DEFAULTS.autocastDtype,
      ["f32", "f16"],
    );
    const eps = given.eps ?? DEFAULTS.eps;
    if (typeof eps !== "number" || !Number.isFinite(eps) || eps < 0) {
      throw new RangeError(fieldError("eps", "a finite number >= 0", eps));
    }
    const returnLastStates = checkBoolean(
      "returnLastStates",
      given.returnLastStates ?? DEFAULTS.returnLastStates,
    );
    const normalize = checkBoolean("normalize", given.normalize ?? DEFAULTS.normalize);
    const chunkwise = resolveKernel(
      "chunkwiseKernel",
      given.chunkwiseKernel ?? DEFAULTS.chunkwiseKernel,
    );
    // Left at their defaults, the sequence and step kernels follow the chunkwise kernel's gate.
    const twins = TWINS[chunkwise.inputGate];
    const sequence = resolveKernel("sequenceKernel", given.sequenceKernel ?? twins.sequenceKernel);
    const step = resolveKernel("stepKernel", given.stepKernel ?? twins.stepKernel);
    const gates = { chunkwiseKernel: chunkwise, sequenceKernel: sequence, stepKernel: step };
    if (Object.values(gates).some((k) => k.inputGate !== chunkwise.inputGate)) {
      const list = Object.entries(gates).map(([f, k]) => `${f} ${show(k.name)} (${k.inputGate})`);
      throw new TypeError(`Config kernels must share one input gate, received ${list.join(", ")}`);
    }
    // Fail at construction, not at the first call (as every exp-gate kernel would).
    if (chunkwise.inputGate === "exp" && !normalize) {
      throw new TypeError(
        `Config normalize false is for sigmoid-gate kernels only: ${
          show(chunkwise.name)
        } has the exponential input gate, which always normalizes`,
      );
    }
    // Fail at construction, not at the first backward after a forward.
    if (mode === "train") backwardOf(chunkwise);
    this.config = Object.freeze({
      chunkwiseKernel: chunkwise.name,
      sequenceKernel: sequence.name,
      stepKernel: step.name,
      chunkSize,
      returnLastStates,
      mode,
      autocastDtype,
      eps,
      normalize,
    });
    this.#kernels = Object.freeze({ chunkwise, sequence, step });
  }

  /** The states carried to the next inference call (undefined before the first one). */
  get state(): MlstmStates | undefined {
    return this.#state;
  }

  /** Which kernel the last forward call went to. */
  get lastRoute(): BackendRoute | undefined {
    return this.#lastRoute;
  }

  /** Forgets the carried states (start a new sequence). */
  resetState(): void {
    this.#state = undefined;
  }

  /**
   * The kernel a call of length S goes to in the current mode (the same for both input gates).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MlstmBackend } from "../mod.ts";
   * const backend = new MlstmBackend({ mode: "inference", chunkSize: 32 });
   * assert.equal(backend.route(1).kernel.name, "step--fused");
   * assert.equal(backend.route(31).route, "sequence");
   * assert.equal(backend.route(32).route, "chunkwise");
   * ```
   *
   * @param S Sequence length.
   * @returns The route and the kernel.
   */
  route(S: number): { route: BackendRoute; kernel: MlstmKernel } {
    let route: BackendRoute = "chunkwise";
    if (this.config.mode === "inference") {
      if (S === 1) route = "step";
      else if (S < this.config.chunkSize) route = "sequence";
    }
    return { route, kernel: this.#kernels[route] };
  }

  // Forward and backward both take their options from here, so a backward pass sees the chunk
  // size, eps, normalize and dtype of the forward pass it differentiates.
  #options(returnLastStates: boolean): MlstmOptions {
    return {
      chunkSize: this.config.chunkSize,
      eps: this.config.eps,
      normalize: this.config.normalize,
      returnLastStates,
      dtype: this.config.autocastDtype,
    };
  }

  /**
   * Runs the forward pass. In "inference" mode, inputs without initial states continue from the
   * carried states, and the last states are kept for the next call and returned.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MlstmBackend, Random, randomMlstmInputs } from "../mod.ts";
   * const backend = new MlstmBackend({ chunkwiseKernel: "reference--chunkwise", chunkSize: 4 });
   * const x = randomMlstmInputs({ B: 1, NH: 1, S: 6, DQK: 4, DHV: 4 }, new Random(0));
   * const { h, last } = await backend.forward(x);
   * assert.deepEqual([h.shape, last?.c.shape], [[1, 1, 6, 4], [1, 1, 4, 4]]);
   * ```
   *
   * @example Packed documents: the same h as one call per document
   * ```ts
   * import assert from "node:assert/strict";
   * import { MlstmBackend, Random, randomMlstmInputs, type Tensor } from "../mod.ts";
   * const backend = new MlstmBackend({ chunkwiseKernel: "reference--chunkwise", chunkSize: 4 });
   * const x = randomMlstmInputs({ B: 1, NH: 1, S: 6, DQK: 4, DHV: 4 }, new Random(0));
   * const packed = await backend.forward(x, { documentStarts: [[2]] });
   * const cut = (t: Tensor, a: number, b: number, d: number): Tensor => ({
   *   shape: [1, 1, b - a, ...t.shape.slice(3)], data: t.data.slice(a * d, b * d),
   * });
   * const second = await backend.forward({
   *   q: cut(x.q, 2, 6, 4), k: cut(x.k, 2, 6, 4), v: cut(x.v, 2, 6, 4),
   *   i: cut(x.i, 2, 6, 1), f: cut(x.f, 2, 6, 1),
   * });
   * const [a, b] = [packed.h as Tensor, second.h as Tensor];
   * assert.ok(Math.abs(a.data[8]! - b.data[0]!) < 1e-12);
   * ```
   *
   * @param inputs q, k, v, i, f and optional initial states.
   * @param call Per-call options: `documentStarts` (relative to this call).
   * @returns h, and the last states (always in "inference", per config in "train").
   * @throws {TypeError | RangeError} On bad inputs or call options.
   */
  async forward(inputs: MlstmInputs, call?: MlstmBackendCallOptions): Promise<MlstmForwardResult> {
    const extra = callOptions(call);
    const dims = validateMlstmInputs(inputs, extra);
    const inference = this.config.mode === "inference";
    let x = inputs;
    if (inference && !dims.hasInitialStates && this.#state !== undefined) {
      x = {
        ...inputs,
        cInitial: this.#state.c,
        nInitial: this.#state.n,
        mInitial: this.#state.m,
      };
    }
    const { route, kernel } = this.route(dims.S);
    this.#lastRoute = route;
    const out = await kernel.forward(x, {
      ...this.#options(inference || this.config.returnLastStates),
      ...extra,
    });
    if (inference) this.#state = out.last;
    return out;
  }

  /**
   * Runs the backward pass of the chunkwise kernel ("train" mode), with the options of the forward
   * pass (chunkSize, eps, normalize, autocastDtype: both read the same frozen config) and the
   * exact gradient. Pass the inputs of the forward call, initial states included.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MlstmBackend, Random, randomMlstmInputs } from "../mod.ts";
   * const backend = new MlstmBackend({ chunkwiseKernel: "reference--chunkwise", chunkSize: 4 });
   * const x = randomMlstmInputs({ B: 1, NH: 1, S: 6, DQK: 4, DHV: 4 }, new Random(0));
   * const { h } = await backend.forward(x);
   * const g = await backend.backward(x, h);
   * assert.deepEqual(g.dv.shape, [1, 1, 6, 4]);
   * ```
   *
   * @param inputs The inputs of the forward pass.
   * @param dh Gradient of the loss with respect to h.
   * @param call Per-call options: the forward's `documentStarts`.
   * @returns The gradients.
   * @throws {TypeError} If the mode is "inference" (or the chunkwise kernel has no backward pass,
   *   which the constructor already rejects in "train" mode).
   */
  backward(
    inputs: MlstmInputs,
    dh: TensorLike,
    call?: MlstmBackendCallOptions,
  ): Promise<MlstmGradients> {
    if (this.config.mode !== "train") {
      throw new TypeError('Backward needs mode "train"; this backend is in "inference" mode');
    }
    const extra = callOptions(call);
    return backwardOf(this.#kernels.chunkwise)(inputs, dh, { ...this.#options(false), ...extra });
  }
}
