/**
 * The weight names of xLSTM Large and their mapping from the two checkpoint layouts:
 *
 * - the Hugging Face hub layout written by transformers' `xLSTMForCausalLM`
 *   (`backbone.embeddings.weight`, `backbone.blocks.{i}.mlstm_layer.q.weight`, …, `lm_head.weight`;
 *   older transformers wrote `query`/`key`/`value` instead of `q`/`k`/`v`: accepted too);
 * - the xlstm package's `xLSTMLarge` (`embedding.weight` at the top), in `weight_mode` "single"
 *   or "fused" (`mlstm_layer.qkv_opreact` = [q | k | v | o] rows, `mlstm_layer.ifgate_preact` =
 *   [i | f] rows, `ffn.proj_up_gate_z` = [gate | up] rows).
 *
 * {@linkcode planXlstmLargeWeights} checks a checkpoint's tensor list against the configuration
 * before anything is read (every missing, extra or misshapen tensor named with its file) and
 * takes qk_dim / v_dim from the shapes; {@linkcode streamXlstmLargeWeights} then yields the
 * canonical tensors one at a time in the storage dtype asked for (fused tensors split by rows).
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { hashUniform } from "../../core/hash_random.ts";
import { toF16Bits } from "../../io/dtype.ts";
import type { StorageDtype } from "../../io/safetensors_format.ts";
import { roundUpToMultiple, XlstmConfigError, type XlstmLargeConfig } from "./config.ts";
import type { XlstmLargeWeight } from "./_impl.ts";

/** A canonical weight: its name and shape. */
export interface XlstmLargeWeightSpec {
  /** Canonical (hub layout) name. */
  readonly name: string;
  /** Shape. */
  readonly shape: readonly number[];
}

/**
 * The name prefix of block i's tensors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blockPrefix } from "./weights.ts";
 * assert.equal(blockPrefix(3) + "norm_ffn.weight", "backbone.blocks.3.norm_ffn.weight");
 * ```
 *
 * @param i The block index.
 * @returns `backbone.blocks.{i}.`
 */
export function blockPrefix(i: number): string {
  return `backbone.blocks.${i}.`;
}

/**
 * Every canonical weight of a configuration, in load order: embedding, blocks 0..N-1, out norm,
 * lm head (see the table in `_impl.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XLSTM_7B_CONFIG } from "./config.ts";
 * import { xlstmLargeWeightSpecs } from "./weights.ts";
 * const specs = xlstmLargeWeightSpecs(XLSTM_7B_CONFIG);
 * const params = specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
 * assert.equal(params, 6_865_424_896); // the hub checkpoint's total_size / 4
 * ```
 *
 * @param c The configuration.
 * @returns The names and shapes.
 */
export function xlstmLargeWeightSpecs(c: XlstmLargeConfig): XlstmLargeWeightSpec[] {
  const D = c.embeddingDim, NH = c.numHeads;
  const out: XlstmLargeWeightSpec[] = [{
    name: "backbone.embeddings.weight",
    shape: [c.vocabSize, D],
  }];
  const lin = (name: string, o: number, i: number) => {
    out.push({ name: `${name}.weight`, shape: [o, i] });
    if (c.useBias) out.push({ name: `${name}.bias`, shape: [o] });
  };
  const norm = (name: string, n: number) => {
    out.push({ name: `${name}.weight`, shape: [n] });
    if (c.useBias) out.push({ name: `${name}.bias`, shape: [n] });
  };
  for (let b = 0; b < c.numBlocks; b++) {
    const p = blockPrefix(b);
    norm(`${p}norm_mlstm`, D);
    lin(`${p}mlstm_layer.q`, c.qkDim, D);
    lin(`${p}mlstm_layer.k`, c.qkDim, D);
    lin(`${p}mlstm_layer.v`, c.vDim, D);
    lin(`${p}mlstm_layer.ogate_preact`, c.vDim, D);
    out.push({ name: `${p}mlstm_layer.igate_preact.weight`, shape: [NH, D] });
    out.push({ name: `${p}mlstm_layer.igate_preact.bias`, shape: [NH] });
    out.push({ name: `${p}mlstm_layer.fgate_preact.weight`, shape: [NH, D] });
    out.push({ name: `${p}mlstm_layer.fgate_preact.bias`, shape: [NH] });
    norm(`${p}mlstm_layer.multihead_norm`, c.vDim);
    lin(`${p}mlstm_layer.out_proj`, D, c.vDim);
    norm(`${p}norm_ffn`, D);
    lin(`${p}ffn.proj_up_gate`, c.ffnDim, D);
    lin(`${p}ffn.proj_up`, c.ffnDim, D);
    lin(`${p}ffn.proj_down`, D, c.ffnDim);
  }
  if (c.addOutNorm) out.push({ name: "backbone.out_norm.weight", shape: [D] });
  out.push({ name: "lm_head.weight", shape: [c.vocabSize, D] });
  return out;
}

