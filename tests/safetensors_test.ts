// safetensors reading and writing: round trips of every dtype (single files and shards), the exact
// f16 / bf16 conversions against an independent oracle (Float16Array, bit arithmetic), and every
// malformed-file case, each named by file and tensor before any tensor is handed out.

import assert from "node:assert/strict";
import {
  bf16BitsToNumber,
  f16BitsToNumber,
  f16ToF32,
  numberToBf16Bits,
  numberToF16Bits,
  SafetensorsCheckpoint,
  SafetensorsError,
  SafetensorsFile,
  toF16Bits,
  writeSafetensors,
  writeSafetensorsSharded,
} from "../io/mod.ts";
import { rngOf } from "./_seed.ts";

const F16 = (globalThis as unknown as { Float16Array?: Float32ArrayConstructor }).Float16Array;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "safetensors_test_" });
}

/** Writes a file from a raw header object and data bytes (for malformed cases). */
async function rawFile(path: string, header: unknown, data: Uint8Array, headerText?: string) {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  await Deno.writeFile(path, out);
}

Deno.test("f16BitsToNumber() and numberToF16Bits() round-trip every half and match Float16Array", () => {
  const probe = new (F16 ?? Float32Array)(1);
  for (let h = 0; h < 65536; h++) {
    const x = f16BitsToNumber(h);
    if (Number.isNaN(x)) {
      assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0, `bits ${h} decode to NaN`);
      assert.ok(Number.isNaN(f16BitsToNumber(numberToF16Bits(x))));
      continue;
    }
    assert.equal(numberToF16Bits(x), h, `half ${h.toString(16)} = ${x}`);
    if (F16) {
      probe[0] = x;
      assert.ok(Object.is(probe[0], x), `Float16Array disagrees on ${h.toString(16)}`);
    }
  }
});

Deno.test("numberToF16Bits() rounds to nearest even like Float16Array", { ignore: !F16 }, () => {
  const rng = rngOf(11);
  const probe = new F16!(1);
  const f32 = new Float32Array(1);
  for (let j = 0; j < 200_000; j++) {
    // values across the whole half range, subnormals and overflow included
    const x = (rng.uniform() < 0.5 ? -1 : 1) * 2 ** rng.uniform(-27, 17);
    f32[0] = x; // the conversion rounds through float32 first, like a float32 tensor
    probe[0] = f32[0];
    assert.ok(Object.is(f16BitsToNumber(numberToF16Bits(x)), probe[0]), `x = ${x}`);
  }
});

Deno.test("bf16BitsToNumber() and numberToBf16Bits(): exact widening, nearest-even narrowing", () => {
  for (let h = 0; h < 65536; h++) {
    const x = bf16BitsToNumber(h);
    if (Number.isNaN(x)) continue;
    assert.equal(numberToBf16Bits(x), h);
  }
  const rng = rngOf(12);
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  for (let j = 0; j < 100_000; j++) {
    f32[0] = rng.normal(0, 100);
    const b = u32[0];
    // the two bf16 neighbours of the value, by truncation
    const lo = bf16BitsToNumber(b >>> 16), hi = bf16BitsToNumber((b >>> 16) + 1);
    const r = bf16BitsToNumber(numberToBf16Bits(f32[0]));
    const dl = Math.abs(f32[0] - lo), dh = Math.abs(hi - f32[0]);
    assert.equal(r, dl < dh ? lo : dh < dl ? hi : ((b >>> 16) & 1 ? hi : lo));
  }
});

