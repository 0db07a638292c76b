// `deno task demo`: runs every available kernel on a default problem, cross-checks it against the
// float64 reference and prints kernel, shape, max abs error, relative L2 error and time (the sLSTM
// last, with head size DHV; its shape column reads BxNHxSxDH). A float64
// reference row is checked against another reference form, never against itself: recurrent and
// parallel against each other with eps = 0 (the forms differ by the eps term otherwise, SPEC §1),
// chunkwise against recurrent. Exits 1 (after the table) if any kernel threw.
//
// Options (environment): MLSTM_DEMO_SHAPE="B,NH,S,DQK,DHV" (default 1,4,256,64,64),
// MLSTM_DEMO_CHUNK (default 64), MLSTM_DEMO_SEED (default 0).

import * as mlstm from "../mod.ts";
import type { MlstmInputs, MlstmKernel, Tensor } from "../mod.ts";

const [B, NH, S, DQK, DHV] = (Deno.env.get("MLSTM_DEMO_SHAPE") ?? "1,4,256,64,64").split(",").map(
  Number,
);
const chunkSize = Number(Deno.env.get("MLSTM_DEMO_CHUNK") ?? 64);
const seed = Number(Deno.env.get("MLSTM_DEMO_SEED") ?? 0);

const x = mlstm.randomMlstmInputs({ B, NH, S, DQK, DHV }, new mlstm.Random(seed));
/** The baseline of a kernel, and the eps both run with (undefined: the default 1e-6). */
function baselineOf(k: MlstmKernel): { name: string; eps?: number } {
  const sfx = k.inputGate === "sig" ? "_siging" : "";
  if (k.backend === "cpu-float64") {
    // Another reference form: recurrent ↔ parallel at eps = 0, chunkwise → recurrent.
    if (k.form === "recurrent") return { name: `reference--parallel${sfx}`, eps: 0 };
    if (k.form === "parallel") return { name: `reference--recurrent${sfx}`, eps: 0 };
    return { name: `reference--recurrent${sfx}` };
  }
  return { name: `reference--${k.form === "parallel" ? "parallel" : "recurrent"}${sfx}` };
}

/** The step kernel runs one step: feed it the first step of the sequence from zero states. */
function firstStep(inputs: MlstmInputs<Tensor>): MlstmInputs<Tensor> {
  const take = (t: Tensor, inner: number): Tensor => {
    const out = new Float64Array(B * NH * inner);
    for (let bh = 0; bh < B * NH; bh++) {
      out.set(t.data.subarray(bh * S * inner, bh * S * inner + inner), bh * inner);
    }
    return { shape: [B, NH, 1, ...t.shape.slice(3)], data: out };
  };
  return {
    q: take(inputs.q, DQK),
    k: take(inputs.k, DQK),
    v: take(inputs.v, DHV),
    i: take(inputs.i, 1),
    f: take(inputs.f, 1),
  };
}

const rows: string[][] = [];
let noAdapter: string | undefined;
let failed = 0;
const refCache = new Map<string, Tensor>();
console.log(
  `mLSTM demo: B=${B} NH=${NH} S=${S} DQK=${DQK} DHV=${DHV} chunkSize=${chunkSize} seed=${seed}`,
);
for (const name of mlstm.getAvailableMlstmKernels()) {
  const kernel = mlstm.getMlstmKernel(name);
  const inputs = kernel.form === "step" ? firstStep(x) : x;
  const shape = `${B}x${NH}x${inputs.q.shape[2]}x${DQK}/${DHV}`;
  const { name: base, eps } = baselineOf(kernel);
  const baseLabel = eps === undefined ? base : `${base} (eps=${eps})`;
  const refKey = `${base}:${inputs.q.shape[2]}:${eps}`;
  try {
    if (!refCache.has(refKey)) {
      const r = await mlstm.getMlstmKernel(base).forward(inputs, eps === undefined ? {} : { eps });
      refCache.set(refKey, r.h as Tensor);
    }
    const ref = refCache.get(refKey)!;
    const options = eps === undefined ? { chunkSize } : { chunkSize, eps };
    // Warm-up: compiles pipelines (cached), so the timed call measures the kernel path.
    if (kernel.backend === "webgpu") await kernel.forward(inputs, options);
    const t0 = performance.now();
    const out = await kernel.forward(inputs, options);
    const ms = performance.now() - t0;
    const h = "data" in out.h ? out.h : await out.h.read();
    const d = mlstm.deviation(h.data, ref.data);
    rows.push([
      name,
      shape,
      baseLabel,
      d.maxAbs.toExponential(2),
      d.relL2.toExponential(2),
      ms.toFixed(1),
    ]);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // No adapter: the WebGPU kernels are not available here (said below), not failed.
    const unavailable = (e as Error)?.name === "NoAdapterError";
    if (unavailable) noAdapter = msg;
    else failed++;
    const what = unavailable ? "skipped: no WebGPU adapter" : `FAILED: ${msg.split("\n")[0]}`;
    rows.push([name, shape, baseLabel, "-", "-", "-", what.slice(0, 68)]);
  }
}

// The sLSTM (SPEC §8, its own registry): slstm--fused against reference--slstm, head size DHV.
{
  const xs = mlstm.randomSlstmInputs({ B, S, NH, DH: DHV }, new mlstm.Random(seed));
  const shape = `${B}x${NH}x${S}x${DHV}`;
  try {
    const ref = (await mlstm.getSlstmKernel("reference--slstm").forward(xs)).y as Tensor;
    const kernel = mlstm.getSlstmKernel("slstm--fused");
    await kernel.forward(xs);
    const t0 = performance.now();
    const out = await kernel.forward(xs);
    const ms = performance.now() - t0;
    const d = mlstm.deviation((out.y as Tensor).data, ref.data);
    rows.push([
      "slstm--fused",
      shape,
      "reference--slstm",
      d.maxAbs.toExponential(2),
      d.relL2.toExponential(2),
      ms.toFixed(1),
    ]);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const unavailable = (e as Error)?.name === "NoAdapterError";
    if (unavailable) noAdapter = msg;
    else failed++;
    const what = unavailable ? "skipped: no WebGPU adapter" : `FAILED: ${msg.split("\n")[0]}`;
    rows.push(["slstm--fused", shape, "reference--slstm", "-", "-", "-", what.slice(0, 68)]);
  }
}

const header = ["kernel", "shape BxNHxSxDQK/DHV", "reference", "max abs", "rel L2", "ms"];
const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? "").length)));
const line = (r: string[]) =>
  r.map((c, j) => (j < header.length ? c.padEnd(widths[j]) : c)).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(
  "ms: wall time of one forward call after a warm-up, CPU tensors in and out (upload and read-back included).",
);
if (noAdapter) console.log(`\nNo WebGPU adapter: ${noAdapter}`);
if (failed > 0) {
  console.log(`\n${failed} of ${rows.length} kernels failed.`);
  Deno.exit(1);
}