/** What the planner needs of a checkpoint: tensor names, their shapes and files, and reads. */
export interface TensorSource {
  /** Every tensor name. */
  names(): string[];
  /** A tensor's shape and the file that holds it. */
  entry(name: string): { readonly shape: readonly number[]; readonly file: string };
  /** Reads a tensor in a storage dtype. */
  read(name: string, dtype: StorageDtype): Promise<Float32Array | Uint16Array>;
}

/** Where a canonical weight comes from: rows [rowStart, rowStart + rows) of a source tensor. */
export interface WeightSource {
  /** The checkpoint tensor. */
  readonly tensor: string;
  /** First row (dimension 0) taken. */
  readonly rowStart: number;
  /** The canonical spec it produces. */
  readonly spec: XlstmLargeWeightSpec;
}

/** The result of {@linkcode planXlstmLargeWeights}. */
export interface XlstmLargeWeightPlan {
  /** The configuration with qk_dim / v_dim as the tensors have them. */
  readonly config: XlstmLargeConfig;
  /** "hub" (transformers) or "xlstm" (the xlstm package's names). */
  readonly layout: "hub" | "xlstm";
  /** Fused projections found. */
  readonly weightMode: "single" | "fused";
  /** One source per canonical weight, in load order. */
  readonly sources: readonly WeightSource[];
}

/** A checkpoint that disagrees with its configuration: names the file and the tensor. */
export class XlstmWeightsError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, with file and tensor.
   */
  constructor(message: string) {
    super(message);
    this.name = "XlstmWeightsError";
  }
}

const ALIASES: [RegExp, string][] = [
  [/\.mlstm_layer\.query\./, ".mlstm_layer.q."],
  [/\.mlstm_layer\.key\./, ".mlstm_layer.k."],
  [/\.mlstm_layer\.value\./, ".mlstm_layer.v."],
];

/**
 * Maps a checkpoint's tensors to the canonical weights and checks everything against the
 * configuration before any tensor is read: the embedding's (V, D) and the number of blocks must
 * match config.json; qk_dim and v_dim are taken from the q and v (or fused) weights and must be
 * one of the two conventions (transformers rounds D·factor up to a multiple of 64, the xlstm
 * package truncates it); the gates' rows give NH; then every canonical weight must be present with
 * its exact shape and no checkpoint tensor may be left over.
 *
 * @example A missing tensor is named with its file
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { planXlstmLargeWeights, xlstmLargeWeightSpecs } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 11, embeddingDim: 64, numBlocks: 1, numHeads: 2 });
 * const specs = new Map(xlstmLargeWeightSpecs(c).map((s) => [s.name, s.shape]));
 * const source = (drop?: string) => ({
 *   names: () => [...specs.keys()].filter((n) => n !== drop),
 *   entry: (n: string) => ({ shape: specs.get(n)!, file: "m.safetensors" }),
 *   read: () => Promise.reject(new Error("not read")),
 * });
 * assert.equal(planXlstmLargeWeights(c, source()).sources.length, specs.size);
 * assert.throws(() => planXlstmLargeWeights(c, source("lm_head.weight")), /missing tensor "lm_head.weight"/);
 * ```
 *
 * @param config The configuration from config.json.
 * @param source The checkpoint (e.g. a `SafetensorsCheckpoint`).
 * @param sourceName Names the checkpoint in messages. @default {"checkpoint"}
 * @returns The plan.
 * @throws {XlstmWeightsError} Listing the missing, extra and misshapen tensors with their files.
 */
