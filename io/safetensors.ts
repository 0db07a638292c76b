/**
 * Reading and writing safetensors checkpoints from Deno: single files and sharded folders with a
 * `model.safetensors.index.json`. Reading validates every header (and the index) when a
 * checkpoint is opened, before any tensor is handed out, then reads each tensor's byte range on
 * demand, so a 27.5 GB checkpoint never sits in memory at once. This is the only module of the
 * library that touches the file system (`Deno.*`); the format itself is in
 * `safetensors_format.ts`.
 *
 * @module
 */

import {
  convertTensorBytes,
  encodeSafetensorsHeader,
  encodeTensorBytes,
  headerLength,
  parseSafetensorsHeader,
  type SafetensorsDtype,
  type SafetensorsEntry,
  SafetensorsError,
  type StorageDtype,
  type WritableData,
} from "./safetensors_format.ts";

/** The index file name of a sharded checkpoint. */
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
/** The file name of a single-file checkpoint. */
export const SAFETENSORS_SINGLE = "model.safetensors";

/**
 * Joins a folder and a file name with "/".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinPath } from "./safetensors.ts";
 * assert.equal(joinPath("a/", "b.json"), "a/b.json");
 * ```
 *
 * @param dir The folder.
 * @param name The file name.
 * @returns The path.
 */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

async function readFully(
  f: Deno.FsFile,
  buf: Uint8Array,
  offset: number,
  file: string,
  what: string,
) {
  await f.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < buf.length) {
    const n = await f.read(buf.subarray(got));
    if (n === null) {
      throw new SafetensorsError(
        file,
        `${what}: the file ended after ${got} of ${buf.length} bytes (changed since it was opened?)`,
      );
    }
    got += n;
  }
}

/**
 * Reads a JSON file, naming the file in parse errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readJsonFile, writeJsonFile } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await writeJsonFile(path, { vocab_size: 97 });
 * assert.deepEqual(await readJsonFile(path), { vocab_size: 97 });
 * await Deno.writeTextFile(path, "{");
 * await assert.rejects(readJsonFile(path), /is not valid JSON/);
 * await Deno.remove(path);
 * ```
 *
 * @param path The file.
 * @returns The parsed value.
 * @throws {SafetensorsError} If the file is missing or not JSON.
 */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot be read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(path, `is not valid JSON (${(e as Error).message})`);
  }
}

/** One open safetensors file: its validated header and on-demand tensor reads. */
export class SafetensorsFile {
  /** The file's path. */
  readonly path: string;
  /** Entries by name. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** `__metadata__` (empty if absent). */
  readonly metadata: Readonly<Record<string, string>>;
  #file: Deno.FsFile;

  private constructor(
    path: string,
    file: Deno.FsFile,
    entries: readonly SafetensorsEntry[],
    metadata: Readonly<Record<string, string>>,
  ) {
    this.path = path;
    this.#file = file;
    this.entries = new Map(entries.map((e) => [e.name, e]));
    this.metadata = metadata;
  }

