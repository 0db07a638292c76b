// sLSTM speed and accuracy on the GPU (a benchmark, not a test): `slstm--fused` forward and
// backward at B 16, S 1024, NH 4 with DH 64 / 128 / 256 (the shapes) and at FlashRNN's
// head-dimension shapes (NH·DH = 768: (12, 64), (6, 128), (3, 256); arXiv 2412.07752), timed with
// GPU timestamp queries (the profiler, one compute pass per dispatch), every r placement that fits;
// then the accuracy at S 1024 against the float64 reference; and the inputs and reference results
// of a small case for an independent float64 autograd check in PyTorch (bench/slstm_torch.py).
//
//   OUT=dir deno run -A bench/slstm_gpu.ts [--tiny]
//
// Writes $OUT/slstm_webgpu.csv (one row per kernel call and placement: GPU ms per dispatch and in
// all, µs per time step, TFLOP/s and the fraction of a 50 TFLOP/s f32 FMA rate),
// $OUT/slstm_accuracy.csv, $OUT/slstm_case.json + slstm_case.f64. `--tiny` runs small shapes
// (lavapipe). bench/slstm_gpu.sh runs this, the PyTorch loop and the tests in one command.

import {
  GpuTensor,
  randomSlstmInputs,
  randomTensor,
  slstmBackwardReference,
  type SlstmInputs,
  slstmReference,
  type SlstmRStorage,
  type Tensor,
  toFloat32,
  toFloat64,
} from "../mod.ts";
import {
  setSlstmMaxSlice,
  slstmBackwardWebGpu,
  slstmForwardWebGpu,
  slstmLoopParams,
} from "../kernels/slstm/mod.ts";
import { getGpu } from "../kernels/runtime.ts";
import { Profiler } from "../profiling/profiler.ts";
import { deviation } from "../core/metrics.ts";
import { Random } from "../core/random.ts";

const tiny = Deno.args.includes("--tiny");
const OUT = Deno.env.get("OUT") ?? "bench_outputs/slstm";
Deno.mkdirSync(OUT, { recursive: true });
/** The f32 FMA rate the fractions refer to (H100/H200: 48–54 TFLOP/s measured, ENVIRONMENT.md). */
const PEAK_TFLOPS = 50;
const REPS = tiny ? 2 : 5;

const gpu = await getGpu();
console.log(`device: ${gpu.adapterName}`);

type Shape = { B: number; S: number; NH: number; DH: number; set: string };
const shapes: Shape[] = tiny
  ? [
    { B: 2, S: 16, NH: 2, DH: 16, set: "issue" },
    { B: 2, S: 16, NH: 2, DH: 40, set: "issue" },
  ]
  : [
    ...[64, 128, 256].map((DH) => ({ B: 16, S: 1024, NH: 4, DH, set: "issue" })),
    ...[[12, 64], [6, 128], [3, 256]].map(([NH, DH]) => ({
      B: 16,
      S: 1024,
      NH: NH!,
      DH: DH!,
      set: "flashrnn-768",
    })),
  ];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: string[] = [
  "impl,set,B,S,NH,DH,dtype,r_storage,P,call,fw_loop_ms,bw_loop_ms,dr_ms,total_ms,us_per_step,useful_gflop,tflops,fma_fraction,workgroups,fw_step_gflops_per_workgroup",
];

function placements(s: Shape): SlstmRStorage[] {
  const out: SlstmRStorage[] = [];
  const all = ["registers", "workgroup", "workgroup-f16", "global", "global-f16"] as const;
  for (const r of gpu.hasF16 ? all : all.filter((a) => !a.endsWith("f16"))) {
    try {
      slstmLoopParams(gpu.limits, s.NH, s.DH, "f32", r, true);
      out.push(r);
    } catch { /* does not fit this device */ }
  }
  return out;
}

