/**
 * Text generation with xLSTM Large, GPU-resident: the prompt goes through the model's forward
 * (chunkwise), then each new token is chosen on the GPU (greedy or sampled, see
 * kernels/layers/sampling.ts) and written into the ids buffer that the next decoding step
 * (models/xlstm_large/decode.ts) gathers its embeddings from. Many steps are encoded per submit and
 * the chosen tokens are copied into small read-back buffers, one per submit, that are mapped while
 * the GPU already runs the next submit (double-buffered read-back): Deno's ~11 ms per GPU await
 * then overlaps with GPU work instead of capping the rate near 90 tokens/s.
 *
 * Sequences stop at an EOS token (their later steps receive EOS and are dropped) or after
 * `maxNewTokens`; generation ends early when every sequence is done.
 *
 * {@linkcode generateByForward} is the same loop for any backend (the float64 reference): one
 * forward per token with the state carried, the choice made on the CPU by the kernels' twins.
 *
 * @module
 */

import { DispatchBatch, GpuTensor } from "../../kernels/runtime.ts";
import {
  createSamplerState,
  encodeSampling,
  type Sampling,
  validateSampling,
} from "../../kernels/layers/sampling.ts";
import { argmaxReference, sampleReference, samplingUniform } from "../../reference/sampling.ts";
import { isCpuTensor } from "../../core/validate.ts";
import type { Tensor } from "../../core/tensor.ts";
import type { XlstmLargeImpl, XlstmLargeState } from "./_impl.ts";
import { XlstmLargeDecoder } from "./decode.ts";
import type { XlstmLargeWebgpu } from "./webgpu.ts";

/** Options of `XlstmLarge.generate`. */
export interface GenerateOptions {
  /** New tokens per sequence at most (≥ 1). */
  maxNewTokens: number;
  /** `"greedy"` or `{ temperature, topK?, topP?, seed }`. @default {"greedy"} */
  sampling?: Sampling;
  /** The state to continue from (e.g. a previous generate's); zeros when undefined. */
  state?: XlstmLargeState;
  /**
   * Called with the new tokens of each sequence as they arrive (blocks of `stepsPerSubmit`; the
   * first call holds the first token alone, the second at most 4), for streaming. Tokens after a
   * sequence's EOS are not passed.
   */
  onTokens?: (tokens: number[][]) => void | Promise<void>;
  /** EOS ids that end a sequence; `[]` for none. @default {the config's eosTokenIds} */
  eos?: readonly number[];
  /** Decoding steps encoded per submit (also the streaming block). @default {32} */
  stepsPerSubmit?: number;
}

/** Timing of one generation (wall clock of the host). */
export interface GenerateTiming {
  /** Prompt tokens per sequence. */
  promptTokens: number;
  /** Milliseconds from the call to the first new token on the host. */
  timeToFirstTokenMs: number;
  /** Milliseconds from the first new token to the last. */
  decodeMs: number;
  /** Decoding steps run after the first token (each makes one token per sequence). */
  decodeSteps: number;
  /** decodeSteps / decode seconds (per sequence; multiply by B for the batch's rate). */
  tokensPerSecond: number;
  /**
   * Host milliseconds spent encoding and submitting (the synchronous work, not the waits), per
   * token step.
   */
  cpuMsPerStep: number;
}

/** What `XlstmLarge.generate` resolves to. */
export interface GenerateResult {
  /** New tokens per sequence, ending at (and including) its EOS where one came. */
  tokens: number[][];
  /** The state after the prompt and every new token (continue a chat from it). */
  state: XlstmLargeState;
  /** Host timing. */
  timing: GenerateTiming;
}

/** Checks the options and returns them with defaults. */
export function resolveGenerateOptions(
  options: GenerateOptions,
  V: number,
  configEos: readonly number[],
): Required<Omit<GenerateOptions, "state" | "onTokens">> {
  const { maxNewTokens } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`Option maxNewTokens must be an integer ≥ 1, received ${maxNewTokens}`);
  }
  const sampling = options.sampling ?? "greedy";
  validateSampling(sampling);
  const eos = [...(options.eos ?? configEos)];
  for (const e of eos) {
    if (!Number.isInteger(e) || e < 0 || e >= V) {
      throw new RangeError(
        `Option eos must hold token ids in [0, ${V}), received ${JSON.stringify(options.eos)}`,
      );
    }
  }
  const stepsPerSubmit = options.stepsPerSubmit ?? 32;
  if (!Number.isInteger(stepsPerSubmit) || stepsPerSubmit < 1) {
    throw new RangeError(
      `Option stepsPerSubmit must be an integer ≥ 1, received ${stepsPerSubmit}`,
    );
  }
  return { maxNewTokens, sampling, eos, stepsPerSubmit };
}

