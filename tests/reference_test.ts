// The float64 references checked against each other (recurrent = parallel = chunkwise), against
// state passing, and their backward passes against central finite differences.

import assert from "node:assert/strict";
import {
  getMlstmKernel,
  type InputGate,
  type MlstmInputs,
  type MlstmOptions,
  mlstmStepReference,
  randomMlstmInputs,
  randomTensor,
  sliceMlstmInputs,
  sliceSequence,
  type Tensor,
} from "../mod.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { rngOf } from "./_seed.ts";

type Inputs = MlstmInputs<Tensor>;
const sfx = (gate: InputGate) => (gate === "sig" ? "_siging" : "");
const dimsOf = (x: Inputs) => ({
  B: x.q.shape[0],
  NH: x.q.shape[1],
  S: x.q.shape[2],
  DQK: x.q.shape[3],
  DHV: x.v.shape[3],
});

async function fw(form: string, gate: InputGate, x: Inputs, o: MlstmOptions = {}) {
  const r = await getMlstmKernel(`reference--${form}${sfx(gate)}`).forward(x, o);
  return r as { h: Tensor; last?: { c: Tensor; n: Tensor; m: Tensor } };
}

function compare(
  test: string,
  kernel: string,
  baseline: string,
  output: string,
  x: Inputs,
  out: Tensor,
  ref: Tensor,
  tolerance: number,
  chunkSize?: number,
) {
  assertDeviation(
    { test, kernel, baseline, output, dims: dimsOf(x), dtype: "f64", tolerance, chunkSize },
    out.data,
    ref.data,
  );
}

const variants: { gate: InputGate; normalize: boolean }[] = [
  { gate: "exp", normalize: true },
  { gate: "sig", normalize: true },
  { gate: "sig", normalize: false },
];
const vname = (v: { gate: InputGate; normalize: boolean }) =>
  `${v.gate}${v.normalize ? "" : "-unnormalized"}`;

Deno.test("reference forms agree: recurrent = parallel = chunkwise (eps = 0)", async (t) => {
  const shapes = [
    { B: 1, NH: 1, S: 1, DQK: 4, DHV: 4, L: 4 },
    { B: 2, NH: 3, S: 7, DQK: 5, DHV: 3, L: 3 },
    { B: 1, NH: 2, S: 100, DQK: 8, DHV: 12, L: 16 },
    { B: 1, NH: 1, S: 257, DQK: 6, DHV: 4, L: 64 },
  ];
  for (const v of variants) {
    for (const s of shapes) {
      await t.step(`${vname(v)} S=${s.S} L=${s.L}`, async () => {
        const x = randomMlstmInputs(s, rngOf(1000 + s.S));
        const o = { eps: 0, normalize: v.normalize };
        const rec = await fw("recurrent", v.gate, x, o);
        const par = await fw("parallel", v.gate, x, o);
        const chk = await fw("chunkwise", v.gate, x, { ...o, chunkSize: s.L });
        const name = `forms agree ${vname(v)}`;
        const k = (f: string) => `reference--${f}${sfx(v.gate)}`;
        compare(name, k("parallel"), k("recurrent"), "h", x, par.h, rec.h, 1e-12);
        compare(name, k("chunkwise"), k("recurrent"), "h", x, chk.h, rec.h, 1e-12, s.L);
      });
    }
  }
});

Deno.test("reference forms agree with the default eps: chunkwise exactly, parallel to ~1e-9", async () => {
  const x = randomMlstmInputs({ B: 1, NH: 2, S: 33, DQK: 8, DHV: 8 }, rngOf(7));
  const rec = await fw("recurrent", "exp", x);
  const chk = await fw("chunkwise", "exp", x, { chunkSize: 5 });
  const par = await fw("parallel", "exp", x);
  compare(
    "default eps",
    "reference--chunkwise",
    "reference--recurrent",
    "h",
    x,
    chk.h,
    rec.h,
    1e-12,
    5,
  );
  // The forms differ only through eps·exp(m) (SPEC §1): the parallel m lacks the initial term.
  compare("default eps", "reference--parallel", "reference--recurrent", "h", x, par.h, rec.h, 1e-7);
});