for (const s of shapes) {
  const x = randomSlstmInputs({ ...s }, new Random(s.DH));
  const dyCpu = randomTensor([s.B, s.S, s.NH, s.DH], new Random(s.DH + 1));
  for (const dtype of ["f32", "f16"] as const) {
    if (dtype === "f16" && !gpu.hasF16) continue;
    const dev = Object.fromEntries(
      Object.entries(x).map((
        [k, t],
      ) => [k, GpuTensor.fromTensor(gpu, t as Tensor, k === "wx" ? dtype : "f32")]),
    ) as unknown as SlstmInputs<GpuTensor>;
    const dy = GpuTensor.fromTensor(gpu, dyCpu, dtype);
    // f32: every placement that fits; f16 storage: the automatic choice only.
    // Threads per state element P: every distinct choice of the slice limit (f32), default (f16).
    const variants: { asked: SlstmRStorage; slice: number }[] = [];
    for (const asked of dtype === "f32" ? placements(s) : ["auto" as const]) {
      const seen = new Set<number>();
      for (const slice of dtype === "f32" ? [4, 16, 64] : [16]) {
        setSlstmMaxSlice(slice);
        try {
          const P = slstmLoopParams(gpu.limits, s.NH, s.DH, dtype, asked, true).P;
          if (!seen.has(P)) seen.add(P), variants.push({ asked, slice });
        } catch { /* this P does not suit the placement */ }
      }
    }
    for (const { asked, slice } of variants) {
      setSlstmMaxSlice(slice);
      const lp = slstmLoopParams(gpu.limits, s.NH, s.DH, dtype, asked, true);
      const [P, rStorage] = [lp.P, lp.place];
      const opts = { rStorage: asked };
      const free = (o: object) => Object.values(o).forEach((t) => (t as GpuTensor).destroy());
      let report;
      const calls: { call: "fw" | "bw"; from: number; to: number }[] = [];
      try {
        // Warm-up: pipelines compiled, buffers pooled.
        free(await slstmForwardWebGpu(dev, opts));
        free(await slstmBackwardWebGpu(dev, dy, opts));
        const prof = new Profiler(gpu);
        try {
          for (let r = 0; r < REPS; r++) {
            let from = prof.dispatchCount;
            const fw = await slstmForwardWebGpu(dev, opts);
            calls.push({ call: "fw", from, to: prof.dispatchCount });
            free(fw);
            from = prof.dispatchCount;
            const g = await slstmBackwardWebGpu(dev, dy, opts);
            calls.push({ call: "bw", from, to: prof.dispatchCount });
            free(g);
          }
        } finally {
          report = await prof.stop();
        }
      } catch (e) {
        // One variant failing (e.g. a pipeline the driver refuses) must not lose the others.
        console.error(`${s.set} NH ${s.NH} DH ${s.DH} ${dtype} ${rStorage} P ${P}: ${e}`);
        rows.push(
          [
            `webgpu slstm--fused (error: ${String(e).replace(/[,\n]/g, " ").slice(0, 200)})`,
            s.set,
            s.B,
            s.S,
            s.NH,
            s.DH,
            dtype,
            rStorage,
            P,
          ]
            .join(","),
        );
        continue;
      }
      const part = (c: { from: number; to: number }, tag: string) =>
        report.records.slice(c.from, c.to).filter((d) => d.label.includes(tag)).reduce(
          (a, d) => a + d.gpuMs,
          0,
        );
      const fwFlop = 8 * s.DH * s.DH * s.B * s.NH * s.S;
      const emit = (call: string, fwMs: number, bwMs: number, drMs: number, useful: number) => {
        const total = fwMs + bwMs + drMs;
        const tflops = useful / (total * 1e-3) / 1e12;
        rows.push(
          [
            "webgpu slstm--fused",
            s.set,
            s.B,
            s.S,
            s.NH,
            s.DH,
            dtype,
            rStorage,
            P,
            call,
            fwMs.toFixed(4),
            bwMs.toFixed(4),
            drMs.toFixed(4),
            total.toFixed(4),
            ((fwMs + bwMs) * 1e3 / s.S).toFixed(3),
            (useful / 1e9).toFixed(3),
            tflops.toFixed(3),
            (tflops / PEAK_TFLOPS).toFixed(4),
            s.B * s.NH,
            // One workgroup (one SM) per (batch, head) runs the forward loop: its own rate, to set
            // against an SM's share of the FMA rate (50 TFLOP/s / 132 SMs ≈ 380 GFLOP/s).
            fwMs > 0 ? (8 * s.DH * s.DH * s.S / (fwMs * 1e-3) / 1e9).toFixed(2) : "",
          ].join(","),
        );
        console.log(
          `${s.set} NH ${s.NH} DH ${s.DH} ${dtype} ${rStorage} P ${P} ${call}: ${
            total.toFixed(3)
          } ms (${((fwMs + bwMs) * 1e3 / s.S).toFixed(2)} µs/step), ${tflops.toFixed(2)} TFLOP/s`,
        );
      };
      const fwCalls = calls.filter((c) => c.call === "fw");
      const bwCalls = calls.filter((c) => c.call === "bw");
      // The copies of r (f16, transposed) count with the loops: forward call, backward call.
      const fwMs = median(fwCalls.map((c) => part(c, ":fw:") + part(c, ":r_copy")));
      const bwFw = median(bwCalls.map((c) => part(c, ":fw:")));
      const bwLoop = median(bwCalls.map((c) => part(c, ":bw:") + part(c, ":r_copy")));
      const dr = median(bwCalls.map((c) => part(c, ":dr")));
      emit("forward", fwMs, 0, 0, fwFlop);
      // The backward call reruns the forward (writing the trace); useful work: dy·Rᵀ and dR.
      emit("backward", bwFw, bwLoop, dr, 2 * fwFlop);
      emit("forward+backward", fwMs + bwFw, bwLoop, dr, 3 * fwFlop);
    }
    setSlstmMaxSlice(null);
    for (const t of [...Object.values(dev), dy]) (t as GpuTensor).destroy();
  }
}
Deno.writeTextFileSync(`${OUT}/slstm_webgpu.csv`, rows.join("\n") + "\n");
console.log(`wrote ${OUT}/slstm_webgpu.csv`);

