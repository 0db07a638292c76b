/**
 * The configuration of xLSTM Large (the xLSTM 7B architecture): sizes, norms, caps and token ids,
 * parsed from a Hugging Face `config.json` (transformers' `xLSTMConfig` keys; the xlstm package's
 * `xLSTMLargeConfig` keys are the same where they overlap) and validated field by field.
 *
 * @module
 */

/** How the checkpoint stores the mLSTM layer's projections. */
export type XlstmWeightMode = "single" | "fused";

/** A validated xLSTM Large configuration with every derived size. */
export interface XlstmLargeConfig {
  /** Vocabulary size V. */
  readonly vocabSize: number;
  /** Model width D (`hidden_size` / `embedding_dim`). */
  readonly embeddingDim: number;
  /** Number of blocks N (`num_hidden_layers` / `num_blocks`). */
  readonly numBlocks: number;
  /** Number of heads NH. */
  readonly numHeads: number;
  /** Total query/key width NH·DQK. */
  readonly qkDim: number;
  /** Total value width NH·DHV. */
  readonly vDim: number;
  /** Query/key head size DQK = qkDim / NH. */
  readonly qkHeadDim: number;
  /** Value head size DHV = vDim / NH. */
  readonly vHeadDim: number;
  /** Width of the SwiGLU feed-forward: round_up(D·ffn_proj_factor, ffn_round_up_to_multiple_of). */
  readonly ffnDim: number;
  /** eps of the RMSNorms and the per-head LayerNorm. */
  readonly normEps: number;
  /** eps of the mLSTM cell's normalizer. */
  readonly eps: number;
  /** Soft cap of the input and forget gate pre-activations (0: none). */
  readonly gateSoftCap: number;
  /** Soft cap of the logits (0: none). */
  readonly outputLogitSoftCap: number;
  /** Linear and norm biases (false for the 7B). */
  readonly useBias: boolean;
  /** RMSNorm before the lm head. */
  readonly addOutNorm: boolean;
  /** lm head shares the embedding table. */
  readonly tieWordEmbeddings: boolean;
  /** Chunk size of the chunkwise kernel used for prefill. */
  readonly chunkSize: number;
  /** Layout of the checkpoint's mLSTM projections. */
  readonly weightMode: XlstmWeightMode;
  /** Beginning-of-sequence token id (null: none). */
  readonly bosTokenId: number | null;
  /** End-of-sequence token ids (empty: none). */
  readonly eosTokenIds: readonly number[];
  /** Padding token id (null: none). */
  readonly padTokenId: number | null;
  /** Whether prompts should start with the BOS token (the 7B model card asks for it). */
  readonly forceBosTokenInsert: boolean;
  /** The factors the sizes came from (kept for writing config.json back). */
  readonly qkDimFactor: number;
  /** See {@linkcode XlstmLargeConfig.qkDimFactor}. */
  readonly vDimFactor: number;
  /** See {@linkcode XlstmLargeConfig.ffnDim}. */
  readonly ffnProjFactor: number;
  /** See {@linkcode XlstmLargeConfig.ffnDim}. */
  readonly ffnRoundUpToMultipleOf: number;
}

/** The sizes and options {@linkcode createXlstmLargeConfig} accepts; all but four have defaults. */
export interface XlstmLargeConfigOptions {
  /** V. */
  vocabSize: number;
  /** D. */
  embeddingDim: number;
  /** N. */
  numBlocks: number;
  /** NH. */
  numHeads: number;
  /** qk width; default round_up(D·qkDimFactor, 64) as transformers computes it. */
  qkDim?: number;
  /** v width; default round_up(D·vDimFactor, 64). */
  vDim?: number;
  /** qk width factor (qk_dim_factor). @default {0.5} */
  qkDimFactor?: number;
  /** v width factor (v_dim_factor). @default {1.0} */
  vDimFactor?: number;
  /** FFN width factor (ffn_proj_factor). @default {2.667} (transformers' default; the xlstm package's is 2.6667) */
  ffnProjFactor?: number;
  /** The FFN width is rounded up to a multiple of this. @default {64} */
  ffnRoundUpToMultipleOf?: number;
  /** FFN width; default round_up(D·ffnProjFactor, ffnRoundUpToMultipleOf). */
  ffnDim?: number;
  /** eps of the norms (norm_eps). @default {1e-6} */
  normEps?: number;
  /** eps of the cell (eps). @default {1e-6} */
  eps?: number;
  /** Gate soft cap; 0 turns it off. @default {15} */
  gateSoftCap?: number;
  /** Logit soft cap; 0 turns it off. @default {30} */
  outputLogitSoftCap?: number;
  /** Linear and norm biases. @default {false} */
  useBias?: boolean;
  /** RMSNorm before the lm head. @default {true} */
  addOutNorm?: boolean;
  /** lm head tied to the embedding. @default {false} */
  tieWordEmbeddings?: boolean;
  /** Chunk size of the chunkwise prefill. @default {64} */
  chunkSize?: number;
  /** Checkpoint layout of the projections. @default {"single"} */
  weightMode?: XlstmWeightMode;
  /** BOS token id. @default {0} */
  bosTokenId?: number | null;
  /** EOS token ids. @default {[2]} */
  eosTokenIds?: readonly number[];
  /** Padding token id. @default {1} */
  padTokenId?: number | null;
  /** Prompts start with BOS. @default {true} */
  forceBosTokenInsert?: boolean;
}