Deno.test("reference chunkwise last states equal recurrent last states, with initial states", async (t) => {
  for (const v of variants) {
    await t.step(vname(v), async () => {
      const x = randomMlstmInputs(
        { B: 2, NH: 2, S: 23, DQK: 6, DHV: 5, withInitialStates: true },
        rngOf(31),
      );
      const o = { normalize: v.normalize, returnLastStates: true };
      const rec = await fw("recurrent", v.gate, x, o);
      for (const L of [1, 4, 8, 23, 64]) {
        const chk = await fw("chunkwise", v.gate, x, { ...o, chunkSize: L });
        const k = `reference--chunkwise${sfx(v.gate)}`, b = `reference--recurrent${sfx(v.gate)}`;
        compare(`last states ${vname(v)}`, k, b, "h", x, chk.h, rec.h, 1e-12, L);
        compare(`last states ${vname(v)}`, k, b, "c", x, chk.last!.c, rec.last!.c, 1e-12, L);
        compare(`last states ${vname(v)}`, k, b, "n", x, chk.last!.n, rec.last!.n, 1e-12, L);
        compare(`last states ${vname(v)}`, k, b, "m", x, chk.last!.m, rec.last!.m, 1e-12, L);
      }
    });
  }
});

Deno.test("reference chunkwise with chunkSize far above S sizes its buffers by S", async (t) => {
  // chunkSize 1e5 once allocated 1e5 × 1e5 float64 ("Array buffer allocation failed").
  for (const v of variants) {
    await t.step(vname(v), async () => {
      const x = randomMlstmInputs(
        { B: 2, NH: 1, S: 5, DQK: 3, DHV: 4, withInitialStates: true },
        rngOf(33),
      );
      const o = { normalize: v.normalize, returnLastStates: true };
      const rec = await fw("recurrent", v.gate, x, o);
      for (const L of [1e5, 2 ** 31 - 1]) {
        const chk = await fw("chunkwise", v.gate, x, { ...o, chunkSize: L });
        const k = `reference--chunkwise${sfx(v.gate)}`, b = `reference--recurrent${sfx(v.gate)}`;
        const name = `chunkSize >> S ${vname(v)}`;
        compare(name, k, b, "h", x, chk.h, rec.h, 1e-12, L);
        for (const s of ["c", "n", "m"] as const) {
          compare(name, k, b, s, x, chk.last![s], rec.last![s], 1e-12, L);
        }
      }
    });
  }
});

Deno.test("mlstmStepReference() stepped S times equals mlstmRecurrentReference (h, last states)", async (t) => {
  for (const v of variants) {
    for (const withStates of [false, true]) {
      await t.step(`${vname(v)}${withStates ? " with initial states" : ""}`, async () => {
        const B = 2, NH = 3, S = 9, DQK = 5, DHV = 4;
        const x = randomMlstmInputs(
          { B, NH, S, DQK, DHV, withInitialStates: withStates },
          rngOf(51),
        );
        const o = { normalize: v.normalize, returnLastStates: true };
        const rec = await fw("recurrent", v.gate, x, o);
        const at = (tt: Tensor, s: number, D: number): Tensor => {
          const out = new Float64Array(B * NH * D);
          for (let bh = 0; bh < B * NH; bh++) {
            out.set(tt.data.subarray((bh * S + s) * D, (bh * S + s + 1) * D), bh * D);
          }
          return { shape: D === 1 ? [B, NH] : [B, NH, D], data: out };
        };
        let c: Tensor = x.cInitial ??
          { shape: [B, NH, DQK, DHV], data: new Float64Array(B * NH * DQK * DHV) };
        let n: Tensor = x.nInitial ?? { shape: [B, NH, DQK], data: new Float64Array(B * NH * DQK) };
        let m: Tensor = x.mInitial ?? { shape: [B, NH], data: new Float64Array(B * NH) };
        const h = new Float64Array(B * NH * S * DHV);
        for (let s = 0; s < S; s++) {
          const r = mlstmStepReference(
            {
              q: at(x.q, s, DQK),
              k: at(x.k, s, DQK),
              v: at(x.v, s, DHV),
              i: at(x.i, s, 1),
              f: at(x.f, s, 1),
              c,
              n,
              m,
            },
            { normalize: v.normalize },
            v.gate,
          );
          for (let bh = 0; bh < B * NH; bh++) {
            h.set(r.h.data.subarray(bh * DHV, (bh + 1) * DHV), (bh * S + s) * DHV);
          }
          ({ c, n, m } = r);
        }
        const name = `step stepped ${vname(v)}${withStates ? " states" : ""}`;
        const k = "mlstmStepReference (stepped)", b = `reference--recurrent${sfx(v.gate)}`;
        compare(name, k, b, "h", x, { shape: rec.h.shape, data: h }, rec.h, 1e-14);
        compare(name, k, b, "c", x, c, rec.last!.c, 1e-14);
        compare(name, k, b, "n", x, n, rec.last!.n, 1e-14);
        compare(name, k, b, "m", x, m, rec.last!.m, 1e-14);
      });
    }
  }
});

