/**
 * The tokenizer of an xLSTM Large checkpoint folder: its `tokenizer.json` (Hugging Face format) run
 * by the pure-JavaScript `@huggingface/tokenizers` library, with BOS prepended when the folder's
 * `config.json` says `force_bos_token_insert` (as the xLSTM 7B's does), and a streaming decoder that
 * turns token ids into text piece by piece (holding back an incomplete UTF-8 character).
 *
 * This module imports an npm package, so it is a separate entry point (`@mlstm/webgpu/tokenizer`)
 * and stays out of `mod.ts`'s import graph: the library itself imports nothing from registries.
 *
 * @module
 */

import { Tokenizer } from "npm:@huggingface/tokenizers@0.2.0";

/** The special-token settings taken from the folder's `config.json` (all optional there). */
export interface TokenizerSpecials {
  /** Prepend BOS to every encoded text (`force_bos_token_insert`). */
  forceBos: boolean;
  /** The BOS id (`bos_token_id`), if any. */
  bosTokenId: number | undefined;
  /** The EOS id (`eos_token_id`), if any. */
  eosTokenId: number | undefined;
}

/** Thrown for a tokenizer file that cannot be used: names the file and the entry. */
export class TokenizerFileError extends Error {
  /**
   * Creates the error.
   *
   * @param file The file's path.
   * @param entry The JSON entry at fault (e.g. `model.merges`), or `""` for the whole file.
   * @param problem What is wrong.
   */
  constructor(readonly file: string, readonly entry: string, problem: string) {
    super(`Bad tokenizer file ${file}${entry ? `, entry "${entry}"` : ""}: ${problem}`);
    this.name = "TokenizerFileError";
  }
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json =>
  typeof x === "object" && x !== null && !Array.isArray(x);

function readJson(path: string, required: boolean): Json | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (!required && e instanceof Deno.errors.NotFound) return undefined;
    throw new TokenizerFileError(path, "", `cannot be read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerFileError(path, "", `is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) throw new TokenizerFileError(path, "", "must hold a JSON object");
  return json;
}

/** Checks the entries the library reads without checking, so that errors name them. */
function checkTokenizerJson(path: string, j: Json): void {
  // The library reads these entries without checking them (null is allowed where it says so).
  for (const key of ["normalizer", "pre_tokenizer", "post_processor", "decoder"]) {
    if (!(key in j)) throw new TokenizerFileError(path, key, "is missing (null if unused)");
  }
  if (!Array.isArray(j.added_tokens)) {
    throw new TokenizerFileError(path, "added_tokens", "must be an array (empty if unused)");
  }
  const model = j.model;
  if (!isObject(model)) throw new TokenizerFileError(path, "model", "must be an object");
  const types = ["BPE", "WordPiece", "WordLevel", "Unigram"];
  if (typeof model.type !== "string" || !types.includes(model.type)) {
    throw new TokenizerFileError(
      path,
      "model.type",
      `must be one of ${types.join(", ")}, is ${JSON.stringify(model.type)}`,
    );
  }
  if (model.type === "BPE" || model.type === "WordLevel" || model.type === "WordPiece") {
    if (!isObject(model.vocab)) {
      throw new TokenizerFileError(path, "model.vocab", "must be an object of token → id");
    }
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) {
        throw new TokenizerFileError(
          path,
          `model.vocab.${tok}`,
          `must be a non-negative integer id, is ${JSON.stringify(id)}`,
        );
      }
    }
  }
  if (model.type === "BPE" && !Array.isArray(model.merges)) {
    throw new TokenizerFileError(path, "model.merges", "must be an array of merges");
  }
  {
    (j.added_tokens as unknown[]).forEach((t, k) => {
      if (!isObject(t) || !Number.isInteger(t.id) || typeof t.content !== "string") {
        throw new TokenizerFileError(
          path,
          `added_tokens[${k}]`,
          "must be an object with an integer id and a string content",
        );
      }
    });
  }
}