Deno.test("writeSafetensors() / SafetensorsFile round trip: F32, F16, BF16 read as f32 and f16", async () => {
  const dir = await tempDir();
  const rng = rngOf(13);
  const n = 37;
  const src = Float32Array.from({ length: n }, () => rng.normal(0, 3));
  src.set([0, -0, Infinity, -Infinity, 2 ** -24, 65504], 0);
  const path = `${dir}/x.safetensors`;
  await writeSafetensors(path, [
    { name: "f32", dtype: "F32", shape: [n], data: src },
    { name: "f16", dtype: "F16", shape: [1, n], data: src },
    { name: "bf16", dtype: "BF16", shape: [n, 1], data: src },
    { name: "empty", dtype: "F32", shape: [0, 3], data: [] },
  ], { metadata: { format: "pt" } });
  const f = await SafetensorsFile.open(path);
  assert.deepEqual(f.metadata, { format: "pt" });
  assert.deepEqual(f.entries.get("f16")!.shape, [1, n]);
  assert.equal(f.entries.get("f32")!.fileOffset % 8, 0, "data section starts 8-aligned");
  const a = await f.read("f32", "f32");
  assert.deepEqual([...a], [...src]);
  assert.deepEqual([...await f.read("f32", "f16")], [...toF16Bits(src)]);
  const h16 = await f.read("f16", "f16");
  assert.deepEqual([...h16], [...toF16Bits(src)]);
  assert.deepEqual([...await f.read("f16", "f32")], [...h16].map(f16BitsToNumber));
  const b32 = await f.read("bf16", "f32");
  assert.deepEqual([...b32], [...src].map((x) => bf16BitsToNumber(numberToBf16Bits(x))));
  assert.deepEqual([...await f.read("bf16", "f16")], [...toF16Bits(b32)]);
  assert.equal((await f.read("empty")).length, 0);
  await assert.rejects(f.read("nope"), /x\.safetensors: has no tensor "nope"/);
  f.close();
  // Raw Uint16Array data is written as bits.
  await writeSafetensors(path, [{
    name: "h",
    dtype: "F16",
    shape: [2],
    data: new Uint16Array([0x3c00, 0xc000]),
  }]);
  const g = await SafetensorsCheckpoint.open(path);
  assert.deepEqual([...await g.read("h")], [1, -2]);
  g.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeSafetensorsSharded() / SafetensorsCheckpoint: sharded folder round trip", async () => {
  const dir = await tempDir();
  const rng = rngOf(14);
  const tensors = Array.from({ length: 7 }, (_, j) => ({
    name: `t.${j}`,
    dtype: (["F32", "F16", "BF16"] as const)[j % 3],
    shape: [j + 1, 5],
    data: Float32Array.from({ length: (j + 1) * 5 }, () => rng.normal()),
  }));
  const shards = await writeSafetensorsSharded(dir, tensors, { maxShardBytes: 100 });
  assert.ok(shards.length >= 3, `${shards.length} shards`);
  const ck = await SafetensorsCheckpoint.open(dir);
  assert.equal(ck.indexFile, `${dir}/model.safetensors.index.json`);
  assert.deepEqual(ck.names(), tensors.map((t) => t.name));
  let count = 0;
  for await (const t of ck.tensors("f32")) {
    const src = tensors.find((s) => s.name === t.name)!;
    const expect = [...src.data].map((x) =>
      src.dtype === "F32"
        ? Math.fround(x)
        : src.dtype === "F16"
        ? f16BitsToNumber(numberToF16Bits(x))
        : bf16BitsToNumber(numberToBf16Bits(x))
    );
    assert.deepEqual([...t.data], expect, t.name);
    assert.equal(t.fileDtype, src.dtype);
    count++;
  }
  assert.equal(count, 7);
  assert.match(ck.entry("t.6").file, /model-0000\d-of-0000\d\.safetensors$/);
  ck.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SafetensorsFile.open() rejects every malformed file, naming file and tensor", async (t) => {
  const dir = await tempDir();
  const path = `${dir}/bad.safetensors`;
  const w = (b: number, e: number, dtype = "F32", shape = [(e - b) / 4]) => ({
    dtype,
    shape,
    data_offsets: [b, e],
  });
  const cases: [string, () => Promise<void>, RegExp][] = [
    [
      "empty file",
      () => Deno.writeFile(path, new Uint8Array(0)),
      /truncated: 0 bytes, shorter than the 8-byte/,
    ],
    ["5 bytes", () => Deno.writeFile(path, new Uint8Array(5)), /truncated: 5 bytes/],
    [
      "header length beyond the file",
      async () => {
        const b = new Uint8Array(20);
        new DataView(b.buffer).setUint32(0, 1000, true);
        await Deno.writeFile(path, b);
      },
      /header length 1000 runs beyond the end of the file \(12 bytes/,
    ],
    [
      "header length above 2^32",
      async () => {
        const b = new Uint8Array(20);
        new DataView(b.buffer).setUint32(4, 1, true);
        await Deno.writeFile(path, b);
      },
      /header length 4294967296 runs beyond/,
    ],
    [
      "header not JSON",
      () => rawFile(path, null, new Uint8Array(0), "{ nope"),
      /header is not valid JSON/,
    ],
    ["header an array", () => rawFile(path, [], new Uint8Array(0)), /header must be a JSON object/],
    [
      "truncated data",
      () => rawFile(path, { a: w(0, 8), b: w(8, 16) }, new Uint8Array(12)),
      /tensor "b": data_offsets \[8, 16\] exceed the data section of 12 bytes/,
    ],
    [
      "overlapping offsets",
      () => rawFile(path, { a: w(0, 8), b: w(4, 12) }, new Uint8Array(12)),
      /tensor "b": data_offsets \[4, 12\] overlap the previous tensor/,
    ],
    [
      "gap between tensors",
      () => rawFile(path, { a: w(0, 8), b: w(12, 16) }, new Uint8Array(16)),
      /tensor "b": data_offsets \[12, 16\] leave a gap of 4 bytes/,
    ],
    [
      "gap at the start",
      () => rawFile(path, { a: w(4, 8) }, new Uint8Array(8)),
      /tensor "a": .* leave a gap of 4 bytes after offset 0/,
    ],
    [
      "trailing bytes",
      () => rawFile(path, { a: w(0, 8) }, new Uint8Array(12)),
      /data section holds 12 bytes but the tensors cover 8: 4 trailing bytes/,
    ],
    [
      "dtype × shape ≠ byte length",
      () => rawFile(path, { a: w(0, 8, "F32", [3]) }, new Uint8Array(8)),
      /tensor "a": F32 × shape \(3\) is 12 bytes but data_offsets \[0, 8\] hold 8/,
    ],
    [
      "unknown dtype",
      () => rawFile(path, { a: w(0, 8, "F64", [1]) }, new Uint8Array(8)),
      /tensor "a": unsupported dtype "F64"/,
    ],
    [
      "negative extent",
      () => rawFile(path, { a: w(0, 8, "F32", [-2]) }, new Uint8Array(8)),
      /tensor "a": shape must be an array of non-negative integers/,
    ],
    [
      "offsets reversed",
      () => rawFile(path, { a: w(8, 0, "F32", [2]) }, new Uint8Array(8)),
      /tensor "a": data_offsets must be \[begin, end\]/,
    ],
    [
      "duplicate tensor in one header",
      () =>
        rawFile(
          path,
          null,
          new Uint8Array(8),
          '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
        ),
      /tensor "a" appears twice in the header/,
    ],
    [
      "metadata not strings",
      () => rawFile(path, { __metadata__: { n: 3 }, a: w(0, 4) }, new Uint8Array(4)),
      /"__metadata__"\."n" must be a string/,
    ],
  ];
  for (const [name, make, re] of cases) {
    await t.step(name, async () => {
      await make();
      const err = await SafetensorsFile.open(path).then(() => null, (e) => e);
      assert.ok(
        err instanceof SafetensorsError,
        `${name}: expected a SafetensorsError, got ${err}`,
      );
      assert.ok(err.message.startsWith(path), err.message);
      assert.match(err.message, re);
    });
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SafetensorsCheckpoint.open() rejects inconsistent sharded folders", async (t) => {
  const base = await tempDir();
  let k = 0;
  const sharded = async (index: unknown, shards: Record<string, Record<string, number[]>>) => {
    const dir = `${base}/c${k++}`;
    await Deno.mkdir(dir);
    for (const [file, tensors] of Object.entries(shards)) {
      await writeSafetensors(
        `${dir}/${file}`,
        Object.entries(tensors).map(([name, data]) => ({
          name,
          dtype: "F32" as const,
          shape: [data.length],
          data,
        })),
      );
    }
    if (index !== undefined) {
      await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, JSON.stringify(index));
    }
    return dir;
  };
  const cases: [string, () => Promise<string>, RegExp][] = [
    [
      "index names a missing shard",
      () =>
        sharded({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } }, {
          "s1.safetensors": { a: [1] },
        }),
      /model\.safetensors\.index\.json: names shard "s2\.safetensors" \(for tensor "b"/,
    ],
    [
      "tensor absent from its shard",
      () =>
        sharded({ weight_map: { a: "s1.safetensors", b: "s1.safetensors" } }, {
          "s1.safetensors": { a: [1] },
        }),
      /index\.json: tensor "b" is indexed in shard "s1\.safetensors", which does not hold it/,
    ],
    [
      "shard tensor missing from the index",
      () =>
        sharded({ weight_map: { a: "s1.safetensors" } }, { "s1.safetensors": { a: [1], z: [2] } }),
      /s1\.safetensors: tensor "z" is not listed in model\.safetensors\.index\.json/,
    ],
    [
      "tensor in two shards",
      () =>
        sharded({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } }, {
          "s1.safetensors": { a: [1], b: [2] },
          "s2.safetensors": { b: [2] },
        }),
      /s1\.safetensors: tensor "b" also appears in .*s2\.safetensors \(duplicate tensor\)/,
    ],
    [
      "shard path escapes the folder",
      () => sharded({ weight_map: { a: "../s1.safetensors" } }, { "s1.safetensors": { a: [1] } }),
      /tensor "a": shard "\.\.\/s1\.safetensors" must be a file name in the folder/,
    ],
    [
      "index without weight_map",
      () => sharded({ metadata: {} }, { "s1.safetensors": { a: [1] } }),
      /index\.json: "weight_map" must be an object/,
    ],
    [
      "folder without checkpoint files",
      () => sharded(undefined, { "other.safetensors": { a: [1] } }),
      /holds neither model\.safetensors nor model\.safetensors\.index\.json/,
    ],
  ];
  for (const [name, make, re] of cases) {
    await t.step(name, async () => {
      const dir = await make();
      const err = await SafetensorsCheckpoint.open(dir).then(() => null, (e) => e);
      assert.ok(
        err instanceof SafetensorsError,
        `${name}: expected a SafetensorsError, got ${err}`,
      );
      assert.match(err.message, re);
    });
  }
  await t.step("a bad shard header is named with the shard", async () => {
    const dir = await sharded({ weight_map: { a: "s1.safetensors" } }, {
      "s1.safetensors": { a: [1, 2] },
    });
    await Deno.truncate(
      `${dir}/s1.safetensors`,
      (await Deno.stat(`${dir}/s1.safetensors`)).size - 4,
    );
    await assert.rejects(
      SafetensorsCheckpoint.open(dir),
      /s1\.safetensors: tensor "a": data_offsets \[0, 8\] exceed the data section of 4 bytes/,
    );
  });
  await Deno.remove(base, { recursive: true });
});

Deno.test("toF16Bits() and f16ToF32() (native fast path) equal the scalar definitions", () => {
  const rng = rngOf(15);
  const x = Float64Array.from(
    { length: 50_000 },
    () => (rng.uniform() < 0.5 ? -1 : 1) * 2 ** rng.uniform(-27, 17),
  );
  x.set([0, -0, NaN, Infinity, -Infinity, 65519.99, 65520, 2 ** -25, 3 * 2 ** -26], 0);
  const bits = toF16Bits(x);
  for (let j = 0; j < x.length; j++) {
    if (Number.isNaN(x[j])) assert.ok(Number.isNaN(f16BitsToNumber(bits[j])));
    else assert.equal(bits[j], numberToF16Bits(x[j]), `x = ${x[j]}`);
  }
  const all = new Uint16Array(65536).map((_, j) => j);
  const wide = f16ToF32(all);
  for (let h = 0; h < 65536; h++) {
    const v = f16BitsToNumber(h);
    assert.ok(Number.isNaN(v) ? Number.isNaN(wide[h]) : Object.is(wide[h], v), `bits ${h}`);
  }
});