Deno.test("mlstmStepReference() checks every argument's rank and shape, naming it", async (t) => {
  const z = (...s: number[]): Tensor => ({
    shape: s,
    data: new Float64Array(s.reduce((a, b) => a * b, 1)),
  });
  const good = () => ({
    q: z(2, 3, 4),
    k: z(2, 3, 4),
    v: z(2, 3, 6),
    i: z(2, 3),
    f: z(2, 3, 1),
    c: z(2, 3, 4, 6),
    n: z(2, 3, 4),
    m: z(2, 3),
  });
  const cases: [string, Record<string, Tensor | undefined>, string][] = [
    [
      "i of shape (3, 2) for B = 2, NH = 3",
      { i: z(3, 2) },
      "Argument i must have shape (B, NH) = (2, 3) or (B, NH, 1), received (3, 2)",
    ],
    [
      "q of shape (2, 3, 4) with 5 elements",
      { q: { shape: [2, 3, 4], data: new Float64Array(5) } },
      "Argument q has shape (2, 3, 4) (24 elements) but its data holds 5 elements",
    ],
    [
      "q of rank 4",
      { q: z(2, 3, 1, 4) },
      "Argument q must have rank 3 (B, NH, DQK), received shape (2, 3, 1, 4)",
    ],
    [
      "k with another DQK",
      { k: z(2, 3, 5) },
      "Argument k must have shape (B, NH, DQK) = (2, 3, 4), received (2, 3, 5)",
    ],
    [
      "v of rank 2",
      { v: z(6, 6) },
      "Argument v must have rank 3 (B, NH, DHV), received shape (6, 6)",
    ],
    [
      "v with another NH",
      { v: z(2, 2, 6) },
      "Argument v must have shape (B, NH, DHV) = (2, 3, 6), received (2, 2, 6)",
    ],
    [
      "c transposed",
      { c: z(2, 3, 6, 4) },
      "Argument c must have shape (B, NH, DQK, DHV) = (2, 3, 4, 6), received (2, 3, 6, 4)",
    ],
    [
      "n with another B",
      { n: z(1, 3, 4) },
      "Argument n must have shape (B, NH, DQK) = (2, 3, 4), received (1, 3, 4)",
    ],
    [
      "f of shape (2, 3, 2)",
      { f: z(2, 3, 2) },
      "Argument f must have shape (B, NH) = (2, 3) or (B, NH, 1), received (2, 3, 2)",
    ],
    [
      "m of shape (6)",
      { m: z(6) },
      "Argument m must have shape (B, NH) = (2, 3) or (B, NH, 1), received (6)",
    ],
    [
      "m missing",
      { m: undefined },
      "Argument m is missing: a step needs q, k, v, i, f, c, n and m",
    ],
  ];
  for (const [name, change, message] of cases) {
    await t.step(name, () => {
      const x = { ...good(), ...change } as Parameters<typeof mlstmStepReference>[0];
      assert.throws(() => mlstmStepReference(x), { message });
    });
  }
  assert.deepEqual(mlstmStepReference(good()).h.shape, [2, 3, 6]);
});

Deno.test("reference state passing: a sequence split in two equals the whole", async (t) => {
  for (const v of variants) {
    for (const form of ["recurrent", "chunkwise"]) {
      await t.step(`${form} ${vname(v)}`, async () => {
        const x = randomMlstmInputs({ B: 2, NH: 2, S: 29, DQK: 5, DHV: 7 }, rngOf(77));
        const o = { normalize: v.normalize, returnLastStates: true, chunkSize: 4 };
        const whole = await fw(form, v.gate, x, o);
        const cut = 11;
        const part = (a: number, b: number) => sliceMlstmInputs(x, a, b);
        const first = await fw(form, v.gate, part(0, cut), o);
        const second = await fw(form, v.gate, {
          ...part(cut, 29),
          cInitial: first.last!.c,
          nInitial: first.last!.n,
          mInitial: first.last!.m,
        }, o);
        const k = `reference--${form}${sfx(v.gate)}`;
        compare(
          `split ${vname(v)}`,
          k,
          k,
          "h[:11]",
          x,
          first.h,
          sliceSequence(whole.h, 0, cut),
          1e-12,
          4,
        );
        compare(
          `split ${vname(v)}`,
          k,
          k,
          "h[11:]",
          x,
          second.h,
          sliceSequence(whole.h, cut, 29),
          1e-12,
          4,
        );
        compare(`split ${vname(v)}`, k, k, "c", x, second.last!.c, whole.last!.c, 1e-12, 4);
        compare(`split ${vname(v)}`, k, k, "n", x, second.last!.n, whole.last!.n, 1e-12, 4);
        compare(`split ${vname(v)}`, k, k, "m", x, second.last!.m, whole.last!.m, 1e-12, 4);
      });
    }
  }
});