/**
 * Rounds x up to the next multiple of m, as `int(((x + m - 1) // m) · m)` in Python.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roundUpToMultiple } from "./config.ts";
 * assert.equal(roundUpToMultiple(4096 * 2.667, 64), 10944);
 * ```
 *
 * @param x The value (may be fractional).
 * @param m The multiple, a positive integer.
 * @returns The smallest multiple of m that is ≥ x (for x ≥ 0).
 */
export function roundUpToMultiple(x: number, m: number): number {
  return Math.floor((x + m - 1) / m) * m;
}

/** Error in a configuration: names the source and the key. */
export class XlstmConfigError extends Error {
  /**
   * Creates the error.
   *
   * @param source The file (or "config") the value came from.
   * @param key The key.
   * @param message What is wrong and what was expected.
   */
  constructor(source: string, key: string, message: string) {
    super(`${source}: "${key}" ${message}`);
    this.name = "XlstmConfigError";
  }
}

function posInt(source: string, key: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new XlstmConfigError(source, key, `must be a positive integer, received ${fmt(v)}`);
  }
  return v;
}

function posNum(source: string, key: string, v: unknown, allowZero = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new XlstmConfigError(
      source,
      key,
      `must be a finite number ${allowZero ? "≥ 0" : "> 0"}, received ${fmt(v)}`,
    );
  }
  return v;
}

function bool(source: string, key: string, v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new XlstmConfigError(source, key, `must be true or false, received ${fmt(v)}`);
  }
  return v;
}

function tokenId(source: string, key: string, v: unknown, V: number): number | null {
  if (v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= V) {
    throw new XlstmConfigError(
      source,
      key,
      `must be null or an integer token id in [0, ${V}), received ${fmt(v)}`,
    );
  }
  return v;
}

function fmt(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}

/**
 * Builds and validates a configuration from sizes and options, filling the defaults of
 * transformers' `xLSTMConfig` and deriving DQK, DHV and the FFN width.
 *
 * @example A small model
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 97, embeddingDim: 128, numBlocks: 2, numHeads: 2 });
 * assert.deepEqual([c.qkHeadDim, c.vHeadDim, c.ffnDim], [32, 64, 384]);
 * ```
 *
 * @param options Sizes and options.
 * @param source Names the origin in error messages. @default {"config"}
 * @returns The validated configuration.
 * @throws {XlstmConfigError} Naming the source and the key of the first bad value.
 */
