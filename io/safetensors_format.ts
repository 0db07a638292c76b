/**
 * The safetensors format without file access: parsing and validating a header, converting a
 * tensor's bytes to the storage dtype asked for, and encoding a header for writing. Platform-free
 * (the Deno file access lives in `safetensors.ts`), so a browser loader can reuse it with HTTP
 * range requests.
 *
 * Layout: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON
 * `{ "<name>": { "dtype", "shape", "data_offsets": [begin, end] }, "__metadata__"?: {..} }`, then
 * the data section, which the tensors' byte ranges must cover exactly (no gaps, no overlaps).
 *
 * @module
 */

import { bf16ToF32, f16ToF32, toBf16Bits, toF16Bits } from "./dtype.ts";

/** Element types this library reads and writes. */
export type SafetensorsDtype = "F32" | "F16" | "BF16";

/** Storage types a tensor can be converted to when read. */
export type StorageDtype = "f32" | "f16";

/** Bytes per element of each supported dtype. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
};

/** One tensor's entry in a header. */
export interface SafetensorsEntry {
  /** Tensor name. */
  readonly name: string;
  /** Element type in the file. */
  readonly dtype: SafetensorsDtype;
  /** Shape. */
  readonly shape: readonly number[];
  /** Byte offset from the start of the file. */
  readonly fileOffset: number;
  /** Number of bytes. */
  readonly byteLength: number;
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  /** Entries in data order. */
  readonly entries: readonly SafetensorsEntry[];
  /** `__metadata__` (string → string), empty if absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** 8 + header length: where the data section starts. */
  readonly dataStart: number;
}

/** A malformed safetensors file or index: the message names the file and the entry. */
export class SafetensorsError extends Error {
  /**
   * Creates the error.
   *
   * @param file The file.
   * @param message What is wrong (naming the tensor where there is one).
   */
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = "SafetensorsError";
  }
}

/** Headers above this size are rejected as corrupt before any allocation (real ones are < 1 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * Reads the header length from the first 8 bytes and checks it against the file size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headerLength } from "./safetensors_format.ts";
 * const b = new Uint8Array(8); b[0] = 2;
 * assert.equal(headerLength(b, 10, "a.safetensors"), 2);
 * assert.throws(() => headerLength(b, 9, "a.safetensors"), /beyond the end/);
 * ```
 *
 * @param first8 The file's first 8 bytes (fewer: the file is truncated).
 * @param fileSize The file's size in bytes.
 * @param file The file name for messages.
 * @returns N, the JSON header's byte length.
 * @throws {SafetensorsError} If the file is shorter than 8 bytes or N runs past its end.
 */
