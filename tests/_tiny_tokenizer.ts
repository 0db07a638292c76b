// A tiny byte-level BPE tokenizer.json built here (the GPT-2 / GPT-NeoX layout the xLSTM 7B uses):
// ids 0, 1, 2 are the special tokens <bos>, <pad>, <eos>; ids 3 … 258 the 256 byte symbols; then a
// few merges ("hello", " wo", …). Its vocabulary size is TINY_VOCAB.

/** The merges, in rank order. */
const MERGES: [string, string][] = [
  ["h", "e"],
  ["l", "l"],
  ["he", "ll"],
  ["hell", "o"],
  ["Ġ", "w"],
  ["Ġw", "o"],
  ["Ġ", "t"],
  ["Ġt", "h"],
];

/** Vocabulary size of the tiny tokenizer. */
export const TINY_VOCAB = 3 + 256 + MERGES.length;

/** GPT-2's byte → printable character map. */
function byteSymbols(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, j) => (out[b] = String.fromCodePoint(cs[j]!)));
  return out;
}

/** The parsed tokenizer.json of the tiny tokenizer. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const specials = ["<bos>", "<pad>", "<eos>"];
  const vocab: Record<string, number> = {};
  specials.forEach((s, id) => (vocab[s] = id));
  byteSymbols().forEach((c, b) => (vocab[c] = 3 + b));
  MERGES.forEach(([a, b], j) => (vocab[a + b] = 3 + 256 + j));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES.map(([a, b]) => `${a} ${b}`),
    },
  };
}

/** Writes tokenizer.json (and, when given, config.json) into `dir`. */
export function writeTinyTokenizer(dir: string, config?: Record<string, unknown>): void {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(`${dir}/tokenizer.json`, JSON.stringify(tinyTokenizerJson()));
  if (config) Deno.writeTextFileSync(`${dir}/config.json`, JSON.stringify(config));
}