export function createXlstmLargeConfig(
  options: XlstmLargeConfigOptions,
  source = "config",
): XlstmLargeConfig {
  const o = options;
  const vocabSize = posInt(source, "vocab_size", o.vocabSize);
  const D = posInt(source, "hidden_size", o.embeddingDim);
  const numBlocks = posInt(source, "num_blocks", o.numBlocks);
  const NH = posInt(source, "num_heads", o.numHeads);
  const qkDimFactor = posNum(source, "qk_dim_factor", o.qkDimFactor ?? 0.5);
  const vDimFactor = posNum(source, "v_dim_factor", o.vDimFactor ?? 1.0);
  const ffnProjFactor = posNum(source, "ffn_proj_factor", o.ffnProjFactor ?? 2.667);
  const ffnRound = posInt(source, "ffn_round_up_to_multiple_of", o.ffnRoundUpToMultipleOf ?? 64);
  const qkDim = posInt(source, "qk_dim", o.qkDim ?? roundUpToMultiple(D * qkDimFactor, 64));
  const vDim = posInt(source, "v_dim", o.vDim ?? roundUpToMultiple(D * vDimFactor, 64));
  const ffnDim = posInt(
    source,
    "ffn_dim",
    o.ffnDim ?? roundUpToMultiple(D * ffnProjFactor, ffnRound),
  );
  if (qkDim % NH !== 0) {
    throw new XlstmConfigError(source, "qk_dim", `(${qkDim}) must be divisible by num_heads ${NH}`);
  }
  if (vDim % NH !== 0) {
    throw new XlstmConfigError(source, "v_dim", `(${vDim}) must be divisible by num_heads ${NH}`);
  }
  const weightMode = o.weightMode ?? "single";
  if (weightMode !== "single" && weightMode !== "fused") {
    throw new XlstmConfigError(
      source,
      "weight_mode",
      `must be "single" or "fused", received ${fmt(weightMode)}`,
    );
  }
  const eos = o.eosTokenIds ?? [2];
  const eosTokenIds = eos.map((e, j) => tokenId(source, `eos_token_id[${j}]`, e, vocabSize)!);
  if (eosTokenIds.some((e) => e === null)) {
    throw new XlstmConfigError(source, "eos_token_id", "must not hold null");
  }
  return {
    vocabSize,
    embeddingDim: D,
    numBlocks,
    numHeads: NH,
    qkDim,
    vDim,
    qkHeadDim: qkDim / NH,
    vHeadDim: vDim / NH,
    ffnDim,
    normEps: posNum(source, "norm_eps", o.normEps ?? 1e-6, true),
    eps: posNum(source, "eps", o.eps ?? 1e-6, true),
    gateSoftCap: posNum(source, "gate_soft_cap", o.gateSoftCap ?? 15, true),
    outputLogitSoftCap: posNum(source, "output_logit_soft_cap", o.outputLogitSoftCap ?? 30, true),
    useBias: bool(source, "use_bias", o.useBias ?? false),
    addOutNorm: bool(source, "add_out_norm", o.addOutNorm ?? true),
    tieWordEmbeddings: bool(source, "tie_word_embeddings", o.tieWordEmbeddings ?? false),
    chunkSize: posInt(source, "chunk_size", o.chunkSize ?? 64),
    weightMode,
    bosTokenId: tokenId(
      source,
      "bos_token_id",
      o.bosTokenId === undefined ? 0 : o.bosTokenId,
      vocabSize,
    ),
    eosTokenIds,
    padTokenId: tokenId(
      source,
      "pad_token_id",
      o.padTokenId === undefined ? 1 : o.padTokenId,
      vocabSize,
    ),
    forceBosTokenInsert: bool(source, "force_bos_token_insert", o.forceBosTokenInsert ?? true),
    qkDimFactor,
    vDimFactor,
    ffnProjFactor,
    ffnRoundUpToMultipleOf: ffnRound,
  };
}

/**
 * Parses a Hugging Face `config.json` of an xLSTM model (already parsed from JSON) into a
 * validated {@linkcode XlstmLargeConfig}. `hidden_size` or `embedding_dim` (equal when both are
 * given), `num_hidden_layers` or `num_blocks`, `num_heads` and `vocab_size` are required; every
 * other key takes transformers' default. qk and v widths follow transformers' rounding (up to a
 * multiple of 64); the weights' shapes decide in the end (see `weights.ts`). A `head_dim` key,
 * when present, must equal v_dim / num_heads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseXlstmLargeConfig } from "./config.ts";
 * const c = parseXlstmLargeConfig({ vocab_size: 50304, hidden_size: 4096, num_hidden_layers: 32, num_heads: 8 });
 * assert.equal(c.ffnDim, 10944);
 * assert.throws(() => parseXlstmLargeConfig({ vocab_size: 5 }, "m/config.json"), /m\/config.json: "hidden_size"/);
 * ```
 *
 * @param json The parsed JSON object.
 * @param source The file name, used in error messages. @default {"config.json"}
 * @returns The configuration.
 * @throws {XlstmConfigError} Naming the file and the key of the first missing or bad value.
 */
