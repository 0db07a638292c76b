/**
 * The backend module, like `mlstm_kernels`' `mLSTMBackend`: one object that picks the kernel for
 * each call. In "train" mode every call goes to the chunkwise kernel; in "inference" mode a
 * length-1 input goes to the step kernel, a short one (S < chunkSize) to the sequence kernel and a
 * long one to the chunkwise kernel, and the last states are carried from call to call.
 *
 * @module
 */

import { getMlstmKernel } from "../core/registry.ts";
import type {
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  MlstmStates,
  TensorLike,
} from "../core/types.ts";
import { validateMlstmInputs } from "../core/validate.ts";

/** Configuration of an {@linkcode MlstmBackend}. */
export interface MlstmBackendConfig {
  /** Kernel for training and for long inference inputs. @default {"chunkwise--xl_chunk"} */
  chunkwiseKernel?: string;
  /** Kernel for short inference inputs (S < chunkSize). @default {"recurrent--sequence"} */
  sequenceKernel?: string;
  /** Kernel for inference inputs of length 1. @default {"step--fused"} */
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

/** Which kernel a call went to and why: `"step"`, `"sequence"` or `"chunkwise"`. */
export type BackendRoute = "step" | "sequence" | "chunkwise";

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
  /** The configuration with defaults filled in. */
  readonly config: Readonly<Required<MlstmBackendConfig>>;
  #state: MlstmStates | undefined;
  #lastRoute: BackendRoute | undefined;

  /**
   * Creates a backend; kernel names are checked against the registry at once.
   *
   * @param config Kernels, chunk size, mode and dtype.
   * @throws {RangeError} For an unknown kernel name (listing the available ones).
   */
  constructor(config: MlstmBackendConfig = {}) {
    this.config = {
      chunkwiseKernel: "chunkwise--xl_chunk",
      sequenceKernel: "recurrent--sequence",
      stepKernel: "step--fused",
      chunkSize: 64,
      returnLastStates: true,
      mode: "train",
      autocastDtype: "f32",
      eps: 1e-6,
      normalize: true,
      ...config,
    };
    const chunkwise = getMlstmKernel(this.config.chunkwiseKernel);
    if (!chunkwise.supportsStates) {
      throw new TypeError(
        `Kernel ${chunkwise.name} takes no states; the backend needs a chunkwise kernel with states`,
      );
    }
    if (this.config.mode === "inference") {
      getMlstmKernel(this.config.sequenceKernel);
      getMlstmKernel(this.config.stepKernel);
    }
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
   * The kernel a call of length S goes to in the current mode.
   *
   * @param S Sequence length.
   * @returns The route and the kernel.
   */
  route(S: number): { route: BackendRoute; kernel: MlstmKernel } {
    const chunkwise = getMlstmKernel(this.config.chunkwiseKernel);
    // The sigmoid-gate family has no step or sequence kernels: its chunkwise kernel takes any S.
    if (this.config.mode === "train" || chunkwise.inputGate === "sig") {
      return { route: "chunkwise", kernel: chunkwise };
    }
    if (S === 1) return { route: "step", kernel: getMlstmKernel(this.config.stepKernel) };
    if (S < this.config.chunkSize) {
      return { route: "sequence", kernel: getMlstmKernel(this.config.sequenceKernel) };
    }
    return { route: "chunkwise", kernel: chunkwise };
  }

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
   * @param inputs q, k, v, i, f and optional initial states.
   * @returns h, and the last states (always in "inference", per config in "train").
   */
  async forward(inputs: MlstmInputs): Promise<MlstmForwardResult> {
    const dims = validateMlstmInputs(inputs);
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
    const out = await kernel.forward(x, this.#options(inference || this.config.returnLastStates));
    if (inference) this.#state = out.last;
    return out;
  }

  /**
   * Runs the backward pass of the chunkwise kernel ("train" mode).
   *
   * @param inputs The inputs of the forward pass.
   * @param dh Gradient of the loss with respect to h.
   * @returns The gradients.
   * @throws {TypeError} If the chunkwise kernel has no backward pass or the mode is "inference".
   */
  backward(inputs: MlstmInputs, dh: TensorLike): Promise<MlstmGradients> {
    if (this.config.mode !== "train") {
      throw new TypeError('Backward needs mode "train"; this backend is in "inference" mode');
    }
    const kernel = getMlstmKernel(this.config.chunkwiseKernel);
    if (kernel.backward === undefined) {
      throw new TypeError(`Kernel ${kernel.name} has no backward pass`);
    }
    return kernel.backward(inputs, dh, this.#options(false));
  }
}