export function planXlstmLargeWeights(
  config: XlstmLargeConfig,
  source: TensorSource,
  sourceName = "checkpoint",
): XlstmLargeWeightPlan {
  const names = source.names();
  const layout: "hub" | "xlstm" = names.includes("embedding.weight") ? "xlstm" : "hub";
  // canonical (alias-free, hub-prefixed) name → checkpoint name
  const canon = new Map<string, string>();
  for (const n of names) {
    let c = n === "embedding.weight" ? "backbone.embeddings.weight" : n;
    for (const [re, to] of ALIASES) c = c.replace(re, to);
    if (canon.has(c)) {
      throw new XlstmWeightsError(
        `${sourceName}: tensors "${canon.get(c)}" and "${n}" are the same weight under two names (${
          source.entry(n).file
        })`,
      );
    }
    canon.set(c, n);
  }
  const shapeOf = (c: string) => source.entry(canon.get(c)!).shape;
  const fileOf = (c: string) => source.entry(canon.get(c)!).file;
  const need = (c: string, what: string) => {
    if (!canon.has(c)) {
      throw new XlstmWeightsError(`${sourceName}: missing tensor "${c}" (${what})`);
    }
    return shapeOf(c);
  };
  const cfgErr = (key: string, msg: string) => new XlstmConfigError(sourceName, key, msg);

  // Sizes from the shapes, checked against config.json.
  const emb = need("backbone.embeddings.weight", "the token embedding");
  if (emb.length !== 2 || emb[0] !== config.vocabSize || emb[1] !== config.embeddingDim) {
    throw new XlstmWeightsError(
      `${fileOf("backbone.embeddings.weight")}: tensor "${
        canon.get("backbone.embeddings.weight")
      }" has shape ${
        formatShape(emb)
      } but config.json says (vocab_size ${config.vocabSize}, hidden_size ${config.embeddingDim})`,
    );
  }
  let nBlocks = 0;
  for (const c of canon.keys()) {
    const m = /^backbone\.blocks\.(\d+)\./.exec(c);
    if (m) nBlocks = Math.max(nBlocks, Number(m[1]) + 1);
  }
  if (nBlocks !== config.numBlocks) {
    throw new XlstmWeightsError(
      `${sourceName}: holds ${nBlocks} blocks (backbone.blocks.0 … ${
        nBlocks - 1
      }) but config.json says num_blocks ${config.numBlocks}`,
    );
  }
  const p0 = blockPrefix(0) + "mlstm_layer.";
  const fused = canon.has(p0 + "qkv_opreact.weight");
  const D = config.embeddingDim;
  let qkDim: number, NH: number;
  const vShape = fused
    ? need(p0 + "out_proj.weight", "block 0's out_proj")
    : need(p0 + "v.weight", "block 0's value projection");
  const vDim = fused ? vShape[1] : vShape[0];
  if (fused) {
    const f = need(p0 + "qkv_opreact.weight", "block 0's fused q|k|v|o projection");
    qkDim = (f[0] - 2 * vDim) / 2;
    NH = need(p0 + "ifgate_preact.weight", "block 0's fused gates")[0] / 2;
  } else {
    qkDim = need(p0 + "q.weight", "block 0's query projection")[0];
    NH = need(p0 + "igate_preact.weight", "block 0's input gate")[0];
  }
  if (NH !== config.numHeads) {
    throw cfgErr(
      "num_heads",
      `is ${config.numHeads} but the gate weights have ${NH} rows per gate`,
    );
  }
  const allowed = (f: number) => [...new Set([roundUpToMultiple(D * f, 64), Math.floor(D * f)])];
  if (!allowed(config.qkDimFactor).includes(qkDim) || !Number.isInteger(qkDim) || qkDim % NH) {
    throw cfgErr(
      "qk_dim_factor",
      `(${config.qkDimFactor}) gives qk_dim ${
        allowed(config.qkDimFactor).join(" or ")
      } but the query weights have ${qkDim} rows`,
    );
  }
  if (!allowed(config.vDimFactor).includes(vDim) || vDim % NH) {
    throw cfgErr(
      "v_dim_factor",
      `(${config.vDimFactor}) gives v_dim ${
        allowed(config.vDimFactor).join(" or ")
      } but the value weights have ${vDim} rows`,
    );
  }
  const resolved: XlstmLargeConfig = {
    ...config,
    qkDim,
    vDim,
    qkHeadDim: qkDim / NH,
    vHeadDim: vDim / NH,
    weightMode: fused ? "fused" : "single",
  };

  // Sources for every canonical weight.
  const specs = xlstmLargeWeightSpecs(resolved);
  const used = new Set<string>();
  const sources: WeightSource[] = [];
  const problems: string[] = [];
  const tiedCopy = resolved.tieWordEmbeddings && !canon.has("lm_head.weight");
  const fusedOf = (name: string): [string, number, number] | undefined => {
    const m = /^(backbone\.blocks\.\d+\.)(.*)$/.exec(name);
    if (!m) return undefined;
    const [, p, rest] = m;
    const parts: Record<string, [string, number, number]> = {
      "mlstm_layer.q.weight": ["mlstm_layer.qkv_opreact.weight", 0, 2 * qkDim + 2 * vDim],
      "mlstm_layer.k.weight": ["mlstm_layer.qkv_opreact.weight", qkDim, 2 * qkDim + 2 * vDim],
      "mlstm_layer.v.weight": ["mlstm_layer.qkv_opreact.weight", 2 * qkDim, 2 * qkDim + 2 * vDim],
      "mlstm_layer.ogate_preact.weight": [
        "mlstm_layer.qkv_opreact.weight",
        2 * qkDim + vDim,
        2 * qkDim + 2 * vDim,
      ],
      "mlstm_layer.q.bias": ["mlstm_layer.qkv_opreact.bias", 0, 2 * qkDim + 2 * vDim],
      "mlstm_layer.k.bias": ["mlstm_layer.qkv_opreact.bias", qkDim, 2 * qkDim + 2 * vDim],
      "mlstm_layer.v.bias": ["mlstm_layer.qkv_opreact.bias", 2 * qkDim, 2 * qkDim + 2 * vDim],
      "mlstm_layer.ogate_preact.bias": [
        "mlstm_layer.qkv_opreact.bias",
        2 * qkDim + vDim,
        2 * qkDim + 2 * vDim,
      ],
      "mlstm_layer.igate_preact.weight": ["mlstm_layer.ifgate_preact.weight", 0, 2 * NH],
      "mlstm_layer.fgate_preact.weight": ["mlstm_layer.ifgate_preact.weight", NH, 2 * NH],
      "mlstm_layer.igate_preact.bias": ["mlstm_layer.ifgate_preact.bias", 0, 2 * NH],
      "mlstm_layer.fgate_preact.bias": ["mlstm_layer.ifgate_preact.bias", NH, 2 * NH],
      "ffn.proj_up_gate.weight": ["ffn.proj_up_gate_z.weight", 0, 2 * resolved.ffnDim],
      "ffn.proj_up.weight": ["ffn.proj_up_gate_z.weight", resolved.ffnDim, 2 * resolved.ffnDim],
      "ffn.proj_up_gate.bias": ["ffn.proj_up_gate_z.bias", 0, 2 * resolved.ffnDim],
      "ffn.proj_up.bias": ["ffn.proj_up_gate_z.bias", resolved.ffnDim, 2 * resolved.ffnDim],
    };
    const hit = parts[rest];
    return hit ? [p + hit[0], hit[1], hit[2]] : undefined;
  };
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, j) => d === b[j]);
  for (const spec of specs) {
    let c = spec.name;
    if (c === "lm_head.weight" && tiedCopy) c = "backbone.embeddings.weight";
    if (canon.has(c)) {
      const shape = shapeOf(c);
      if (!same(shape, spec.shape)) {
        problems.push(
          `${fileOf(c)}: tensor "${canon.get(c)}" has shape ${formatShape(shape)}, expected ${
            formatShape(spec.shape)
          }`,
        );
      }
      sources.push({ tensor: canon.get(c)!, rowStart: 0, spec });
      used.add(c);
      continue;
    }
    const f = fusedOf(c);
    if (f && canon.has(f[0])) {
      const [fc, rowStart, rows] = f;
      const shape = shapeOf(fc);
      const expect = [rows, ...spec.shape.slice(1)];
      if (!same(shape, expect)) {
        problems.push(
          `${fileOf(fc)}: tensor "${canon.get(fc)}" has shape ${formatShape(shape)}, expected ${
            formatShape(expect)
          }`,
        );
      }
      sources.push({ tensor: canon.get(fc)!, rowStart, spec });
      used.add(fc);
      continue;
    }
    problems.push(
      `${sourceName}: missing tensor "${spec.name}" of shape ${formatShape(spec.shape)}`,
    );
  }
  for (const [c, n] of canon) {
    if (!used.has(c)) {
      problems.push(`${source.entry(n).file}: unexpected tensor "${n}" (not part of the model)`);
    }
  }
  if (problems.length) {
    const more = problems.length > 12 ? `\n… and ${problems.length - 12} more` : "";
    throw new XlstmWeightsError(
      `The checkpoint does not match the configuration:\n${
        problems.slice(0, 12).join("\n")
      }${more}`,
    );
  }
  return { config: resolved, layout, weightMode: fused ? "fused" : "single", sources };
}