export function parseXlstmLargeConfig(json: unknown, source = "config.json"): XlstmLargeConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new XlstmConfigError(source, "(root)", `must be a JSON object, received ${fmt(json)}`);
  }
  const j = json as Record<string, unknown>;
  const pick = (a: string, b: string): unknown => {
    const va = j[a], vb = j[b];
    if (va !== undefined && va !== null && vb !== undefined && vb !== null && va !== vb) {
      throw new XlstmConfigError(source, b, `(${fmt(vb)}) disagrees with "${a}" (${fmt(va)})`);
    }
    return va ?? vb ?? undefined;
  };
  const D = pick("hidden_size", "embedding_dim");
  if (D === undefined) throw new XlstmConfigError(source, "hidden_size", "is missing");
  const N = pick("num_hidden_layers", "num_blocks");
  if (N === undefined) throw new XlstmConfigError(source, "num_hidden_layers", "is missing");
  for (const k of ["vocab_size", "num_heads"]) {
    if (j[k] === undefined) throw new XlstmConfigError(source, k, "is missing");
  }
  const num = (k: string) => (j[k] === undefined ? undefined : (j[k] as number));
  const boolOf = (k: string) => (j[k] === undefined ? undefined : (j[k] as boolean));
  let eos: readonly number[] | undefined;
  const e = j["eos_token_id"];
  if (e === null) eos = [];
  else if (Array.isArray(e)) eos = e as number[];
  else if (e !== undefined) eos = [e as number];
  const weightMode = j["weight_mode"] as XlstmWeightMode | undefined;
  const config = createXlstmLargeConfig({
    vocabSize: j["vocab_size"] as number,
    embeddingDim: D as number,
    numBlocks: N as number,
    numHeads: j["num_heads"] as number,
    qkDimFactor: num("qk_dim_factor"),
    vDimFactor: num("v_dim_factor"),
    ffnProjFactor: num("ffn_proj_factor"),
    ffnRoundUpToMultipleOf: num("ffn_round_up_to_multiple_of"),
    normEps: num("norm_eps"),
    eps: num("eps"),
    gateSoftCap: j["gate_soft_cap"] === null ? 0 : num("gate_soft_cap"),
    outputLogitSoftCap: j["output_logit_soft_cap"] === null ? 0 : num("output_logit_soft_cap"),
    useBias: boolOf("use_bias"),
    addOutNorm: boolOf("add_out_norm"),
    tieWordEmbeddings: boolOf("tie_word_embeddings"),
    chunkSize: num("chunk_size"),
    weightMode,
    bosTokenId: j["bos_token_id"] as number | null | undefined,
    eosTokenIds: eos,
    padTokenId: j["pad_token_id"] as number | null | undefined,
    forceBosTokenInsert: boolOf("force_bos_token_insert"),
  } as XlstmLargeConfigOptions, source);
  const headDim = j["head_dim"];
  if (headDim !== undefined && headDim !== null && headDim !== config.vHeadDim) {
    throw new XlstmConfigError(
      source,
      "head_dim",
      `(${fmt(headDim)}) must equal v_dim / num_heads = ${config.vHeadDim}`,
    );
  }
  return config;
}

/**
 * The configuration as transformers' `config.json` keys (for writing checkpoints).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XLSTM_7B_CONFIG, parseXlstmLargeConfig, xlstmLargeConfigToJson } from "./config.ts";
 * assert.deepEqual(parseXlstmLargeConfig(xlstmLargeConfigToJson(XLSTM_7B_CONFIG)), XLSTM_7B_CONFIG);
 * ```
 *
 * @param c The configuration.
 * @returns A JSON-ready object.
 */
export function xlstmLargeConfigToJson(c: XlstmLargeConfig): Record<string, unknown> {
  return {
    architectures: ["xLSTMForCausalLM"],
    model_type: "xlstm",
    vocab_size: c.vocabSize,
    hidden_size: c.embeddingDim,
    embedding_dim: c.embeddingDim,
    num_hidden_layers: c.numBlocks,
    num_blocks: c.numBlocks,
    num_heads: c.numHeads,
    qk_dim_factor: c.qkDimFactor,
    v_dim_factor: c.vDimFactor,
    ffn_proj_factor: c.ffnProjFactor,
    ffn_round_up_to_multiple_of: c.ffnRoundUpToMultipleOf,
    norm_eps: c.normEps,
    eps: c.eps,
    gate_soft_cap: c.gateSoftCap,
    output_logit_soft_cap: c.outputLogitSoftCap,
    use_bias: c.useBias,
    add_out_norm: c.addOutNorm,
    tie_word_embeddings: c.tieWordEmbeddings,
    chunk_size: c.chunkSize,
    weight_mode: c.weightMode,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : [...c.eosTokenIds],
    pad_token_id: c.padTokenId,
    force_bos_token_insert: c.forceBosTokenInsert,
  };
}

/**
 * The xLSTM 7B shape (NX-AI/xLSTM-7b): D 4096, NH 8, 32 blocks, V 50304, DQK 256, DHV 512,
 * FFN 10944, caps 15 and 30, BOS 0 inserted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XLSTM_7B_CONFIG } from "./config.ts";
 * assert.deepEqual([XLSTM_7B_CONFIG.qkHeadDim, XLSTM_7B_CONFIG.vHeadDim, XLSTM_7B_CONFIG.ffnDim], [256, 512, 10944]);
 * ```
 */
export const XLSTM_7B_CONFIG: XlstmLargeConfig = createXlstmLargeConfig({
  vocabSize: 50304,
  embeddingDim: 4096,
  numBlocks: 32,
  numHeads: 8,
  qkDimFactor: 0.5,
  vDimFactor: 1.0,
  ffnProjFactor: 2.667,
  bosTokenId: 0,
  eosTokenIds: [2],
  padTokenId: 1,
  forceBosTokenInsert: true,
}, "XLSTM_7B_CONFIG");