// Accuracy at S 1024 (tiny: 24) against the float64 reference, per head size and storage type.
const acc = ["B,S,NH,DH,dtype,r_storage,output,max_abs,rel_l2,p99"];
const r32 = (t: Tensor) => toFloat64(toFloat32(t));
const F16 = (globalThis as unknown as { Float16Array: Float32ArrayConstructor }).Float16Array;
const r16 = (t: Tensor) => ({ shape: [...t.shape], data: Float64Array.from(F16.from(t.data)) });
for (const DH of tiny ? [16, 40] : [64, 128, 256]) {
  const dims = { B: 1, S: tiny ? 24 : 1024, NH: 2, DH, states: true };
  for (const dtype of ["f32", "f16"] as const) {
    if (dtype === "f16" && !gpu.hasF16) continue;
    const raw = randomSlstmInputs(dims, new Random(1000 + DH));
    const x = Object.fromEntries(
      Object.entries(raw).map((
        [k, t],
      ) => [k, k === "wx" && dtype === "f16" ? r16(t as Tensor) : r32(t as Tensor)]),
    ) as unknown as SlstmInputs<Tensor>;
    const dyRaw = randomTensor([1, dims.S, 2, DH], new Random(2000 + DH));
    const dy = dtype === "f16" ? r16(dyRaw) : r32(dyRaw);
    const ref = await slstmReference(x, { returnLastStates: true });
    const gref = await slstmBackwardReference(x, dy);
    const fw = await slstmForwardWebGpu(x, { dtype, returnLastStates: true });
    const g = await slstmBackwardWebGpu(x, dy, { dtype });
    const pairs: [string, Tensor, Tensor][] = [
      ["y", fw.y as Tensor, ref.y as Tensor],
      ["last.c", fw.last!.c as Tensor, ref.last!.c as Tensor],
      ["last.n", fw.last!.n as Tensor, ref.last!.n as Tensor],
      ["last.m", fw.last!.m as Tensor, ref.last!.m as Tensor],
      ...(["dwx", "dr", "dbias", "dyInitial", "dcInitial", "dnInitial", "dmInitial"] as const).map((
        k,
      ) => [k, g[k] as Tensor, gref[k] as Tensor] as [string, Tensor, Tensor]),
    ];
    const place = slstmLoopParams(gpu.limits, 2, DH, dtype, "auto", true).place;
    for (const [name, out, r] of pairs) {
      const d = deviation(out.data, r.data);
      acc.push(
        [
          1,
          dims.S,
          2,
          DH,
          dtype,
          place,
          name,
          d.maxAbs.toExponential(3),
          d.relL2.toExponential(3),
          d.p99.toExponential(3),
        ]
          .join(","),
      );
      console.log(`accuracy DH ${DH} ${dtype} ${name}: rel L2 ${d.relL2.toExponential(2)}`);
    }
  }
}
Deno.writeTextFileSync(`${OUT}/slstm_accuracy.csv`, acc.join("\n") + "\n");

// A small case for bench/slstm_torch.py's independent float64 autograd check: inputs, dy and the
// reference's y and gradients, as float64 in one file, described by a JSON header.
{
  const c = { B: 2, S: 37, NH: 2, DH: 12, states: true, iMean: 2 };
  const x = randomSlstmInputs(c, new Random(77)) as Required<SlstmInputs<Tensor>>;
  const dy = randomTensor([c.B, c.S, c.NH, c.DH], new Random(78));
  const ref = await slstmReference(x, { returnLastStates: true });
  const g = await slstmBackwardReference(x, dy);
  const named: [string, Tensor][] = [
    ["wx", x.wx],
    ["r", x.r],
    ["bias", x.bias],
    ["yInitial", x.yInitial],
    ["cInitial", x.cInitial],
    ["nInitial", x.nInitial],
    ["mInitial", x.mInitial],
    ["dy", dy],
    ["y", ref.y as Tensor],
    ...Object.entries(g).map(([k, t]) => [k, t as Tensor] as [string, Tensor]),
  ];
  const entries = named.map(([name, t]) => ({ name, shape: t.shape }));
  const total = named.reduce((a, [, t]) => a + t.data.length, 0);
  const data = new Float64Array(total);
  let off = 0;
  for (const [, t] of named) data.set(t.data, off), (off += t.data.length);
  Deno.writeTextFileSync(`${OUT}/slstm_case.json`, JSON.stringify({ entries }, null, 1));
  Deno.writeFileSync(`${OUT}/slstm_case.f64`, new Uint8Array(data.buffer));
}
console.log(`wrote ${OUT}/slstm_accuracy.csv, ${OUT}/slstm_case.json, ${OUT}/slstm_case.f64`);