/** Appends the steps of a read-back block to the per-sequence token lists, stopping at EOS. */
function collect(
  rows: Uint32Array,
  B: number,
  eos: readonly number[],
  tokens: number[][],
  done: boolean[],
): number[][] {
  const fresh: number[][] = Array.from({ length: B }, () => []);
  for (let s = 0; s < rows.length / B; s++) {
    for (let b = 0; b < B; b++) {
      if (done[b]) continue;
      const t = rows[s * B + b]!;
      tokens[b]!.push(t);
      fresh[b]!.push(t);
      if (eos.includes(t)) done[b] = true;
    }
  }
  return fresh;
}

/**
 * GPU-resident generation on the WebGPU backend (see the module doc).
 *
 * @example
 * ```ts no-eval
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { webgpuXlstmLargeBackend, type XlstmLargeWebgpu } from "./webgpu.ts";
 * import { generateWebgpu } from "./generate.ts";
 * const config = createXlstmLargeConfig({ vocabSize: 50, embeddingDim: 32, numBlocks: 2, numHeads: 2 });
 * const model = await webgpuXlstmLargeBackend.random!(config, { dtype: "f32", seed: 1 }) as XlstmLargeWebgpu;
 * const { tokens } = await generateWebgpu(model, [[1, 2, 3]], { maxNewTokens: 8 });
 * ```
 *
 * @param model The WebGPU model.
 * @param ids Prompt token ids, B rows of equal length S ≥ 1 (B ≤ 16).
 * @param options See {@linkcode GenerateOptions}.
 * @returns The new tokens, the state and the timing.
 */
