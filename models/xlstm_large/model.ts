/**
 * `XlstmLarge`: the xLSTM Large language model (the xLSTM 7B architecture) loaded from a Hugging
 * Face checkpoint folder or made with random weights, on the WebGPU backend or the float64 CPU
 * reference, with a stateful forward pass.
 *
 * @module
 */

import { formatShape, type Tensor } from "../../core/tensor.ts";
import type { TensorLike } from "../../core/types.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { validateTokenIds } from "../../reference/layers.ts";
import {
  createXlstmLargeConfig,
  parseXlstmLargeConfig,
  type XlstmLargeConfig,
  type XlstmLargeConfigOptions,
} from "./config.ts";
import {
  getXlstmLargeBackend,
  registerXlstmLargeBackend,
  type XlstmLargeDtype,
  type XlstmLargeImpl,
  type XlstmLargeState,
  type XlstmLargeWeight,
} from "./_impl.ts";
import { referenceBackend } from "./reference.ts";
import { stepFits, webgpuXlstmLargeBackend } from "./webgpu.ts";
import {
  generateByForward,
  type GenerateOptions,
  type GenerateResult,
  generateWebgpu,
} from "./generate.ts";
import type { XlstmLargeWebgpu } from "./webgpu.ts";
import { hashRandomXlstmLargeWeights } from "./random_init.ts";
import { planXlstmLargeWeights, streamXlstmLargeWeights } from "./weights.ts";

registerXlstmLargeBackend(referenceBackend);
registerXlstmLargeBackend(webgpuXlstmLargeBackend);

/** Options of {@linkcode XlstmLarge.fromPretrained} and {@linkcode XlstmLarge.fromWeights}. */
export interface XlstmLargeLoadOptions {
  /** "webgpu" (the GPU forward) or "reference" (the float64 CPU model). @default {"webgpu"} */
  backend?: string;
  /** Storage dtype of weights and activations on the backend. @default {"f32"} */
  dtype?: XlstmLargeDtype;
}

/** Options of {@linkcode XlstmLarge.random}. */
export interface XlstmLargeRandomOptions extends XlstmLargeLoadOptions {
  /** Seed of the random weights. @default {0} */
  seed?: number;
}

/** Options of {@linkcode XlstmLarge.forward}. */
export interface XlstmLargeForwardOptions {
  /** The state returned by an earlier forward (one {c, n, m} per block); zeros when omitted. */
  state?: XlstmLargeState;
}

/** What {@linkcode XlstmLarge.forward} resolves to. */
export interface XlstmLargeOutput<T = Tensor> {
  /** Soft-capped logits (B, S, V). */
  logits: T;
  /** The state after each row's last token: pass it to the next forward to continue. */
  state: XlstmLargeState;
}

function checkDtype(dtype: unknown): XlstmLargeDtype {
  if (dtype !== "f32" && dtype !== "f16") {
    throw new RangeError(`Option dtype must be "f32" or "f16", received ${JSON.stringify(dtype)}`);
  }
  return dtype;
}

/**
 * Checks a model state against a configuration and a batch size: one entry per block with
 * C (B, NH, DQK, DHV), n (B, NH, DQK), m (B, NH) or (B, NH, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { validateXlstmLargeState } from "./model.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 5, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const z = (...s: number[]) => ({ shape: s, data: new Float64Array(s.reduce((a, b) => a * b, 1)) });
 * validateXlstmLargeState(c, [{ c: z(1, 2, 32, 32), n: z(1, 2, 32), m: z(1, 2) }], 1);
 * assert.throws(() => validateXlstmLargeState(c, [{ c: z(1, 2, 32, 32), n: z(1, 2, 32), m: z(1, 2) }], 2), /state\[0\]\.c/);
 * ```
 *
 * @param c The configuration.
 * @param state The state.
 * @param B The batch size of the ids.
 * @throws {RangeError} Naming the first bad entry and the expected shape.
 */