/**
 * Streams the canonical weights of a plan one at a time, read from the source in the storage
 * dtype asked for (row slices of fused tensors are copied out; the last two source tensors are
 * cached so a fused tensor is read once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { planXlstmLargeWeights, streamXlstmLargeWeights, xlstmLargeWeightSpecs } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 });
 * const specs = new Map(xlstmLargeWeightSpecs(c).map((s) => [s.name, s.shape]));
 * const size = (n: string) => specs.get(n)!.reduce((a, b) => a * b, 1);
 * const source = {
 *   names: () => [...specs.keys()],
 *   entry: (n: string) => ({ shape: specs.get(n)!, file: "m.safetensors" }),
 *   read: (n: string) => Promise.resolve(new Float32Array(size(n)).fill(1)),
 * };
 * let count = 0;
 * for await (const w of streamXlstmLargeWeights(planXlstmLargeWeights(c, source), source, "f32")) {
 *   assert.equal(w.data.length, size(w.name));
 *   count++;
 * }
 * assert.equal(count, specs.size);
 * ```
 *
 * @param plan From {@linkcode planXlstmLargeWeights}.
 * @param source The same source.
 * @param dtype Storage dtype.
 * @returns The weights in load order.
 */
export async function* streamXlstmLargeWeights(
  plan: XlstmLargeWeightPlan,
  source: TensorSource,
  dtype: StorageDtype,
): AsyncGenerator<XlstmLargeWeight> {
  const cache: [string, Float32Array | Uint16Array][] = [];
  const get = async (name: string) => {
    const hit = cache.find(([n]) => n === name);
    if (hit) return hit[1];
    const data = await source.read(name, dtype);
    cache.push([name, data]);
    if (cache.length > 2) cache.shift();
    return data;
  };
  for (const s of plan.sources) {
    const n = s.spec.shape.reduce((a, b) => a * b, 1);
    const rowSize = s.spec.shape.slice(1).reduce((a, b) => a * b, 1);
    const full = await get(s.tensor);
    const data = full.length === n && s.rowStart === 0
      ? full
      : full.slice(s.rowStart * rowSize, s.rowStart * rowSize + n);
    yield { name: s.spec.name, shape: s.spec.shape, data };
  }
}