export async function generateWebgpu(
  model: XlstmLargeWebgpu,
  ids: readonly (readonly number[])[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const c = model.config, gpu = model.gpu, d = gpu.device;
  const o = resolveGenerateOptions(options, c.vocabSize, c.eosTokenIds);
  const B = ids.length, S = ids[0]?.length ?? 0;
  const t0 = performance.now();
  let cpu = 0;
  const dec = new XlstmLargeDecoder(model, B);
  const sampler = createSamplerState(gpu, B, c.vocabSize, o.maxNewTokens, o.sampling, {
    eos: o.eos,
    ids: dec.ids.buffer,
  });
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const done: boolean[] = new Array(B).fill(false);
  const pending: { staging: GPUBuffer; rows: number; map: Promise<void> }[] = [];
  // Records a copy of history rows [from, from + rows) into a fresh read-back buffer.
  const readBack = (batch: DispatchBatch, from: number, rows: number) => {
    const staging = d.createBuffer({
      label: "generate read-back",
      size: 4 * B * rows,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    batch.copy(sampler.history, 4 * B * from, staging, 0, 4 * B * rows);
    return { staging, rows };
  };
  const drain = async () => {
    const p = pending.shift()!;
    await p.map;
    const rows = new Uint32Array(p.staging.getMappedRange().slice(0));
    p.staging.unmap();
    p.staging.destroy();
    const fresh = collect(rows, B, o.eos, tokens, done);
    if (options.onTokens) await options.onTokens(fresh);
  };
  let tFirst = 0, steps = 1;
  // Blocks of decoding steps after the first token: [first step, steps].
  const blocks: [number, number][] = [];
  // The first block is short: it is encoded before the first token is read, so its encoding
  // delays the time to first token when the prompt is short.
  for (let from = 1; from < o.maxNewTokens;) {
    const K = Math.min(
      from === 1 ? Math.min(4, o.stepsPerSubmit) : o.stepsPerSubmit,
      o.maxNewTokens - from,
    );
    blocks.push([from, K]);
    from += K;
  }
  // Encodes a block into a command buffer (submitted later) with the copy of its tokens.
  const encodeBlock = async ([from, K]: [number, number]) => {
    const c0 = performance.now();
    const batch = new DispatchBatch(gpu);
    for (let k = 0; k < K; k++) {
      await dec.encodeStep(batch);
      await encodeSampling(batch, dec.logits, sampler);
    }
    const rb = readBack(batch, from, K);
    const submit = await batch.prepare();
    cpu += performance.now() - c0;
    return { submit, rb, K };
  };
  const submitBlock = async (blk: { submit: () => Promise<void> }) => {
    const c0 = performance.now();
    const p = blk.submit();
    cpu += performance.now() - c0;
    await p;
  };
  let staged: Awaited<ReturnType<typeof encodeBlock>>[] = [];
  try {
    // Prefill: the prompt through the forward, the first token chosen from its last logits.
    const pre = await model.forwardDevice(ids, {
      ...(options.state ? { state: options.state } : {}),
      lastOnly: true,
    });
    const c0 = performance.now();
    const batch0 = new DispatchBatch(gpu);
    dec.setState(batch0, pre.state);
    const logits0 = new GpuTensor(gpu, [B, c.vocabSize], "f32", pre.logits.buffer);
    await encodeSampling(batch0, logits0, sampler);
    const rb0 = readBack(batch0, 0, 1);
    const submitted0 = batch0.submit();
    cpu += performance.now() - c0;
    await submitted0;
    pre.logits.destroy();
    for (const s of pre.state) for (const t of [s.c, s.n, s.m]) (t as GpuTensor).destroy();
    // Deno's mapAsync blocks until every submitted command buffer has run, and the GPU then idles
    // until the next submit. So the next block is always encoded (prepared) before a read-back is
    // mapped, and submitted right after: the GPU waits only for that submit (~0.2 ms), and the
    // ~10 ms that the map's promise takes to settle overlap with the block that now runs.
    let next = 0;
    if (next < blocks.length) staged.push(await encodeBlock(blocks[next++]!));
    pending.push({ ...rb0, map: rb0.staging.mapAsync(GPUMapMode.READ) });
    if (staged.length) await submitBlock(staged[0]!);
    if (next < blocks.length) staged.push(await encodeBlock(blocks[next++]!));
    await drain();
    tFirst = performance.now();
    // Decoding: staged[0] runs on the GPU, staged[1] (if any) is encoded and waits.
    while (staged.length) {
      const running = staged.shift()!;
      pending.push({ ...running.rb, map: running.rb.staging.mapAsync(GPUMapMode.READ) });
      steps += running.K;
      if (staged.length) {
        await submitBlock(staged[0]!);
        if (next < blocks.length && !done.every(Boolean)) {
          staged.push(await encodeBlock(blocks[next++]!));
        }
      }
      await drain();
      // Once every sequence is done, nothing new is encoded (the one already encoded still runs,
      // so that the decoder's step count matches the GPU's).
    }
    const tEnd = performance.now();
    // Feed the last token too, so that the state covers every new token.
    const last = new DispatchBatch(gpu);
    await dec.encodeStep(last);
    await last.submit();
    const state = await dec.takeState();
    const decodeSteps = steps - 1;
    const decodeMs = tEnd - tFirst;
    return {
      tokens,
      state,
      timing: {
        promptTokens: S,
        timeToFirstTokenMs: tFirst - t0,
        decodeMs,
        decodeSteps,
        tokensPerSecond: decodeSteps > 0 ? decodeSteps / (decodeMs / 1000) : 0,
        cpuMsPerStep: decodeSteps > 0 ? cpu / steps : cpu,
      },
    };
  } finally {
    for (const p of pending) p.staging.destroy();
    for (const blk of staged) blk.rb.staging.destroy();
    staged = [];
    sampler.destroy();
    dec.destroy();
  }
}

/**
 * Generation through any backend's forward, one token per call with the state carried, the choice
 * made on the CPU with the same rule and uniforms as the GPU kernel (reference/sampling.ts). Used
 * for the float64 reference backend.
 *
 * @example
 * ```ts no-eval
 * import { XlstmLarge } from "./model.ts";
 * const model = await XlstmLarge.random({ vocabSize: 50, embeddingDim: 32, numBlocks: 1, numHeads: 2 }, { backend: "reference" });
 * const { tokens } = await model.generate([[1, 2]], { maxNewTokens: 4 });
 * ```
 *
 * @param impl The backend's model.
 * @param ids Prompt token ids (B rows of equal length).
 * @param options See {@linkcode GenerateOptions} (`stepsPerSubmit` is ignored).
 * @returns The new tokens, the state and the timing.
 */
export async function generateByForward(
  impl: XlstmLargeImpl,
  ids: readonly (readonly number[])[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const c = impl.config;
  const o = resolveGenerateOptions(options, c.vocabSize, c.eosTokenIds);
  const B = ids.length, V = c.vocabSize;
  const t0 = performance.now();
  const tokens: number[][] = Array.from({ length: B }, () => []);
  const done: boolean[] = new Array(B).fill(false);
  let state = options.state;
  let input = ids;
  let tFirst = 0;
  for (let step = 0; step < o.maxNewTokens && !done.every(Boolean); step++) {
    const r = await impl.forward(input, state);
    const logits: Tensor = isCpuTensor(r.logits) ? r.logits : await (r.logits as GpuTensor).read();
    state = r.state;
    const S = logits.shape[1]!;
    const chosen = new Uint32Array(B);
    for (let b = 0; b < B; b++) {
      const row = logits.data.subarray((b * S + S - 1) * V, (b * S + S) * V);
      chosen[b] = o.sampling === "greedy"
        ? argmaxReference(row)
        : sampleReference(row, o.sampling, samplingUniform(o.sampling.seed, step, b));
      if (done[b]) chosen[b] = o.eos[0]!;
    }
    const fresh = collect(chosen, B, o.eos, tokens, done);
    if (step === 0) tFirst = performance.now();
    if (options.onTokens) await options.onTokens(fresh);
    input = [...chosen].map((t) => [t]);
  }
  const r = await impl.forward(input, state);
  const tEnd = performance.now();
  const steps = tokens.reduce((m, t) => Math.max(m, t.length), 0);
  return {
    tokens,
    state: r.state,
    timing: {
      promptTokens: ids[0]?.length ?? 0,
      timeToFirstTokenMs: tFirst - t0,
      decodeMs: tEnd - tFirst,
      decodeSteps: steps - 1,
      tokensPerSecond: steps > 1 ? (steps - 1) / ((tEnd - tFirst) / 1000) : 0,
      cpuMsPerStep: (tEnd - t0) / Math.max(1, steps),
    },
  };
}