export function headerLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (first8.length < 8 || fileSize < 8) {
    throw new SafetensorsError(
      file,
      `truncated: ${fileSize} bytes, shorter than the 8-byte header length`,
    );
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > fileSize - 8) {
    throw new SafetensorsError(
      file,
      `header length ${n} runs beyond the end of the file (${fileSize - 8} bytes after the length)`,
    );
  }
  if (n > MAX_HEADER_BYTES) {
    throw new SafetensorsError(file, `header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  }
  if (n < 2) throw new SafetensorsError(file, `header length ${n} is too short for a JSON object`);
  return n;
}

/** The keys of the top-level JSON object in order (JSON.parse silently keeps the last duplicate). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0, j = 0;
  let expectKey = false;
  while (j < text.length) {
    const c = text[j];
    if (c === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === "\\" ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(j, k + 1)));
        expectKey = false;
      }
      j = k + 1;
      continue;
    }
    if (c === "{" || c === "[") {
      depth++;
      if (depth === 1 && c === "{") expectKey = true;
    } else if (c === "}" || c === "]") depth--;
    else if (c === "," && depth === 1) expectKey = true;
    j++;
  }
  return keys;
}

/**
 * Parses and validates a header: JSON object; known dtypes; shapes of non-negative integers;
 * `data_offsets` whose length equals elements × bytes per element; ranges that tile the data
 * section exactly (no overlap, no gap, nothing past its end, nothing left over); no duplicate
 * names; `__metadata__` a string → string map.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSafetensorsHeader } from "./safetensors_format.ts";
 * const json = JSON.stringify({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
 * const h = parseSafetensorsHeader(new TextEncoder().encode(json), 8 + json.length + 8, "a.safetensors");
 * assert.equal(h.entries[0].fileOffset, 8 + json.length);
 * assert.throws(() => parseSafetensorsHeader(new TextEncoder().encode(json), 8 + json.length + 4, "a.safetensors"), /"w"/);
 * ```
 *
 * @param headerBytes The N bytes of JSON.
 * @param fileSize The file's size in bytes.
 * @param file The file name for messages.
 * @returns The validated header.
 * @throws {SafetensorsError} Naming the file and the tensor at the first problem.
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  file: string,
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, "header is not valid UTF-8");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new SafetensorsError(file, "header must be a JSON object");
  }
  const seen = new Set<string>();
  for (const k of topLevelKeys(text)) {
    if (seen.has(k)) throw new SafetensorsError(file, `tensor "${k}" appears twice in the header`);
    seen.add(k);
  }
  const dataStart = 8 + headerBytes.length;
  const dataLength = fileSize - dataStart;
  const raw = json as Record<string, unknown>;
  let metadata: Record<string, string> = {};
  const entries: (SafetensorsEntry & { begin: number; end: number })[] = [];
  for (const [name, v] of Object.entries(raw)) {
    if (name === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new SafetensorsError(file, `"__metadata__" must be an object of strings`);
      }
      for (const [mk, mv] of Object.entries(v)) {
        if (typeof mv !== "string") {
          throw new SafetensorsError(
            file,
            `"__metadata__"."${mk}" must be a string, received ${JSON.stringify(mv)}`,
          );
        }
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const bad = (what: string) => new SafetensorsError(file, `tensor "${name}": ${what}`);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw bad("entry must be an object { dtype, shape, data_offsets }");
    }
    const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw bad(`unsupported dtype ${JSON.stringify(dtype)} (supported: F32, F16, BF16)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(
        `shape must be an array of non-negative integers, received ${JSON.stringify(shape)}`,
      );
    }
    if (
      !Array.isArray(off) || off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]
    ) {
      throw bad(
        `data_offsets must be [begin, end] with 0 ≤ begin ≤ end, received ${JSON.stringify(off)}`,
      );
    }
    const [begin, end] = off as number[];
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const expect = numel * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
    if (end - begin !== expect) {
      throw bad(
        `${dtype} × shape (${
          (shape as number[]).join(", ")
        }) is ${expect} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    if (end > dataLength) {
      throw bad(
        `data_offsets [${begin}, ${end}] exceed the data section of ${dataLength} bytes (file truncated?)`,
      );
    }
    entries.push({
      name,
      dtype: dtype as SafetensorsDtype,
      shape: [...(shape as number[])],
      fileOffset: dataStart + begin,
      byteLength: end - begin,
      begin,
      end,
    });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin < pos) {
      throw new SafetensorsError(
        file,
        `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${pos})`,
      );
    }
    if (e.begin > pos) {
      throw new SafetensorsError(
        file,
        `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] leave a gap of ${
          e.begin - pos
        } bytes after offset ${pos}`,
      );
    }
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw new SafetensorsError(
      file,
      `the data section holds ${dataLength} bytes but the tensors cover ${pos}: ${
        dataLength - pos
      } trailing bytes`,
    );
  }
  return {
    entries: entries.map(({ begin: _b, end: _e, ...rest }) => rest),
    metadata,
    dataStart,
  };
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Converts one tensor's raw little-endian bytes to the storage dtype asked for: f32 as a
 * Float32Array (F16 and BF16 widened exactly), f16 as a Uint16Array of half bits (F32 and BF16
 * rounded to nearest even; F16 copied).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { convertTensorBytes } from "./safetensors_format.ts";
 * const bytes = new Uint8Array(new Uint16Array([0x3f80, 0xc000]).buffer); // bf16 1, -2
 * assert.deepEqual([...convertTensorBytes(bytes, "BF16", "f32")], [1, -2]);
 * assert.deepEqual([...convertTensorBytes(bytes, "BF16", "f16")], [0x3c00, 0xc000]);
 * ```
 *
 * @param bytes The tensor's bytes (its own buffer or a view).
 * @param dtype The file's element type.
 * @param to The storage dtype.
 * @returns Float32Array for "f32", Uint16Array of half bits for "f16".
 */
export function convertTensorBytes(
  bytes: Uint8Array,
  dtype: SafetensorsDtype,
  to: StorageDtype,
): Float32Array | Uint16Array {
  if (!littleEndian) throw new Error("safetensors reading needs a little-endian platform");
  // Copy into an aligned buffer unless the view already is one.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const n = aligned.byteLength / SAFETENSORS_DTYPE_BYTES[dtype];
  if (dtype === "F32") {
    const x = new Float32Array(aligned.buffer, aligned.byteOffset, n);
    return to === "f32" ? x : toF16Bits(x);
  }
  const bits = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
  if (dtype === "F16") return to === "f16" ? bits : f16ToF32(bits);
  const wide = bf16ToF32(bits);
  return to === "f32" ? wide : toF16Bits(wide);
}

/** Data a writer accepts for one tensor: floats (rounded to the dtype) or raw 16-bit patterns. */
export type WritableData = Float32Array | Float64Array | Uint16Array | readonly number[];

/**
 * Encodes one tensor's elements as the little-endian bytes of `dtype`. A Uint16Array is taken as
 * the raw bit patterns of an F16 or BF16 tensor; any other data is rounded to the dtype.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeTensorBytes } from "./safetensors_format.ts";
 * assert.deepEqual([...encodeTensorBytes([1], "BF16")], [0x80, 0x3f]);
 * ```
 *
 * @param data The elements.
 * @param dtype The file's element type.
 * @returns The bytes.
 * @throws {TypeError} If a Uint16Array is given for F32.
 */
