// Per-dispatch GPU times of the chunkwise forward for a list of cases (A/B tile variants side by
// side), each case timed twice in two passes over the list so that order effects show.
//
//   deno run -A bench/fw_dispatch_times.ts [cases.json]
//
// A case: { kernel, B, NH, S, DQK, DHV, chunk, tiles?, maxHeadsPerGroup?, tag? }; the default list
// is the TFLA shape (B·S = 65,536, NH 16, DQK 128, DHV 256) at S 1024, 4096, 8192.

import { startProfiling } from "../profiling/profiler.ts";
import { benchInputs, disposeInputs, disposeResult, kernelTarget } from "./_kernels.ts";
import { releaseKernelScratch } from "./_kernels.ts";

interface Case {
  kernel: string;
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  chunk: number;
  tiles?: unknown;
  maxHeadsPerGroup?: number;
  normalize?: boolean;
  tag?: string;
}

const tfla = (kernel: string, S: number, chunk: number, extra: Partial<Case> = {}): Case => ({
  kernel,
  B: 65536 / S,
  NH: 16,
  S,
  DQK: 128,
  DHV: 256,
  chunk,
  ...extra,
});

const cases: Case[] = Deno.args[0]
  ? JSON.parse(await Deno.readTextFile(Deno.args[0]))
  : [1024, 4096, 8192].flatMap((S) => [
    tfla("chunkwise--xl_chunk", S, 64),
    tfla("chunkwise--xl_chunk", S, 128),
    tfla("chunkwise--xl_chunk", S, 256),
  ]);
const passes = Number(Deno.env.get("FW_PASSES") ?? "2");
const calls = Number(Deno.env.get("FW_CALLS") ?? "3");

for (let pass = 0; pass < passes; pass++) {
  const order = pass % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) {
    const t = await kernelTarget(c.kernel);
    const gpu = t.gpu!;
    releaseKernelScratch(gpu);
    const x = t.upload(benchInputs(c, 0, { float64: false, withStates: false }), "f32");
    const opts = {
      chunkSize: c.chunk,
      ...(c.tiles ? { tiles: c.tiles } : {}),
      ...(c.maxHeadsPerGroup ? { maxHeadsPerGroup: c.maxHeadsPerGroup } : {}),
      ...(c.normalize !== undefined ? { normalize: c.normalize } : {}),
    };
    const call = async () => disposeResult(await t.kernel.forward(x, opts));
    const tag = `${c.kernel.replace("chunkwise--", "")} S=${c.S} L=${c.chunk}${
      c.tag ? " " + c.tag : ""
    }`;
    try {
      await call();
      await t.sync();
      // Per dispatch (each its own pass).
      const p = startProfiling(gpu);
      for (let j = 0; j < calls; j++) await call();
      await t.sync();
      const rep = await p.stop();
      const per = new Map<string, number[]>();
      for (const r of rep.records) {
        const key = r.label.replace(/^chunkwise--\S+ /, "") + ` [${r.workgroups.join("x")}]`;
        per.set(key, [...(per.get(key) ?? []), r.gpuMs]);
      }
      // Whole call, runtime's own single pass.
      const q = startProfiling(gpu, { granularity: "pass" });
      for (let j = 0; j < calls; j++) await call();
      await t.sync();
      const rq = await q.stop();
      const total = rq.records.reduce((a, r) => a + r.gpuMs, 0) / calls;
      const parts = [...per.entries()].map(([k, v]) =>
        `${k}: ${(v.reduce((a, b) => a + b, 0) / calls).toFixed(3)}`
      );
      console.log(`pass${pass} ${tag}: total ${total.toFixed(3)} ms | ${parts.join(" | ")}`);
    } catch (e) {
      console.log(`pass${pass} ${tag}: error ${(e as Error).message.split("\n")[0]}`);
    } finally {
      await t.sync().catch(() => {});
      disposeInputs(x);
    }
  }
}
Deno.exit(0);