  /**
   * Opens a file and validates its header (see `parseSafetensorsHeader`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
   * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
   * await writeSafetensors(path, [{ name: "w", dtype: "F32", shape: [2, 2], data: [1, 2, 3, 4] }]);
   * const f = await SafetensorsFile.open(path);
   * assert.deepEqual(f.entries.get("w")?.shape, [2, 2]);
   * assert.deepEqual([...await f.read("w", "f16")], [0x3c00, 0x4000, 0x4200, 0x4400]);
   * f.close();
   * await Deno.truncate(path, 20);
   * await assert.rejects(SafetensorsFile.open(path), /header length \d+ runs beyond the end/);
   * await Deno.remove(path);
   * ```
   *
   * @param path The file.
   * @returns The open file.
   * @throws {SafetensorsError} Naming the file (and the tensor) on any problem.
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { read: true });
    } catch (e) {
      throw new SafetensorsError(path, `cannot be opened (${(e as Error).message})`);
    }
    try {
      const size = (await f.stat()).size;
      const first = new Uint8Array(Math.min(8, size));
      await readFully(f, first, 0, path, "header length");
      const n = headerLength(first, size, path);
      const hb = new Uint8Array(n);
      await readFully(f, hb, 8, path, "header");
      const h = parseSafetensorsHeader(hb, size, path);
      return new SafetensorsFile(path, f, h.entries, h.metadata);
    } catch (e) {
      f.close();
      throw e;
    }
  }

  /**
   * Reads one tensor's raw bytes.
   *
   * @param name The tensor.
   * @returns Its bytes (a fresh buffer).
   * @throws {SafetensorsError} If the tensor is absent or the file ends early.
   */
  async readBytes(name: string): Promise<Uint8Array> {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(this.path, `has no tensor "${name}"`);
    const buf = new Uint8Array(e.byteLength);
    await readFully(this.#file, buf, e.fileOffset, this.path, `tensor "${name}"`);
    return buf;
  }

  /**
   * Reads one tensor converted to a storage dtype (f32: Float32Array; f16: Uint16Array of half
   * bits; bf16 widened exactly, narrowing rounds to nearest even).
   *
   * @param name The tensor.
   * @param dtype The storage dtype. @default {"f32"}
   * @returns The elements.
   */
  async read(name: string, dtype: StorageDtype = "f32"): Promise<Float32Array | Uint16Array> {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(this.path, `has no tensor "${name}"`);
    return convertTensorBytes(await this.readBytes(name), e.dtype, dtype);
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

/** A checkpoint tensor's entry plus the file that holds it. */
export interface CheckpointEntry extends SafetensorsEntry {
  /** The file's path. */
  readonly file: string;
}

/** A tensor streamed out of a checkpoint. */
export interface LoadedTensor {
  /** Name. */
  readonly name: string;
  /** Shape. */
  readonly shape: readonly number[];
  /** The file's element type. */
  readonly fileDtype: SafetensorsDtype;
  /** Elements in the storage dtype asked for. */
  readonly data: Float32Array | Uint16Array;
}

/**
 * A checkpoint: one safetensors file, or a folder with `model.safetensors` or with
 * `model.safetensors.index.json` and its shards. Opening validates every header and the index
 * (each shard exists, each indexed tensor is in its shard, every shard tensor is indexed, no
 * tensor twice) before any tensor can be read.
 */
export class SafetensorsCheckpoint {
  /** The path given to `open`. */
  readonly path: string;
  /** The index file for a sharded checkpoint, else undefined. */
  readonly indexFile: string | undefined;
  /** The open files. */
  readonly files: readonly SafetensorsFile[];
  #where: Map<string, SafetensorsFile>;

  private constructor(
    path: string,
    indexFile: string | undefined,
    files: SafetensorsFile[],
    where: Map<string, SafetensorsFile>,
  ) {
    this.path = path;
    this.indexFile = indexFile;
    this.files = files;
    this.#where = where;
  }

  /**
   * Opens a checkpoint file or folder.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SafetensorsCheckpoint, writeSafetensors } from "./safetensors.ts";
   * const dir = await Deno.makeTempDir();
   * await writeSafetensors(`${dir}/model.safetensors`, [
   *   { name: "a", dtype: "F32", shape: [1], data: [1] },
   *   { name: "b", dtype: "BF16", shape: [2], data: [2, 3] },
   * ]);
   * const ckpt = await SafetensorsCheckpoint.open(dir);
   * const seen = [];
   * for await (const t of ckpt.tensors("f32")) seen.push([t.name, [...t.data]]);
   * assert.deepEqual(seen, [["a", [1]], ["b", [2, 3]]]);
   * ckpt.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   *
   * @param path A `.safetensors` file or a folder.
   * @returns The checkpoint.
   * @throws {SafetensorsError} Naming the file and tensor of the first problem; nothing stays open.
   */
  static async open(path: string): Promise<SafetensorsCheckpoint> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (e) {
      throw new SafetensorsError(path, `does not exist (${(e as Error).message})`);
    }
    if (info.isFile) {
      const f = await SafetensorsFile.open(path);
      return new SafetensorsCheckpoint(
        path,
        undefined,
        [f],
        new Map([...f.entries.keys()].map((k) => [k, f])),
      );
    }
    const index = joinPath(path, SAFETENSORS_INDEX);
    const exists = async (p: string) => {
      try {
        return (await Deno.stat(p)).isFile;
      } catch {
        return false;
      }
    };
    if (!(await exists(index))) {
      const single = joinPath(path, SAFETENSORS_SINGLE);
      if (!(await exists(single))) {
        throw new SafetensorsError(
          path,
          `holds neither ${SAFETENSORS_SINGLE} nor ${SAFETENSORS_INDEX}`,
        );
      }
      const f = await SafetensorsFile.open(single);
      return new SafetensorsCheckpoint(
        path,
        undefined,
        [f],
        new Map([...f.entries.keys()].map((k) => [k, f])),
      );
    }
    const json = await readJsonFile(index);
    const map = (json as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw new SafetensorsError(
        index,
        `"weight_map" must be an object of tensor name → shard file`,
      );
    }
    const shardNames = new Set<string>();
    for (const [name, shard] of Object.entries(map)) {
      if (
        typeof shard !== "string" || shard === "" || shard.includes("/") || shard.includes("\\") ||
        shard === ".."
      ) {
        throw new SafetensorsError(
          index,
          `tensor "${name}": shard ${JSON.stringify(shard)} must be a file name in the folder`,
        );
      }
      shardNames.add(shard);
    }
    const opened: SafetensorsFile[] = [];
    try {
      const byShard = new Map<string, SafetensorsFile>();
      for (const shard of [...shardNames].sort()) {
        const p = joinPath(path, shard);
        if (!(await exists(p))) {
          const first = Object.entries(map).find(([, s]) => s === shard)![0];
          throw new SafetensorsError(
            index,
            `names shard "${shard}" (for tensor "${first}" and others), which does not exist`,
          );
        }
        const f = await SafetensorsFile.open(p);
        opened.push(f);
        byShard.set(shard, f);
      }
      const where = new Map<string, SafetensorsFile>();
      for (const [name, shard] of Object.entries(map as Record<string, string>)) {
        const f = byShard.get(shard)!;
        if (!f.entries.has(name)) {
          throw new SafetensorsError(
            index,
            `tensor "${name}" is indexed in shard "${shard}", which does not hold it`,
          );
        }
        where.set(name, f);
      }
      for (const f of opened) {
        for (const name of f.entries.keys()) {
          const owner = where.get(name);
          if (owner !== f) {
            throw new SafetensorsError(
              f.path,
              owner
                ? `tensor "${name}" also appears in ${owner.path} (duplicate tensor)`
                : `tensor "${name}" is not listed in ${SAFETENSORS_INDEX}`,
            );
          }
        }
      }
      return new SafetensorsCheckpoint(path, index, opened, where);
    } catch (e) {
      for (const f of opened) f.close();
      throw e;
    }
  }

  /** Every tensor name, sorted. */
  names(): string[] {
    return [...this.#where.keys()].sort();
  }

  /** Whether the checkpoint holds a tensor. */
  has(name: string): boolean {
    return this.#where.has(name);
  }

  /**
   * A tensor's entry (dtype, shape, byte range) and its file.
   *
   * @param name The tensor.
   * @returns The entry.
   * @throws {SafetensorsError} If absent.
   */
  entry(name: string): CheckpointEntry {
    const f = this.#where.get(name);
    if (!f) throw new SafetensorsError(this.path, `has no tensor "${name}"`);
    return { ...f.entries.get(name)!, file: f.path };
  }

  /**
   * Reads one tensor converted to a storage dtype.
   *
   * @param name The tensor.
   * @param dtype The storage dtype. @default {"f32"}
   * @returns The elements.
   */
  read(name: string, dtype: StorageDtype = "f32"): Promise<Float32Array | Uint16Array> {
    const f = this.#where.get(name);
    if (!f) throw new SafetensorsError(this.path, `has no tensor "${name}"`);
    return f.read(name, dtype);
  }

  /**
   * Streams tensors one at a time (the next is read only when asked for).
   *
   * @param dtype The storage dtype. @default {"f32"}
   * @param names Which tensors, in this order. @default {all, sorted by name}
   * @returns An async iterator of tensors.
   */
  async *tensors(
    dtype: StorageDtype = "f32",
    names?: readonly string[],
  ): AsyncGenerator<LoadedTensor> {
    for (const name of names ?? this.names()) {
      const e = this.entry(name);
      yield { name, shape: e.shape, fileDtype: e.dtype, data: await this.read(name, dtype) };
    }
  }

  /** Closes every file. */
  close(): void {
    for (const f of this.files) f.close();
  }
}

/** One tensor to write: data given directly or produced on demand (so writers can stream). */
export interface TensorToWrite {
  /** Name. */
  name: string;
  /** Element type in the file. */
  dtype: SafetensorsDtype;
  /** Shape. */
  shape: readonly number[];
  /** Elements (rounded to dtype; a Uint16Array is taken as raw F16/BF16 bits), or a function giving them. */
  data: WritableData | (() => WritableData | Promise<WritableData>);
}

/** Options of {@linkcode writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** `__metadata__` strings. @default {undefined} (none) */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes tensors to one safetensors file (tensors ordered by element size then name, header
 * padded to 8 bytes), one tensor in memory at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SafetensorsFile, writeSafetensors } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, [{ name: "w", dtype: "BF16", shape: [2], data: [1, -2] }]);
 * const f = await SafetensorsFile.open(path);
 * assert.deepEqual([...await f.read("w", "f32")], [1, -2]);
 * f.close();
 * await Deno.remove(path);
 * ```
 *
 * @param path The file to create (overwritten).
 * @param tensors The tensors.
 * @param options Metadata.
 * @returns The number of bytes written.
 * @throws {RangeError} If a tensor's data length does not match its shape.
 */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  options: WriteSafetensorsOptions = {},
): Promise<number> {
  const { bytes, order } = encodeSafetensorsHeader(tensors, options.metadata);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  let written = 0;
  const writeAll = async (b: Uint8Array) => {
    let off = 0;
    while (off < b.length) off += await f.write(b.subarray(off));
    written += b.length;
  };
  try {
    await writeAll(bytes);
    for (const t of order) {
      const src = byName.get(t.name)!;
      const data = typeof src.data === "function" ? await src.data() : src.data;
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) {
        throw new RangeError(
          `Tensor "${t.name}": data holds ${data.length} elements but shape (${
            t.shape.join(", ")
          }) needs ${n}`,
        );
      }
      await writeAll(encodeTensorBytes(data, t.dtype));
    }
  } finally {
    f.close();
  }
  return written;
}

/** Options of {@linkcode writeSafetensorsSharded}. */
export interface WriteShardedOptions extends WriteSafetensorsOptions {
  /** Largest data size of one shard in bytes (a larger single tensor gets a shard of its own). */
  maxShardBytes: number;
}

/**
 * Writes a sharded checkpoint into a folder: `model-0000k-of-0000n.safetensors` files (tensors in
 * name order, a new shard when the next tensor would pass `maxShardBytes`) and
 * `model.safetensors.index.json` with `metadata.total_size` and the `weight_map`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SafetensorsCheckpoint, writeSafetensorsSharded } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * const t = (name: string) => ({ name, dtype: "F32" as const, shape: [4], data: [1, 2, 3, 4] });
 * const shards = await writeSafetensorsSharded(dir, [t("a"), t("b"), t("c")], { maxShardBytes: 32 });
 * assert.equal(shards.length, 2);
 * const ck = await SafetensorsCheckpoint.open(dir);
 * assert.deepEqual(ck.names(), ["a", "b", "c"]);
 * ck.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param dir The folder (created if missing).
 * @param tensors The tensors.
 * @param options maxShardBytes and metadata (written into every shard).
 * @returns The shard file names.
 */
export async function writeSafetensorsSharded(
  dir: string,
  tensors: readonly TensorToWrite[],
  options: WriteShardedOptions,
): Promise<string[]> {
  const { maxShardBytes } = options;
  if (!(maxShardBytes > 0)) {
    throw new RangeError(`Option maxShardBytes must be > 0, received ${maxShardBytes}`);
  }
  await Deno.mkdir(dir, { recursive: true });
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const groups: TensorToWrite[][] = [];
  let size = 0, total = 0;
  for (const t of sorted) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (t.dtype === "F32" ? 4 : 2);
    if (groups.length === 0 || (size + n > maxShardBytes && size > 0)) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(t);
    size += n;
    total += n;
  }
  const pad = (k: number) => String(k).padStart(5, "0");
  const names = groups.map((_, k) => `model-${pad(k + 1)}-of-${pad(groups.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (let k = 0; k < groups.length; k++) {
    await writeSafetensors(joinPath(dir, names[k]), groups[k], options);
    for (const t of groups[k]) weightMap[t.name] = names[k];
  }
  await Deno.writeTextFile(
    joinPath(dir, SAFETENSORS_INDEX),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n",
  );
  return names;
}

/**
 * Creates a folder and its parents (no error if it exists).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeDir } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * await makeDir(`${dir}/a/b`);
 * assert.ok((await Deno.stat(`${dir}/a/b`)).isDirectory);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param path The folder.
 */
export async function makeDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
}

/**
 * Writes a JSON file (2-space indentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeJsonFile } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await writeJsonFile(path, { vocab_size: 97 });
 * assert.equal(await Deno.readTextFile(path), '{\n  "vocab_size": 97\n}\n');
 * await Deno.remove(path);
 * ```
 *
 * @param path The file.
 * @param value The value.
 */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2) + "\n");
}