Deno.test("reference hot gates stay finite and the forms agree", async (t) => {
  const cases = [
    { name: "input gate +20", iMean: 20, fMean: 3 },
    { name: "forget gate -10", iMean: 0, fMean: -10 },
    { name: "forget gate +10", iMean: 0, fMean: 10 },
    { name: "input +20, forget -10", iMean: 20, fMean: -10 },
  ];
  for (const v of variants) {
    for (const c of cases) {
      await t.step(`${vname(v)} ${c.name}`, async () => {
        const x = randomMlstmInputs(
          { B: 1, NH: 2, S: 40, DQK: 6, DHV: 5, iMean: c.iMean, fMean: c.fMean, gateStd: 2 },
          rngOf(5),
        );
        const o = { normalize: v.normalize, eps: 0, checkFinite: true };
        const rec = await fw("recurrent", v.gate, x, o);
        const par = await fw("parallel", v.gate, x, o);
        const chk = await fw("chunkwise", v.gate, x, { ...o, chunkSize: 7 });
        const k = (f: string) => `reference--${f}${sfx(v.gate)}`;
        const name = `hot gates ${vname(v)} ${c.name}`;
        compare(name, k("parallel"), k("recurrent"), "h", x, par.h, rec.h, 1e-11);
        compare(name, k("chunkwise"), k("recurrent"), "h", x, chk.h, rec.h, 1e-11, 7);
        const dh = randomTensor(rec.h.shape, rngOf(6));
        const gp = await getMlstmKernel(k("parallel")).backward!(x, dh, o);
        const gr = await getMlstmKernel(k("recurrent")).backward!(x, dh, o);
        for (const g of ["dq", "dk", "dv", "di", "df"] as const) {
          compare(
            name,
            k("parallel"),
            k("recurrent"),
            g,
            x,
            gp[g] as Tensor,
            gr[g] as Tensor,
            1e-9,
          );
        }
      });
    }
  }
});

// mlstmChunkwiseBackwardReference delegates to mlstmRecurrentBackwardReference (the chunkwise form
// computes the same function): the chunkwise backward tests below test that one function.
const bwForm = (form: string) =>
  form === "chunkwise" ? "chunkwise (= recurrent backward, delegated)" : form;

/** Central differences of loss(x) = Σ w ⊙ h(x) (or any scalar loss) for every input element. */
async function finiteDifferences(
  loss: (x: Inputs) => Promise<number>,
  x: Inputs,
  name: keyof Inputs,
  step = 1e-6,
): Promise<Float64Array> {
  const t = x[name]!;
  const g = new Float64Array(t.data.length);
  for (let j = 0; j < t.data.length; j++) {
    const orig = t.data[j];
    t.data[j] = orig + step;
    const up = await loss(x);
    t.data[j] = orig - step;
    const down = await loss(x);
    t.data[j] = orig;
    g[j] = (up - down) / (2 * step);
  }
  return g;
}

const inputNames = ["q", "k", "v", "i", "f", "cInitial", "nInitial", "mInitial"] as const;
const gradName = {
  q: "dq",
  k: "dk",
  v: "dv",
  i: "di",
  f: "df",
  cInitial: "dcInitial",
  nInitial: "dnInitial",
  mInitial: "dmInitial",
} as const;

Deno.test("reference backward (exact) agrees with central finite differences", async (t) => {
  for (const v of variants) {
    for (const form of ["parallel", "recurrent", "chunkwise"]) {
      for (const withStates of form === "parallel" ? [false] : [false, true]) {
        const tag = `${bwForm(form)} ${vname(v)}${withStates ? " with initial states" : ""}`;
        await t.step(tag, async () => {
          const x = randomMlstmInputs(
            { B: 1, NH: 2, S: 6, DQK: 3, DHV: 4, withInitialStates: withStates },
            rngOf(11),
          );
          // eps = 0 makes h independent of the stabilizer (its path is checked with eps > 0 in
          // tests/reference_gradient_test.ts).
          const o = { eps: 0, normalize: v.normalize, chunkSize: 4 };
          const k = getMlstmKernel(`reference--${form}${sfx(v.gate)}`);
          const w = randomTensor([1, 2, 6, 4], rngOf(12));
          const loss = async (xx: Inputs) => {
            const { h } = await k.forward(xx, o) as { h: Tensor };
            let acc = 0;
            for (let j = 0; j < h.data.length; j++) acc += h.data[j] * w.data[j];
            return acc;
          };
          const g = await k.backward!(x, w, o);
          for (const name of inputNames) {
            if (x[name] === undefined) continue;
            if (name === "mInitial" && v.gate === "sig") continue;
            const fd = await finiteDifferences(loss, x, name);
            compare(
              `finite differences ${form} ${vname(v)}`,
              k.name,
              "central differences",
              gradName[name],
              x,
              g[gradName[name]] as Tensor,
              { shape: x[name]!.shape, data: fd },
              1e-6,
            );
          }
        });
      }
    }
  }
});