export function validateXlstmLargeState(
  c: XlstmLargeConfig,
  state: XlstmLargeState,
  B: number,
): void {
  if (!Array.isArray(state) || state.length !== c.numBlocks) {
    throw new RangeError(
      `Option state must be an array of ${c.numBlocks} block states {c, n, m}, received ${
        Array.isArray(state) ? `${state.length} entries` : typeof state
      }`,
    );
  }
  const NH = c.numHeads, DQK = c.qkHeadDim, DHV = c.vHeadDim;
  state.forEach((s, j) => {
    const check = (t: TensorLike | undefined, name: string, shapes: number[][], text: string) => {
      const shape = t?.shape;
      if (
        !shape ||
        !shapes.some((e) => e.length === shape.length && e.every((d, k) => d === shape[k]))
      ) {
        throw new RangeError(
          `Option state[${j}].${name} must have shape ${text} = ${
            formatShape(shapes[0])
          }, received ${shape ? formatShape(shape) : String(t)}`,
        );
      }
    };
    check(s?.c, "c", [[B, NH, DQK, DHV]], "(B, NH, DQK, DHV)");
    check(s?.n, "n", [[B, NH, DQK]], "(B, NH, DQK)");
    check(s?.m, "m", [[B, NH], [B, NH, 1]], "(B, NH)");
  });
}

/**
 * The xLSTM Large language model. Construct it with {@linkcode XlstmLarge.fromPretrained},
 * {@linkcode XlstmLarge.random} or {@linkcode XlstmLarge.fromWeights}; run it with
 * {@linkcode XlstmLarge.forward}; free it with {@linkcode XlstmLarge.destroy}.
 *
 * @example A random model on the float64 reference, prompt in two pieces
 * ```ts
 * import assert from "node:assert/strict";
 * import { XlstmLarge } from "./model.ts";
 * const model = await XlstmLarge.random(
 *   { vocabSize: 11, embeddingDim: 64, numBlocks: 2, numHeads: 2 },
 *   { seed: 1, backend: "reference" },
 * );
 * const whole = await model.forward([[0, 5, 7, 3]]);
 * const a = await model.forward([[0, 5]]);
 * const b = await model.forward([[7, 3]], { state: a.state });
 * assert.deepEqual(whole.logits.shape, [1, 4, 11]);
 * assert.ok(Math.abs(whole.logits.data[3 * 11] - b.logits.data[11]) < 1e-12);
 * model.destroy();
 * ```
 */
export class XlstmLarge {
  /** The configuration (qk/v sizes as the weights have them). */
  readonly config: XlstmLargeConfig;
  /** The backend's name. */
  readonly backend: string;
  /** Storage dtype. */
  readonly dtype: XlstmLargeDtype;
  #impl: XlstmLargeImpl | undefined;

  private constructor(impl: XlstmLargeImpl, backend: string) {
    this.#impl = impl;
    this.config = impl.config;
    this.backend = backend;
    this.dtype = impl.dtype;
  }

  /**
   * Loads a checkpoint folder in the Hugging Face layout: `config.json` plus `model.safetensors`
   * or `model.safetensors.index.json` and shards (the xlstm package's names and fused weights are
   * accepted too). The configuration and every tensor's name and shape are validated before
   * anything is read; then the tensors stream one at a time from disk to the backend.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createXlstmLargeConfig } from "./config.ts";
   * import { XlstmLarge } from "./model.ts";
   * import { writeXlstmLargeCheckpoint } from "./checkpoint.ts";
   * const dir = await Deno.makeTempDir();
   * const c = createXlstmLargeConfig({ vocabSize: 9, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
   * await writeXlstmLargeCheckpoint(dir, c, { seed: 3 });
   * const model = await XlstmLarge.fromPretrained(dir, { backend: "reference" });
   * assert.deepEqual((await model.forward([[1, 2]])).logits.shape, [1, 2, 9]);
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param dir The folder (or a single `.safetensors` file with a `config.json` beside it).
   * @param options backend ("webgpu") and dtype ("f32").
   * @returns The model.
   * @throws {XlstmConfigError | XlstmWeightsError | SafetensorsError} Naming the file and the key or
   * tensor; nothing is loaded half-way.
   */
  static async fromPretrained(
    dir: string,
    options: XlstmLargeLoadOptions = {},
  ): Promise<XlstmLarge> {
    const dtype = checkDtype(options.dtype ?? "f32");
    const backend = getXlstmLargeBackend(options.backend ?? "webgpu");
    // File access is Deno-only; imported on demand so the rest of the library runs in browsers
    // (the browser bundle leaves io/safetensors.ts out: `deno task bundle` marks it external).
    if (typeof Deno === "undefined") {
      throw new Error(
        "XlstmLarge.fromPretrained reads files through Deno; in a browser use XlstmLarge.random or XlstmLarge.fromWeights",
      );
    }
    const io = await import("../../io/safetensors.ts");
    const isFile = dir.endsWith(".safetensors");
    const folder = isFile ? dir.slice(0, Math.max(0, dir.lastIndexOf("/"))) || "." : dir;
    const configPath = io.joinPath(folder, "config.json");
    const config = parseXlstmLargeConfig(await io.readJsonFile(configPath), configPath);
    const ckpt = await io.SafetensorsCheckpoint.open(dir);
    try {
      const plan = planXlstmLargeWeights(config, ckpt, dir);
      const impl = await backend.fromWeights(
        plan.config,
        streamXlstmLargeWeights(plan, ckpt, dtype),
        { dtype },
      );
      return new XlstmLarge(impl, backend.name);
    } finally {
      ckpt.close();
    }
  }