export function encodeTensorBytes(data: WritableData, dtype: SafetensorsDtype): Uint8Array {
  if (data instanceof Uint16Array) {
    if (dtype === "F32") throw new TypeError("Uint16Array data needs dtype F16 or BF16, not F32");
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }
  if (dtype === "F32") {
    const x = data instanceof Float32Array ? data : Float32Array.from(data);
    return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  }
  const bits = dtype === "F16" ? toF16Bits(data) : toBf16Bits(data);
  return new Uint8Array(bits.buffer);
}

/** One tensor's description for {@linkcode encodeSafetensorsHeader}. */
export interface HeaderTensor {
  /** Name. */
  name: string;
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Shape. */
  shape: readonly number[];
}

/**
 * Lays out tensors and encodes the header: tensors ordered by element size (largest first, so
 * each starts aligned to its element size) then by name, `__metadata__` first when given, the
 * JSON padded with spaces to a multiple of 8 bytes so the data section starts 8-aligned.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensorsHeader } from "./safetensors_format.ts";
 * const { bytes, order } = encodeSafetensorsHeader([{ name: "b", dtype: "F16", shape: [3] }, { name: "a", dtype: "F32", shape: [1] }]);
 * assert.deepEqual(order.map((t) => t.name), ["a", "b"]);
 * assert.equal(bytes.length % 8, 0);
 * ```
 *
 * @param tensors The tensors (names must be unique and not `__metadata__`).
 * @param metadata Optional `__metadata__` strings.
 * @returns The length-prefixed header bytes, the tensors in data order with their offsets, and
 * the data section's size.
 * @throws {RangeError} On duplicate or reserved names or bad shapes.
 */
export function encodeSafetensorsHeader(
  tensors: readonly HeaderTensor[],
  metadata?: Readonly<Record<string, string>>,
): {
  bytes: Uint8Array;
  order: (HeaderTensor & { begin: number; end: number })[];
  dataLength: number;
} {
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === "__metadata__" || names.has(t.name)) {
      throw new RangeError(`Tensor name ${JSON.stringify(t.name)} is reserved or given twice`);
    }
    if (!(t.dtype in SAFETENSORS_DTYPE_BYTES)) {
      throw new RangeError(`Tensor ${JSON.stringify(t.name)}: unsupported dtype ${t.dtype}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(
        `Tensor ${JSON.stringify(t.name)}: bad shape ${JSON.stringify(t.shape)}`,
      );
    }
    names.add(t.name);
  }
  const sorted = [...tensors].sort((a, b) =>
    SAFETENSORS_DTYPE_BYTES[b.dtype] - SAFETENSORS_DTYPE_BYTES[a.dtype] ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const header: Record<string, unknown> = {};
  if (metadata) header["__metadata__"] = { ...metadata };
  let pos = 0;
  const order = sorted.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    const r = { ...t, begin: pos, end: pos + n };
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [pos, pos + n] };
    pos += n;
    return r;
  });
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const bytes = new Uint8Array(8 + json.length);
  new DataView(bytes.buffer).setUint32(0, json.length, true);
  bytes.set(json, 8);
  return { bytes, order, dataLength: pos };
}