function specialsOf(configPath: string, config: Json | undefined): TokenizerSpecials {
  const id = (name: string): number | undefined => {
    let v = config?.[name];
    // eos_token_id may list several ids (the first is the one to report).
    if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0)) v = v[0];
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0) {
      throw new TokenizerFileError(configPath, name, `must be a token id, is ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const force = config?.force_bos_token_insert;
  if (force !== undefined && typeof force !== "boolean") {
    throw new TokenizerFileError(configPath, "force_bos_token_insert", "must be true or false");
  }
  const s = {
    forceBos: force === true,
    bosTokenId: id("bos_token_id"),
    eosTokenId: id("eos_token_id"),
  };
  if (s.forceBos && s.bosTokenId === undefined) {
    throw new TokenizerFileError(
      configPath,
      "bos_token_id",
      "is needed when force_bos_token_insert is true",
    );
  }
  return s;
}

/**
 * A checkpoint folder's tokenizer: `encode` (BOS prepended when the config forces it), `decode`,
 * and a streaming decoder.
 *
 * @example A word-level tokenizer that forces BOS (a checkpoint folder: `XlstmTokenizer.fromFolder(dir)`)
 * ```ts
 * import assert from "node:assert/strict";
 * import { XlstmTokenizer } from "./tokenizer.ts";
 * const model = { type: "WordLevel", vocab: { "<bos>": 0, "<unk>": 1, hello: 2, world: 3 }, unk_token: "<unk>" };
 * const added_tokens = [{ id: 0, content: "<bos>", special: true }];
 * const decoder = { type: "WordPiece", prefix: "##", cleanup: true };
 * const pre_tokenizer = { type: "Whitespace" };
 * const json = { normalizer: null, post_processor: null, pre_tokenizer, decoder, added_tokens, model };
 * const tok = new XlstmTokenizer(json, { forceBos: true, bosTokenId: 0 });
 * assert.deepEqual(tok.encode("hello world"), [0, 2, 3]);
 * assert.equal(tok.decode([0, 2, 3], { skipSpecialTokens: true }), "hello world");
 * ```
 */
export class XlstmTokenizer {
  readonly #tokenizer: Tokenizer;
  /** The special-token settings from the folder's config.json. */
  readonly specials: TokenizerSpecials;
  /** Where the tokenizer came from (for messages). */
  readonly source: string;

  /**
   * Wraps parsed `tokenizer.json` content (prefer {@linkcode XlstmTokenizer.fromFolder}).
   *
   * @param tokenizerJson The parsed tokenizer.json.
   * @param specials BOS/EOS settings.
   * @param options `tokenizerConfig`: parsed tokenizer_config.json; `source`: the file, for messages.
   * @throws {TokenizerFileError} If an entry is missing or malformed, or the library rejects the file.
   */
  constructor(
    tokenizerJson: Json,
    specials: Partial<TokenizerSpecials> = {},
    options: { tokenizerConfig?: Json; source?: string } = {},
  ) {
    this.source = options.source ?? "tokenizer.json";
    checkTokenizerJson(this.source, tokenizerJson);
    try {
      this.#tokenizer = new Tokenizer(tokenizerJson, options.tokenizerConfig ?? {});
    } catch (e) {
      throw new TokenizerFileError(
        this.source,
        "",
        `is rejected by the tokenizer (${(e as Error).message})`,
      );
    }
    this.specials = {
      forceBos: specials.forceBos ?? false,
      bosTokenId: specials.bosTokenId,
      eosTokenId: specials.eosTokenId,
    };
  }

  /**
   * Loads `<dir>/tokenizer.json`, with `tokenizer_config.json` and the special tokens of
   * `config.json` when present.
   *
   * @example A folder holding tokenizer.json and config.json
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmTokenizer } from "./tokenizer.ts";
   * const dir = Deno.makeTempDirSync();
   * const model = { type: "WordLevel", vocab: { "<bos>": 0, "<unk>": 1, hi: 2 }, unk_token: "<unk>" };
   * const json = {
   *   normalizer: null,
   *   post_processor: null,
   *   pre_tokenizer: { type: "Whitespace" },
   *   decoder: { type: "WordPiece", prefix: "##", cleanup: true },
   *   added_tokens: [],
   *   model,
   * };
   * Deno.writeTextFileSync(`${dir}/tokenizer.json`, JSON.stringify(json));
   * Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify({ force_bos_token_insert: true, bos_token_id: 0 }));
   * assert.deepEqual(XlstmTokenizer.fromFolder(dir).encode("hi"), [0, 2]);
   * Deno.removeSync(dir, { recursive: true });
   * ```
   *
   * @param dir The checkpoint folder.
   * @returns The tokenizer.
   * @throws {TokenizerFileError} Naming the file and entry when a file is missing, unreadable or malformed.
   */
  static fromFolder(dir: string): XlstmTokenizer {
    dir = dir.replace(/(.)\/+$/, "$1");
    const path = `${dir}/tokenizer.json`;
    const json = readJson(path, true)!;
    const configPath = `${dir}/config.json`;
    const specials = specialsOf(configPath, readJson(configPath, false));
    const tc = readJson(`${dir}/tokenizer_config.json`, false);
    return new XlstmTokenizer(json, specials, {
      source: path,
      ...(tc ? { tokenizerConfig: tc } : {}),
    });
  }

  /** The BOS id from config.json, if any. */
  get bosTokenId(): number | undefined {
    return this.specials.bosTokenId;
  }

  /** The EOS id from config.json, if any. */
  get eosTokenId(): number | undefined {
    return this.specials.eosTokenId;
  }

  /**
   * Token ids of a text; BOS first when the config forces it (and the tokenizer did not add it).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmTokenizer } from "./tokenizer.ts";
   * const model = { type: "WordLevel", vocab: { "<bos>": 0, "<unk>": 1, hello: 2, world: 3 }, unk_token: "<unk>" };
   * const added_tokens = [{ id: 0, content: "<bos>", special: true }];
   * const decoder = { type: "WordPiece", prefix: "##", cleanup: true };
   * const pre_tokenizer = { type: "Whitespace" };
   * const json = { normalizer: null, post_processor: null, pre_tokenizer, decoder, added_tokens, model };
   * const tok = new XlstmTokenizer(json, { forceBos: true, bosTokenId: 0 });
   * assert.deepEqual(tok.encode("hello world"), [0, 2, 3]);
   * ```
   *
   * @param text The text.
   * @returns The ids.
   */
  encode(text: string): number[] {
    const ids = [...this.#tokenizer.encode(text).ids];
    const bos = this.specials.bosTokenId;
    if (this.specials.forceBos && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
    return ids;
  }

  /**
   * Text of token ids.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmTokenizer } from "./tokenizer.ts";
   * const model = { type: "WordLevel", vocab: { "<bos>": 0, "<unk>": 1, hello: 2, world: 3 }, unk_token: "<unk>" };
   * const added_tokens = [{ id: 0, content: "<bos>", special: true }];
   * const decoder = { type: "WordPiece", prefix: "##", cleanup: true };
   * const pre_tokenizer = { type: "Whitespace" };
   * const json = { normalizer: null, post_processor: null, pre_tokenizer, decoder, added_tokens, model };
   * const tok = new XlstmTokenizer(json, { forceBos: true, bosTokenId: 0 });
   * assert.equal(tok.decode([0, 2, 3], { skipSpecialTokens: true }), "hello world");
   * ```
   *
   * @param ids The ids.
   * @param options `skipSpecialTokens`: leave out BOS, EOS and other special tokens. @default {false}
   * @returns The text.
   */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.#tokenizer.decode([...ids], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /**
   * A streaming decoder: feed it the new ids of one sequence as they come, get the new text.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { XlstmTokenizer } from "./tokenizer.ts";
   * const model = { type: "WordLevel", vocab: { "<bos>": 0, "<unk>": 1, hello: 2, world: 3 }, unk_token: "<unk>" };
   * const added_tokens = [{ id: 0, content: "<bos>", special: true }];
   * const decoder = { type: "WordPiece", prefix: "##", cleanup: true };
   * const pre_tokenizer = { type: "Whitespace" };
   * const json = { normalizer: null, post_processor: null, pre_tokenizer, decoder, added_tokens, model };
   * const tok = new XlstmTokenizer(json, { forceBos: true, bosTokenId: 0 });
   * const stream = tok.streamDecoder();
   * assert.deepEqual([stream.push([2]), stream.push([3])], ["hello", " world"]);
   * ```
   *
   * @returns The decoder (special tokens are skipped).
   */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder(this);
  }
}

/**
 * Decodes a growing list of ids into text deltas. Each `push` decodes the ids since the last
 * emitted piece and returns what is new, holding back text that ends in an incomplete UTF-8
 * character (shown as U+FFFD until its last byte arrives).
 */
export class StreamDecoder {
  readonly #tok: XlstmTokenizer;
  #ids: number[] = [];
  #emitted = "";

  /**
   * Creates a decoder.
   *
   * @param tok The tokenizer.
   */
  constructor(tok: XlstmTokenizer) {
    this.#tok = tok;
  }

  /**
   * Adds ids; returns the text that became complete.
   *
   * @param ids New ids.
   * @returns New text (may be empty).
   */
  push(ids: readonly number[]): string {
    this.#ids.push(...ids);
    const text = this.#tok.decode(this.#ids, { skipSpecialTokens: true });
    if (text.endsWith("\uFFFD")) return "";
    const delta = text.startsWith(this.#emitted) ? text.slice(this.#emitted.length) : text;
    this.#emitted = text;
    // Keep the decoded window short: restart after a whitespace boundary.
    if (this.#ids.length > 64 && /\s$/.test(text)) {
      this.#ids = [];
      this.#emitted = "";
    }
    return delta;
  }
}