  /**
   * A model with random weights of any shape (the 7B included). Every backend gets the same
   * weights for the same seed: the WebGPU backend generates them on the GPU with a counter-based
   * hash, and the others stream in `hashRandomXlstmLargeWeights(config, seed)`, the CPU twin of
   * that generator (bit-identical), so a seed names one model whatever runs it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmLarge } from "./model.ts";
   * const m = await XlstmLarge.random({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 }, { backend: "reference" });
   * assert.equal(m.config.ffnDim, 192);
   * ```
   *
   * @param config A configuration or the options to build one.
   * @param options seed (0), backend ("webgpu"), dtype ("f32").
   * @returns The model.
   */
  static async random(
    config: XlstmLargeConfig | XlstmLargeConfigOptions,
    options: XlstmLargeRandomOptions = {},
  ): Promise<XlstmLarge> {
    const c = "qkHeadDim" in config ? config : createXlstmLargeConfig(config);
    const dtype = checkDtype(options.dtype ?? "f32");
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) {
      throw new RangeError(`Option seed must be an integer, received ${seed}`);
    }
    const backend = getXlstmLargeBackend(options.backend ?? "webgpu");
    const impl = backend.random
      ? await backend.random(c, { dtype, seed })
      : await backend.fromWeights(c, hashRandomXlstmLargeWeights(c, seed, dtype), { dtype });
    return new XlstmLarge(impl, backend.name);
  }

  /**
   * A model from canonical weights streamed one at a time (e.g. the same random weights on two
   * backends, or weights converted in memory).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createXlstmLargeConfig } from "./config.ts";
   * import { XlstmLarge } from "./model.ts";
   * import { randomXlstmLargeWeights } from "./weights.ts";
   * const c = createXlstmLargeConfig({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 });
   * const m = await XlstmLarge.fromWeights(c, randomXlstmLargeWeights(c, 5), { backend: "reference" });
   * assert.equal(m.backend, "reference");
   * ```
   *
   * @param config The configuration.
   * @param weights The canonical weights (see `_impl.ts`).
   * @param options backend ("webgpu") and dtype ("f32").
   * @returns The model.
   */
  static async fromWeights(
    config: XlstmLargeConfig,
    weights: AsyncIterable<XlstmLargeWeight>,
    options: XlstmLargeLoadOptions = {},
  ): Promise<XlstmLarge> {
    const dtype = checkDtype(options.dtype ?? "f32");
    const backend = getXlstmLargeBackend(options.backend ?? "webgpu");
    return new XlstmLarge(await backend.fromWeights(config, weights, { dtype }), backend.name);
  }

  #implOrThrow(): XlstmLargeImpl {
    if (!this.#impl) throw new Error("This XlstmLarge model was destroyed");
    return this.#impl;
  }

  #validate(ids: readonly (readonly number[])[], options: XlstmLargeForwardOptions): void {
    const { B } = validateTokenIds(ids, this.config.vocabSize);
    if (options.state !== undefined) validateXlstmLargeState(this.config, options.state, B);
  }

  /**
   * Runs token ids through the model from a state (zeros by default) and resolves to the logits
   * (read back to the CPU) and the state after the last token. A sequence gives the same logits
   * whole or in pieces with the state carried.
   *
   * @example See the class example.
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmLarge } from "./model.ts";
   * const m = await XlstmLarge.random({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 }, { backend: "reference" });
   * await assert.rejects(m.forward([[7]]), /ids\[0\]\[0\] must be an integer token id in \[0, 7\)/);
   * ```
   *
   * @param ids B rows of S ≥ 1 token ids in [0, V), all rows the same length.
   * @param options The state to continue from.
   * @returns Logits (B, S, V) and the new state.
   * @throws {RangeError} On bad ids or a state of the wrong shape (before any work).
   */
  async forward(
    ids: readonly (readonly number[])[],
    options: XlstmLargeForwardOptions = {},
  ): Promise<XlstmLargeOutput<Tensor>> {
    const r = await this.forwardOnDevice(ids, options);
    return { logits: isCpuTensor(r.logits) ? r.logits : await r.logits.read(), state: r.state };
  }

  /**
   * Like {@linkcode XlstmLarge.forward} but leaves the logits where the backend computed them (a
   * GPU tensor on the WebGPU backend, so sampling can stay on the device).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmLarge } from "./model.ts";
   * const m = await XlstmLarge.random({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 }, { backend: "reference" });
   * const { logits } = await m.forwardOnDevice([[1]]);
   * assert.deepEqual(logits.shape, [1, 1, 7]);
   * ```
   *
   * @param ids Token ids (B, S).
   * @param options The state to continue from.
   * @returns Logits (B, S, V) as a tensor-like and the new state.
   */
  async forwardOnDevice(
    ids: readonly (readonly number[])[],
    options: XlstmLargeForwardOptions = {},
  ): Promise<XlstmLargeOutput<TensorLike>> {
    const impl = this.#implOrThrow();
    this.#validate(ids, options);
    return await impl.forward(ids, options.state);
  }

  /**
   * Generates up to `maxNewTokens` new tokens per sequence after the prompt `ids` (B rows of equal
   * length, B ≤ 16 on WebGPU), greedily or by sampling, stopping each sequence at EOS (the config's
   * `eosTokenIds` unless `options.eos` says otherwise). On the WebGPU backend everything stays on
   * the GPU: the prompt runs through the forward, then blocks of decoding steps per submit with the
   * tokens chosen on the GPU and read back in blocks for `onTokens` (models/xlstm_large/generate.ts).
   * Other backends run one forward per token with the same choice rule on the CPU.
   *
   * @example Greedy generation on the float64 model
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmLarge } from "./model.ts";
   * const m = await XlstmLarge.random(
   *   { vocabSize: 40, embeddingDim: 16, numBlocks: 1, numHeads: 2 },
   *   { backend: "reference", seed: 3 },
   * );
   * const { tokens } = await m.generate([[1, 2, 3]], { maxNewTokens: 3, eos: [] });
   * assert.equal(tokens[0]!.length, 3);
   * ```
   *
   * @param ids Prompt token ids (B rows of S ≥ 1).
   * @param options maxNewTokens, sampling ("greedy"), state, onTokens, eos, stepsPerSubmit.
   * @returns The new tokens per sequence, the state after them, and the host timing.
   * @throws {RangeError | TypeError} On bad ids or options (naming them), before anything runs.
   */
  async generate(
    ids: readonly (readonly number[])[],
    options: GenerateOptions,
  ): Promise<GenerateResult> {
    const impl = this.#implOrThrow();
    this.#validate(ids, options.state ? { state: options.state } : {});
    if (typeof options !== "object" || options === null) {
      throw new TypeError("Argument options must be an object with maxNewTokens");
    }
    // The GPU-resident loop needs the step kernel's storage buffers; adapters that offer fewer
    // (browsers often allow 8 to 10) generate through the forward, one token at a time.
    if ("deviceWeights" in impl && stepFits((impl as XlstmLargeWebgpu).gpu)) {
      return await generateWebgpu(impl as XlstmLargeWebgpu, ids, options);
    }
    return await generateByForward(impl, ids, options);
  }

  /** Frees the backend's resources (GPU buffers); the model cannot be used afterwards. */
  destroy(): void {
    this.#impl?.destroy();
    this.#impl = undefined;
  }
}