const specCache = new WeakMap<XlstmLargeConfig, Map<string, string>>();

/** How {@linkcode randomXlstmLargeWeight} draws a tensor (a scale of the standard normal). */
/** A uniform interval `center ± half`. */
export interface UniformInit {
  /** Center. */
  readonly center: number;
  /** Half-width. */
  readonly half: number;
}

/**
 * The interval of the random init of weight `name` with `shape` (see the module doc).
 *
 * @example
 * ```ts
 * import { xlstmLargeInit } from "./weights.ts";
 * console.assert(xlstmLargeInit("backbone.blocks.0.norm_ffn.weight", [8]).center === 1);
 * ```
 *
 * @param name Canonical name.
 * @param shape Its shape.
 * @returns Center and half-width.
 */
export function xlstmLargeInit(name: string, shape: readonly number[]): UniformInit {
  if (name.endsWith("igate_preact.bias")) return { center: -1, half: 3 };
  if (name.endsWith("fgate_preact.bias")) return { center: 3, half: 2 };
  if (name === "backbone.embeddings.weight") return { center: 0, half: 1 };
  if (/norm[a-z_]*\.weight$/.test(name)) return { center: 1, half: 0.1 };
  if (name.endsWith(".bias")) return { center: 0, half: 0.1 };
  const fanIn = shape[shape.length - 1]!;
  return { center: 0, half: Math.sqrt(3 / fanIn) };
}