Deno.test("reference backward (normalizer-constant) agrees with finite differences of a scale-invariant loss", async (t) => {
  // A loss that depends on each h_t only through its direction does not see the normalizer, so its
  // exact gradient is the normalizer-constant one (the reason mlstm_kernels uses that convention).
  for (const v of variants.filter((v) => v.normalize)) {
    for (const form of ["parallel", "chunkwise"]) {
      await t.step(`${bwForm(form)} ${vname(v)}`, async () => {
        const x = randomMlstmInputs({ B: 1, NH: 1, S: 5, DQK: 3, DHV: 4 }, rngOf(21));
        const o: MlstmOptions = { normalize: v.normalize, chunkSize: 2 };
        const k = getMlstmKernel(`reference--${form}${sfx(v.gate)}`);
        const w = randomTensor([1, 1, 5, 4], rngOf(22));
        const D = 4;
        const dirLoss = (h: Float64Array) => {
          let acc = 0;
          for (let r = 0; r < h.length / D; r++) {
            let nn = 0;
            for (let c = 0; c < D; c++) nn += h[r * D + c] ** 2;
            for (let c = 0; c < D; c++) acc += w.data[r * D + c] * h[r * D + c] / Math.sqrt(nn);
          }
          return acc;
        };
        const loss = async (xx: Inputs) =>
          dirLoss(((await k.forward(xx, o)).h as Tensor).data as Float64Array);
        const { h } = await k.forward(x, o) as { h: Tensor };
        const dh = new Float64Array(h.data.length);
        for (let r = 0; r < h.data.length / D; r++) {
          let nn = 0, wh = 0;
          for (let c = 0; c < D; c++) {
            nn += h.data[r * D + c] ** 2;
            wh += w.data[r * D + c] * h.data[r * D + c];
          }
          const norm = Math.sqrt(nn);
          for (let c = 0; c < D; c++) {
            dh[r * D + c] = w.data[r * D + c] / norm - wh * h.data[r * D + c] / norm ** 3;
          }
        }
        const g = await k.backward!(x, { shape: h.shape, data: dh }, {
          ...o,
          gradient: "normalizer-constant",
        });
        for (const name of ["q", "k", "v", "i", "f"] as const) {
          const fd = await finiteDifferences(loss, x, name);
          compare(
            `finite differences normalizer-constant ${form} ${vname(v)}`,
            k.name,
            "central differences",
            gradName[name],
            x,
            g[gradName[name]] as Tensor,
            { shape: x[name].shape, data: fd },
            1e-6,
          );
        }
      });
    }
  }
});

Deno.test("reference backward forms agree in both conventions: parallel vs chunkwise (= recurrent backward, delegated)", async (t) => {
  for (const v of variants) {
    for (const gradient of ["exact", "normalizer-constant"] as const) {
      await t.step(`${vname(v)} ${gradient}`, async () => {
        const x = randomMlstmInputs({ B: 2, NH: 2, S: 19, DQK: 5, DHV: 6 }, rngOf(41));
        const dh = randomTensor([2, 2, 19, 6], rngOf(42));
        const o = { eps: 0, normalize: v.normalize, gradient, chunkSize: 8 };
        const k = (f: string) => `reference--${f}${sfx(v.gate)}`;
        const gp = await getMlstmKernel(k("parallel")).backward!(x, dh, o);
        const gc = await getMlstmKernel(k("chunkwise")).backward!(x, dh, o);
        for (const g of ["dq", "dk", "dv", "di", "df"] as const) {
          compare(
            `backward forms ${gradient}`,
            k("chunkwise"),
            k("parallel"),
            g,
            x,
            gc[g] as Tensor,
            gp[g] as Tensor,
            1e-10,
            8,
          );
        }
      });
    }
  }
});
