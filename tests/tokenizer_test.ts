// The checkpoint folder's tokenizer (models/xlstm_large/tokenizer.ts) on a tiny byte-level BPE
// tokenizer.json built in tests/_tiny_tokenizer.ts: merges applied, round trip of ASCII and
// multi-byte text, BOS prepended only when config.json forces it, streaming decode equal to the
// whole decode, and bad files named with their entry.

import assert from "node:assert/strict";
import { TokenizerFileError, XlstmTokenizer } from "../models/xlstm_large/tokenizer.ts";
import { tinyTokenizerJson, writeTinyTokenizer } from "./_tiny_tokenizer.ts";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;
const config = { force_bos_token_insert: true, bos_token_id: 0, eos_token_id: 2, pad_token_id: 1 };

Deno.test("XlstmTokenizer.fromFolder() applies the merges and prepends BOS when config.json forces it", () => {
  const dir = Deno.makeTempDirSync();
  writeTinyTokenizer(dir, config);
  const tok = XlstmTokenizer.fromFolder(dir);
  const ids = tok.encode("hello world");
  // <bos>, "hello", " wo", "r", "l", "d"
  assert.deepEqual(ids, [0, 262, 264, 3 + 114, 3 + 108, 3 + 100]);
  assert.equal(tok.decode(ids), "<bos>hello world");
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "hello world");
  assert.equal(tok.eosTokenId, 2);
  // without config.json: no BOS
  Deno.removeSync(`${dir}/config.json`);
  assert.deepEqual(XlstmTokenizer.fromFolder(dir).encode("hello"), [262]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("XlstmTokenizer round-trips multi-byte text and streams it piece by piece", () => {
  const tok = new XlstmTokenizer(tinyTokenizerJson(), { forceBos: true, bosTokenId: 0 });
  const text = "héllo wörld — 日本 🙂 the end";
  const ids = tok.encode(text);
  assert.equal(ids[0], 0);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), text);
  const stream = tok.streamDecoder();
  let out = "";
  for (const id of ids) {
    const piece = stream.push([id]);
    assert.ok(!piece.includes("\uFFFD"), "no partial characters are emitted");
    out += piece;
  }
  assert.equal(out, text);
});

Deno.test("XlstmTokenizer names the file and entry of a bad tokenizer", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/tokenizer.json`;
  assert.throws(() => XlstmTokenizer.fromFolder(dir), (e: Error) => {
    assert.ok(e instanceof TokenizerFileError);
    assert.match(e.message, new RegExp(`Bad tokenizer file ${path}: cannot be read`));
    return true;
  });
  Deno.writeTextFileSync(path, "{ not json");
  assert.throws(() => XlstmTokenizer.fromFolder(dir), /tokenizer.json: is not valid JSON/);
  const bad = (mutate: (j: Json) => void, re: RegExp) => {
    const j = tinyTokenizerJson() as Json;
    mutate(j);
    Deno.writeTextFileSync(path, JSON.stringify(j));
    assert.throws(() => XlstmTokenizer.fromFolder(dir), re);
  };
  bad((j) => delete j.model, /entry "model": must be an object/);
  bad((j) => delete j.decoder, /entry "decoder": is missing \(null if unused\)/);
  bad((j) => delete j.added_tokens, /entry "added_tokens": must be an array/);
  bad((j) => (j.model.merges = 5), /entry "model.merges": must be an array/);
  bad((j) => (j.model.vocab.he = -1), /entry "model.vocab.he": must be a non-negative integer id/);
  bad(
    (j) => (j.model.type = "Nope"),
    /entry "model.type": must be one of BPE, WordPiece, WordLevel, Unigram, is "Nope"/,
  );
  bad((j) => (j.added_tokens = [{ id: "x" }]), /entry "added_tokens\[0\]"/);
  writeTinyTokenizer(dir, { force_bos_token_insert: true });
  assert.throws(
    () => XlstmTokenizer.fromFolder(dir),
    /config.json, entry "bos_token_id": is needed/,
  );
  writeTinyTokenizer(dir, { force_bos_token_insert: "yes", bos_token_id: 0 });
  assert.throws(
    () => XlstmTokenizer.fromFolder(dir),
    /entry "force_bos_token_insert": must be true or false/,
  );
  Deno.removeSync(dir, { recursive: true });
});