/**
 * One random canonical weight, reproducible from (seed, name) alone: uniform on the interval of
 * {@linkcode xlstmLargeInit} (Linear weights of standard deviation 1/√fan_in, norm weights 1 ± 0.1,
 * input-gate biases -4…2 so that some heads run hot and some cold, forget-gate biases 1…5),
 * element j drawn from the counter-based hash of core/hash_random.ts at (seed, name, j) and
 * float32-rounded: the same numbers the WebGPU backend generates on the GPU.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { randomXlstmLargeWeight } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 });
 * const a = randomXlstmLargeWeight(c, { name: "lm_head.weight", shape: [7, 64] }, 3);
 * assert.deepEqual(a, randomXlstmLargeWeight(c, { name: "lm_head.weight", shape: [7, 64] }, 3));
 * ```
 *
 * @param c The configuration.
 * @param spec Name and shape.
 * @param seed The model's seed.
 * @returns Float32 values.
 * @throws {RangeError} If the name and shape are not one of the configuration's weights.
 */
export function randomXlstmLargeWeight(
  c: XlstmLargeConfig,
  spec: XlstmLargeWeightSpec,
  seed: number,
): Float32Array {
  let specs = specCache.get(c);
  if (!specs) {
    specs = new Map(xlstmLargeWeightSpecs(c).map((s) => [s.name, s.shape.join()]));
    specCache.set(c, specs);
  }
  if (specs.get(spec.name) !== spec.shape.join()) {
    throw new RangeError(
      `Weight "${spec.name}" of shape ${formatShape(spec.shape)} is not part of this configuration`,
    );
  }
  const { center, half } = xlstmLargeInit(spec.name, spec.shape);
  const n = spec.shape.reduce((a, b) => a * b, 1);
  return Float32Array.from(hashUniform(seed, spec.name, n, center, half));
}

/**
 * Streams random canonical weights (see {@linkcode randomXlstmLargeWeight}) in load order, in the
 * storage dtype asked for (f16: rounded to nearest even).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createXlstmLargeConfig } from "./config.ts";
 * import { randomXlstmLargeWeights } from "./weights.ts";
 * const c = createXlstmLargeConfig({ vocabSize: 7, embeddingDim: 64, numBlocks: 1, numHeads: 1 });
 * const names = [];
 * for await (const w of randomXlstmLargeWeights(c, 0, "f16")) names.push(w.name);
 * assert.equal(names[0], "backbone.embeddings.weight");
 * ```
 *
 * @param c The configuration.
 * @param seed The seed.
 * @param dtype Storage dtype. @default {"f32"}
 * @returns The weights.
 */
export async function* randomXlstmLargeWeights(
  c: XlstmLargeConfig,
  seed: number,
  dtype: StorageDtype = "f32",
): AsyncGenerator<XlstmLargeWeight> {
  for (const spec of xlstmLargeWeightSpecs(c)) {
    const x = randomXlstmLargeWeight(c, spec, seed);
    yield { name: spec.name, shape: spec.shape, data: dtype === "f32" ? x : toF16Bits(x) };
    await Promise.resolve();
  }
}
