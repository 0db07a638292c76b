// Interleaved A/B timing of chunkwise forward variants (tile options) on one shape at a time:
// the variants take turns call by call, so that a GPU shared with other work (time-slicing,
// which stretched timestamps up to 2x in our H200 runs) affects them alike. Prints per variant
// the min and median GPU time of a call (timestamps on the runtime's own pass) and one
// per-dispatch split.
//
//   deno run -A bench/fw_ab.ts cases.json        # [{ shape..., chunk, kernel?, variants: {tag: options} }]

import { startProfiling } from "../profiling/profiler.ts";
import { benchInputs, disposeInputs, disposeResult, kernelTarget } from "./_kernels.ts";
import { releaseKernelScratch } from "./_kernels.ts";

interface AbCase {
  kernel?: string;
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  chunk: number;
  normalize?: boolean;
  variants: Record<string, Record<string, unknown>>;
}

const cases: AbCase[] = JSON.parse(await Deno.readTextFile(Deno.args[0]!));
const rounds = Number(Deno.env.get("AB_ROUNDS") ?? "6");
const q = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

for (const c of cases) {
  const kernel = c.kernel ?? "chunkwise--xl_chunk";
  const t = await kernelTarget(kernel);
  const gpu = t.gpu!;
  releaseKernelScratch(gpu);
  const x = t.upload(benchInputs(c, 0, { float64: false, withStates: false }), "f32");
  const tags = Object.keys(c.variants);
  const optsOf = (tag: string) => ({
    chunkSize: c.chunk,
    ...(c.normalize !== undefined ? { normalize: c.normalize } : {}),
    ...c.variants[tag],
  });
  const call = async (tag: string) => disposeResult(await t.kernel.forward(x, optsOf(tag)));
  const times = new Map<string, number[]>(tags.map((k) => [k, []]));
  const split = new Map<string, string>();
  try {
    for (const tag of tags) await call(tag);
    await t.sync();
    for (const tag of tags) {
      const p = startProfiling(gpu);
      await call(tag);
      await t.sync();
      const rep = await p.stop();
      const per = new Map<string, number>();
      for (const r of rep.records) {
        const key = r.label.replace(/^chunkwise--\S+ /, "");
        per.set(key, (per.get(key) ?? 0) + r.gpuMs);
      }
      split.set(tag, [...per].map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", "));
    }
    const p = startProfiling(gpu, { granularity: "pass" });
    const ranges: [string, number, number][] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...tags].reverse() : tags;
      for (const tag of order) {
        const s0 = p.dispatchCount;
        await call(tag);
        ranges.push([tag, s0, p.dispatchCount]);
      }
      await t.sync();
    }
    const rep = await p.stop();
    for (const [tag, a, b] of ranges) {
      let s = 0;
      for (let j = a; j < b; j++) s += rep.records[j]!.gpuMs;
      times.get(tag)!.push(s);
    }
    for (const tag of tags) {
      const v = times.get(tag)!;
      console.log(
        `${kernel.replace("chunkwise--", "")} S=${c.S} L=${c.chunk} ${tag}: min ${
          Math.min(...v).toFixed(2)
        } med ${q(v, 0.5).toFixed(2)} ms | split ${split.get(tag)}`,
      );
    }
  } catch (e) {
    console.log(`${kernel} S=${c.S} L=${c.chunk}: error ${(e as Error).message.split("\n")[0]}`);
  } finally {
    await t.sync().catch(() => {});
    disposeInputs(x);
  }
}
Deno.exit(0);
