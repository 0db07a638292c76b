// The float64 xLSTM Large model: its layers and the whole forward against independent
// straightforward float64 formulas (a second implementation written here from the architecture:
// per-token loops, the recurrent mLSTM step, variance as E[x²] − mean²), state carry over pieces,
// prompt lengths 1 / odd / longer than the chunk size; config.json validation; the weight mapping
// (hub and xlstm layouts, fused, sharded, bf16/f16, tied) and every bad-checkpoint case.

import assert from "node:assert/strict";
import {
  createXlstmLargeConfig,
  embeddingReference,
  headLayerNormReference,
  linearReference,
  outputGateReference,
  parseXlstmLargeConfig,
  planXlstmLargeWeights,
  randomXlstmLargeWeight,
  rmsNormReference,
  softCapReference,
  swigluReference,
  type Tensor,
  writeXlstmLargeCheckpoint,
  XLSTM_7B_CONFIG,
  XlstmConfigError,
  XlstmLarge,
  type XlstmLargeConfig,
  type XlstmLargeConfigOptions,
  xlstmLargeConfigToJson,
  xlstmLargeWeightSpecs,
  XlstmWeightsError,
} from "../mod.ts";
import { SafetensorsCheckpoint, SafetensorsError, writeSafetensors } from "../io/mod.ts";
import { assertDeviation } from "./_deviation_log.ts";
import { rngOf } from "./_seed.ts";

// ---------------------------------------------------------------------------------------------
// The independent model: plain loops over tokens, nothing shared with reference/ but the weights.

type W = Map<string, Float64Array>;
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const logSig = (x: number) => -Math.log1p(Math.exp(-x)); // fine for the |x| ≤ 15 of capped gates

function matvec(w: Float64Array, b: Float64Array | undefined, x: number[], out: number): number[] {
  const inF = x.length;
  return Array.from({ length: out }, (_, o) => {
    let s = b ? b[o] : 0;
    for (let j = 0; j < inF; j++) s += w[o * inF + j] * x[j];
    return s;
  });
}

function rms(
  x: number[],
  w: Float64Array | undefined,
  b: Float64Array | undefined,
  eps: number,
): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, j) => (v / Math.sqrt(ms + eps)) * (w ? w[j] : 1) + (b ? b[j] : 0));
}

interface NaiveState {
  C: number[][][]; // per head DQK × DHV
  n: number[][];
  m: number[];
}

function naiveForward(
  c: XlstmLargeConfig,
  w: W,
  ids: number[][],
  states?: NaiveState[][], // [batch][block]
): { logits: number[]; states: NaiveState[][] } {
  const { embeddingDim: D, numHeads: NH, qkHeadDim: DQK, vHeadDim: DHV, vocabSize: V } = c;
  const logits: number[] = [];
  const outStates: NaiveState[][] = [];
  for (let b = 0; b < ids.length; b++) {
    const st: NaiveState[] = Array.from(
      { length: c.numBlocks },
      (_, blk) =>
        states ? structuredClone(states[b][blk]) : {
          C: Array.from(
            { length: NH },
            () => Array.from({ length: DQK }, () => new Array(DHV).fill(0)),
          ),
          n: Array.from({ length: NH }, () => new Array(DQK).fill(0)),
          m: new Array(NH).fill(0),
        },
    );
    for (const id of ids[b]) {
      let x = Array.from(w.get("backbone.embeddings.weight")!.subarray(id * D, (id + 1) * D));
      for (let blk = 0; blk < c.numBlocks; blk++) {
        const p = `backbone.blocks.${blk}.`;
        const g = (n: string) => w.get(p + n);
        const y = rms(x, g("norm_mlstm.weight"), g("norm_mlstm.bias"), c.normEps);
        const q = matvec(g("mlstm_layer.q.weight")!, g("mlstm_layer.q.bias"), y, c.qkDim);
        const k = matvec(g("mlstm_layer.k.weight")!, g("mlstm_layer.k.bias"), y, c.qkDim);
        const v = matvec(g("mlstm_layer.v.weight")!, g("mlstm_layer.v.bias"), y, c.vDim);
        const o = matvec(
          g("mlstm_layer.ogate_preact.weight")!,
          g("mlstm_layer.ogate_preact.bias"),
          y,
          c.vDim,
        );
        const cap = (
          z: number,
        ) => (c.gateSoftCap > 0 ? c.gateSoftCap * Math.tanh(z / c.gateSoftCap) : z);
        const ig = matvec(
          g("mlstm_layer.igate_preact.weight")!,
          g("mlstm_layer.igate_preact.bias"),
          y,
          NH,
        ).map(cap);
        const fg = matvec(
          g("mlstm_layer.fgate_preact.weight")!,
          g("mlstm_layer.fgate_preact.bias"),
          y,
          NH,
        ).map(cap);
        const hcat: number[] = [];
        const s = st[blk];
        for (let h = 0; h < NH; h++) {
          // the recurrent step (SPEC §1), written out
          const mNew = Math.max(logSig(fg[h]) + s.m[h], ig[h]);
          const fa = Math.exp(logSig(fg[h]) + s.m[h] - mNew), ia = Math.exp(ig[h] - mNew);
          const qh = q.slice(h * DQK, (h + 1) * DQK).map((z) => z / Math.sqrt(DQK));
          const kh = k.slice(h * DQK, (h + 1) * DQK), vh = v.slice(h * DHV, (h + 1) * DHV);
          for (let a = 0; a < DQK; a++) {
            s.n[h][a] = fa * s.n[h][a] + ia * kh[a];
            for (let e = 0; e < DHV; e++) s.C[h][a][e] = fa * s.C[h][a][e] + ia * kh[a] * vh[e];
          }
          s.m[h] = mNew;
          let qn = 0;
          for (let a = 0; a < DQK; a++) qn += qh[a] * s.n[h][a];
          const den = Math.max(Math.abs(qn), Math.exp(-mNew)) + c.eps;
          const hh = Array.from({ length: DHV }, (_, e) => {
            let num = 0;
            for (let a = 0; a < DQK; a++) num += qh[a] * s.C[h][a][e];
            return num / den;
          });
          // LayerNorm with the variance as E[x²] − mean² (a different formula from the reference's)
          const mean = hh.reduce((a2, z) => a2 + z, 0) / DHV;
          const ex2 = hh.reduce((a2, z) => a2 + z * z, 0) / DHV;
          const sd = Math.sqrt(ex2 - mean * mean + c.normEps);
          for (let e = 0; e < DHV; e++) hcat.push((hh[e] - mean) / sd);
        }
        const nw = g("mlstm_layer.multihead_norm.weight")!,
          nb = g("mlstm_layer.multihead_norm.bias");
        const gated = hcat.map((z, j) => sig(o[j]) * (z * nw[j] + (nb ? nb[j] : 0)));
        const mo = matvec(
          g("mlstm_layer.out_proj.weight")!,
          g("mlstm_layer.out_proj.bias"),
          gated,
          D,
        );
        x = x.map((z, j) => z + mo[j]);
        const z2 = rms(x, g("norm_ffn.weight"), g("norm_ffn.bias"), c.normEps);
        const gt = matvec(g("ffn.proj_up_gate.weight")!, g("ffn.proj_up_gate.bias"), z2, c.ffnDim);
        const up = matvec(g("ffn.proj_up.weight")!, g("ffn.proj_up.bias"), z2, c.ffnDim);
        const act = gt.map((a2, j) => a2 * sig(a2) * up[j]);
        const f = matvec(g("ffn.proj_down.weight")!, g("ffn.proj_down.bias"), act, D);
        x = x.map((z, j) => z + f[j]);
      }
      if (c.addOutNorm) x = rms(x, w.get("backbone.out_norm.weight"), undefined, c.normEps);
      const l = matvec(w.get("lm_head.weight")!, undefined, x, V);
      const cap = c.outputLogitSoftCap;
      logits.push(...l.map((z) => (cap > 0 ? cap * Math.tanh(z / cap) : z)));
    }
    outStates.push(st);
  }
  return { logits, states: outStates };
}

function weightsOf(c: XlstmLargeConfig, seed: number): W {
  return new Map(
    xlstmLargeWeightSpecs(c).map((
      s,
    ) => [s.name, Float64Array.from(randomXlstmLargeWeight(c, s, seed))]),
  );
}

const dimsOf = (c: XlstmLargeConfig, B: number, S: number) => ({
  B,
  NH: c.numHeads,
  S,
  DQK: c.qkHeadDim,
  DHV: c.vHeadDim,
});

function randomIds(V: number, B: number, S: number, seed: number): number[][] {
  const rng = rngOf(seed);
  return Array.from(
    { length: B },
    () => Array.from({ length: S }, () => Math.floor(rng.uniform(0, V))),
  );
}

/** Flattens model states (per block {c, n, m}) to compare them. */
function flatStates(state: readonly { c: unknown; n: unknown; m: unknown }[]): number[] {
  return state.flatMap((s) => [
    ...(s.c as Tensor).data,
    ...(s.n as Tensor).data,
    ...(s.m as Tensor).data,
  ]);
}

const shapes: (XlstmLargeConfigOptions & { label: string })[] = [
  { label: "D64 NH2 N2", vocabSize: 13, embeddingDim: 64, numBlocks: 2, numHeads: 2, chunkSize: 4 },
  {
    label: "D48 NH3 N1 bias, no out norm, truncated qk",
    vocabSize: 7,
    embeddingDim: 48,
    numBlocks: 1,
    numHeads: 3,
    qkDim: 24,
    vDim: 48,
    useBias: true,
    addOutNorm: false,
    chunkSize: 5,
    ffnProjFactor: 1.3,
    ffnRoundUpToMultipleOf: 16,
  },
  {
    label: "D32 NH1 N1 caps off",
    vocabSize: 5,
    embeddingDim: 32,
    numBlocks: 1,
    numHeads: 1,
    qkDim: 16,
    vDim: 32,
    gateSoftCap: 0,
    outputLogitSoftCap: 0,
    chunkSize: 3,
    eps: 1e-4,
    normEps: 1e-3,
  },
];

Deno.test("xlstmLargeForwardReference() equals an independent per-token float64 model", async (t) => {
  for (const s of shapes) {
    const c = createXlstmLargeConfig(s);
    for (const [B, S] of [[1, 1], [2, 7], [1, 2 * c.chunkSize + 3]]) {
      await t.step(`${s.label} B=${B} S=${S}`, async () => {
        const seed = 100 + S;
        const model = await XlstmLarge.random(c, { seed, backend: "reference" });
        const ids = randomIds(c.vocabSize, B, S, seed);
        const out = await model.forward(ids);
        const ref = naiveForward(c, weightsOf(c, seed), ids);
        assert.deepEqual(out.logits.shape, [B, S, c.vocabSize]);
        assertDeviation(
          {
            test: `xlstm_large forward vs per-token formula (${s.label})`,
            kernel: "reference--xlstm_large",
            baseline: "naive-per-token-f64",
            output: "logits",
            dims: dimsOf(c, B, S),
            chunkSize: c.chunkSize,
            dtype: "f64",
            tolerance: 1e-12,
          },
          out.logits.data,
          ref.logits,
        );
        const naiveState = ref.states.flatMap((blocks) => blocks);
        // states: C, n, m of block j for every batch row, laid out as the model's (B, NH, ...)
        for (let blk = 0; blk < c.numBlocks; blk++) {
          const st = out.state[blk] as { c: Tensor; n: Tensor; m: Tensor };
          const C: number[] = [], n: number[] = [], m: number[] = [];
          for (let b = 0; b < B; b++) {
            const ns = naiveState[b * c.numBlocks + blk];
            for (let h = 0; h < c.numHeads; h++) {
              C.push(...ns.C[h].flat());
              n.push(...ns.n[h]);
              m.push(ns.m[h]);
            }
          }
          assertDeviation(
            {
              test: `xlstm_large last states vs per-token formula (${s.label})`,
              kernel: "reference--xlstm_large",
              baseline: "naive-per-token-f64",
              output: `state[${blk}].c`,
              dims: dimsOf(c, B, S),
              chunkSize: c.chunkSize,
              dtype: "f64",
              tolerance: 1e-12,
            },
            st.c.data,
            C,
          );
          assertDeviation(
            {
              test: `xlstm_large last states vs per-token formula (${s.label})`,
              kernel: "reference--xlstm_large",
              baseline: "naive-per-token-f64",
              output: `state[${blk}].m`,
              dims: dimsOf(c, B, S),
              chunkSize: c.chunkSize,
              dtype: "f64",
              tolerance: 1e-14,
            },
            st.m.data,
            m,
          );
          assertDeviation(
            {
              test: `xlstm_large last states vs per-token formula (${s.label})`,
              kernel: "reference--xlstm_large",
              baseline: "naive-per-token-f64",
              output: `state[${blk}].n`,
              dims: dimsOf(c, B, S),
              chunkSize: c.chunkSize,
              dtype: "f64",
              tolerance: 1e-12,
            },
            st.n.data,
            n,
          );
        }
        model.destroy();
      });
    }
  }
});

Deno.test("XlstmLarge.forward() (reference): a sequence equals its pieces with the state carried", async (t) => {
  const c = createXlstmLargeConfig({ ...shapes[0], numBlocks: 2 });
  const model = await XlstmLarge.random(c, { seed: 7, backend: "reference" });
  const S = 3 * c.chunkSize + 2; // longer than the chunk size, not a multiple of it
  const ids = randomIds(c.vocabSize, 2, S, 7);
  const whole = await model.forward(ids);
  for (const cuts of [[1], [5], [1, 2, 3], [c.chunkSize, c.chunkSize + 1], [S - 1]]) {
    await t.step(`pieces cut at ${cuts.join(", ")}`, async () => {
      const bounds = [0, ...cuts, S];
      let state;
      const rows: number[][] = [[], []];
      for (let j = 0; j + 1 < bounds.length; j++) {
        const piece = ids.map((row) => row.slice(bounds[j], bounds[j + 1]));
        const r = await model.forward(piece, state ? { state } : {});
        state = r.state;
        const len = bounds[j + 1] - bounds[j];
        for (let b = 0; b < 2; b++) {
          rows[b].push(
            ...r.logits.data.subarray(b * len * c.vocabSize, (b + 1) * len * c.vocabSize),
          );
        }
      }
      const pieces = [...rows[0], ...rows[1]];
      const dims = dimsOf(c, 2, S);
      assertDeviation(
        {
          test: `xlstm_large state carry cuts ${cuts.join("/")}`,
          kernel: "reference--xlstm_large pieces",
          baseline: "reference--xlstm_large whole",
          output: "logits",
          dims,
          chunkSize: c.chunkSize,
          dtype: "f64",
          tolerance: 1e-13,
        },
        pieces,
        whole.logits.data,
      );
      assertDeviation(
        {
          test: `xlstm_large state carry cuts ${cuts.join("/")}`,
          kernel: "reference--xlstm_large pieces",
          baseline: "reference--xlstm_large whole",
          output: "state",
          dims,
          chunkSize: c.chunkSize,
          dtype: "f64",
          tolerance: 1e-13,
        },
        flatStates(state!),
        flatStates(whole.state),
      );
    });
  }
  await t.step("generation: token by token equals the prompt at once", async () => {
    let state;
    const rows: number[] = [];
    for (let s = 0; s < 6; s++) {
      const r = await model.forward([[ids[0][s]]], state ? { state } : {});
      state = r.state;
      rows.push(...r.logits.data);
    }
    const once = await model.forward([ids[0].slice(0, 6)]);
    assertDeviation(
      {
        test: "xlstm_large step by step",
        kernel: "reference--xlstm_large S=1 steps",
        baseline: "reference--xlstm_large whole",
        output: "logits",
        dims: dimsOf(c, 1, 6),
        chunkSize: c.chunkSize,
        dtype: "f64",
        tolerance: 1e-13,
      },
      rows,
      once.logits.data,
    );
  });
  model.destroy();
  await assert.rejects(model.forward([[1]]), /destroyed/);
});

Deno.test("reference layers equal straightforward formulas", async (t) => {
  const rng = rngOf(31);
  const r = (...shape: number[]): Tensor => ({
    shape,
    data: Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal(0, 2)),
  });
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    assert.equal(a.length, b.length);
    for (let j = 0; j < a.length; j++) {
      assert.ok(
        Math.abs(a[j] - b[j]) <= 1e-13 * (1 + Math.abs(b[j])),
        `${what}[${j}]: ${a[j]} vs ${b[j]}`,
      );
    }
  };
  await t.step("linear", () => {
    const x = r(2, 3, 5), w = r(4, 5), b = r(4);
    const y = linearReference(x, w, b);
    assert.deepEqual(y.shape, [2, 3, 4]);
    const expect: number[] = [];
    for (let row = 0; row < 6; row++) {
      for (let o = 0; o < 4; o++) {
        expect.push(
          b.data[o] +
            [...x.data.subarray(row * 5, row * 5 + 5)].reduce(
              (a, v, j) => a + v * w.data[o * 5 + j],
              0,
            ),
        );
      }
    }
    close(y.data, expect, "linear");
    assert.throws(() => linearReference(x, r(4, 6)), /weight must have shape \(out, 5\)/);
  });
  await t.step("rmsNorm", () => {
    const x = r(3, 7), w = r(7);
    const y = rmsNormReference(x, w, 1e-3);
    for (let row = 0; row < 3; row++) {
      const xs = [...x.data.subarray(row * 7, row * 7 + 7)];
      close(
        y.data.subarray(row * 7, row * 7 + 7),
        rms(xs, w.data as Float64Array, undefined, 1e-3),
        "rms",
      );
    }
  });
  await t.step("headLayerNorm", () => {
    const x = r(2, 12), w = r(12), b = r(12);
    const y = headLayerNormReference(x, { numHeads: 3, eps: 1e-4, weight: w, bias: b });
    for (let row = 0; row < 2; row++) {
      for (let h = 0; h < 3; h++) {
        const xs = [...x.data.subarray(row * 12 + h * 4, row * 12 + h * 4 + 4)];
        const mean = xs.reduce((a, v) => a + v, 0) / 4;
        const vr = xs.reduce((a, v) => a + v * v, 0) / 4 - mean * mean;
        const expect = xs.map((v, j) =>
          ((v - mean) / Math.sqrt(vr + 1e-4)) * w.data[h * 4 + j] + b.data[h * 4 + j]
        );
        close(y.data.subarray(row * 12 + h * 4, row * 12 + h * 4 + 4), expect, "headLayerNorm");
      }
    }
    assert.throws(
      () => headLayerNormReference(x, { numHeads: 5 }),
      /numHeads must be a positive integer dividing/,
    );
  });
  await t.step("softCap, swiglu, output gate", () => {
    const x = r(9), u = r(9);
    close(softCapReference(x, 2).data, [...x.data].map((v) => 2 * Math.tanh(v / 2)), "softCap");
    close(
      swigluReference(x, u).data,
      [...x.data].map((g, j) => (g / (1 + Math.exp(-g))) * u.data[j]),
      "swiglu",
    );
    close(
      outputGateReference(x, u).data,
      [...x.data].map((g, j) => u.data[j] / (1 + Math.exp(-g))),
      "ogate",
    );
    assert.throws(() => swigluReference(x, r(8)), /up must have the shape of gate \(9\)/);
  });
  await t.step("embedding", () => {
    const table = r(6, 3);
    const y = embeddingReference([[5, 0], [2, 2]], table);
    close(
      y.data,
      [5, 0, 2, 2].flatMap((id) => [...table.data.subarray(id * 3, id * 3 + 3)]),
      "embedding",
    );
    assert.throws(
      () => embeddingReference([[6]], table),
      /ids\[0\]\[0\] must be an integer token id in \[0, 6\)/,
    );
    assert.throws(() => embeddingReference([[1, 2], [3]], table), /rows of equal length/);
    assert.throws(() => embeddingReference([[]], table), /at least one token/);
  });
});

Deno.test("XlstmLarge.forward() rejects bad ids and states before any work", async () => {
  const c = createXlstmLargeConfig(shapes[0]);
  const m = await XlstmLarge.random(c, { backend: "reference" });
  await assert.rejects(m.forward([[1.5]]), /ids\[0\]\[0\] must be an integer token id/);
  await assert.rejects(m.forward([[-1]]), /ids\[0\]\[0\]/);
  await assert.rejects(m.forward([]), /non-empty array/);
  const { state } = await m.forward([[1, 2]]);
  await assert.rejects(
    m.forward([[1], [2]], { state }),
    /state\[0\]\.c must have shape \(B, NH, DQK, DHV\) = \(2, 2, 32, 32\)/,
  );
  await assert.rejects(m.forward([[1]], { state: state.slice(1) }), /array of 2 block states/);
  await assert.rejects(
    XlstmLarge.random(c, { backend: "cuda" }),
    /Option backend must be one of "reference"/,
  );
  await assert.rejects(
    XlstmLarge.random(c, { backend: "reference", dtype: "bf16" as "f16" }),
    /Option dtype must be "f32" or "f16"/,
  );
});

// ---------------------------------------------------------------------------------------------
// config.json

Deno.test("parseXlstmLargeConfig() reads transformers' keys and the 7B config", () => {
  const hub7b = {
    architectures: ["xLSTMForCausalLM"],
    model_type: "xlstm",
    embedding_dim: 4096,
    num_heads: 8,
    num_blocks: 32,
    vocab_size: 50304,
    head_dim: 512,
    qk_dim_factor: 0.5,
    v_dim_factor: 1.0,
    ffn_proj_factor: 2.667,
    gate_soft_cap: 15,
    output_logit_soft_cap: 30,
    norm_eps: 1e-6,
    use_bias: false,
    tie_word_embeddings: false,
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 1,
    force_bos_token_insert: true,
    forward_backend_name: "chunkwise--triton_limit_chunk",
    step_backend_name: "triton_fused",
    torch_dtype: "float32",
  };
  const c = parseXlstmLargeConfig(hub7b, "xLSTM-7b/config.json");
  assert.deepEqual(c, XLSTM_7B_CONFIG);
  assert.deepEqual(parseXlstmLargeConfig(xlstmLargeConfigToJson(c)), c);
  const specs = xlstmLargeWeightSpecs(c);
  assert.equal(specs.length, 1 + 32 * 15 + 2);
  assert.equal(
    specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0) * 4,
    27_461_699_584,
  );
});

Deno.test("parseXlstmLargeConfig() names the file and key of every bad value", async (t) => {
  const ok = { vocab_size: 100, hidden_size: 128, num_hidden_layers: 2, num_heads: 4 };
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "missing width",
      { vocab_size: 100, num_hidden_layers: 2, num_heads: 4 },
      /"hidden_size" is missing/,
    ],
    [
      "missing blocks",
      { vocab_size: 100, hidden_size: 128, num_heads: 4 },
      /"num_hidden_layers" is missing/,
    ],
    [
      "missing heads",
      { vocab_size: 100, hidden_size: 128, num_hidden_layers: 2 },
      /"num_heads" is missing/,
    ],
    [
      "fractional width",
      { ...ok, hidden_size: 12.5 },
      /"hidden_size" must be a positive integer, received 12.5/,
    ],
    [
      "string vocab",
      { ...ok, vocab_size: "100" },
      /"vocab_size" must be a positive integer, received "100"/,
    ],
    [
      "disagreeing widths",
      { ...ok, embedding_dim: 256 },
      /"embedding_dim" \(256\) disagrees with "hidden_size" \(128\)/,
    ],
    [
      "heads not dividing qk",
      { ...ok, num_heads: 3 },
      /"qk_dim" \(64\) must be divisible by num_heads 3/,
    ],
    ["negative eps", { ...ok, norm_eps: -1 }, /"norm_eps" must be a finite number ≥ 0/],
    [
      "bad weight mode",
      { ...ok, weight_mode: "split" },
      /"weight_mode" must be "single" or "fused"/,
    ],
    ["bias as string", { ...ok, use_bias: "false" }, /"use_bias" must be true or false/],
    [
      "bos out of range",
      { ...ok, bos_token_id: 100 },
      /"bos_token_id" must be null or an integer token id in \[0, 100\)/,
    ],
    ["eos list entry", { ...ok, eos_token_id: [2, -1] }, /"eos_token_id\[1\]"/],
    ["zero chunk size", { ...ok, chunk_size: 0 }, /"chunk_size" must be a positive integer/],
    [
      "head_dim disagrees",
      { ...ok, head_dim: 64 },
      /"head_dim" \(64\) must equal v_dim \/ num_heads = 32/,
    ],
    ["not an object", [] as unknown as Record<string, unknown>, /"\(root\)" must be a JSON object/],
  ];
  for (const [name, json, re] of cases) {
    await t.step(name, () => {
      const err = (() => {
        try {
          parseXlstmLargeConfig(json, "m/config.json");
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof XlstmConfigError, `${name}: ${err}`);
      assert.ok(err.message.startsWith("m/config.json: "), err.message);
      assert.match(err.message, re);
    });
  }
  // null caps switch the cap off; an eos list is kept
  const c = parseXlstmLargeConfig({ ...ok, gate_soft_cap: null, eos_token_id: [2, 3] });
  assert.equal(c.gateSoftCap, 0);
  assert.deepEqual(c.eosTokenIds, [2, 3]);
});

// ---------------------------------------------------------------------------------------------
// Checkpoints

const small = createXlstmLargeConfig({
  vocabSize: 11,
  embeddingDim: 64,
  numBlocks: 2,
  numHeads: 2,
  chunkSize: 4,
});

Deno.test("XlstmLarge.fromPretrained() (reference): every layout gives the same model", async (t) => {
  const base = await Deno.makeTempDir({ prefix: "xlstm_ckpt_" });
  const ids = randomIds(small.vocabSize, 2, 9, 41);
  const want = await (await XlstmLarge.random(small, { seed: 5, backend: "reference" })).forward(
    ids,
  );
  const variants = [
    { label: "hub single f32", o: {} },
    { label: "hub sharded", o: { maxShardBytes: 30_000 } },
    { label: "xlstm layout fused", o: { layout: "xlstm" as const, weightMode: "fused" as const } },
    { label: "hub fused sharded", o: { weightMode: "fused" as const, maxShardBytes: 50_000 } },
  ];
  for (const v of variants) {
    await t.step(v.label, async () => {
      const dir = `${base}/${v.label.replaceAll(" ", "_")}`;
      await writeXlstmLargeCheckpoint(dir, small, { seed: 5, ...v.o });
      const m = await XlstmLarge.fromPretrained(dir, { backend: "reference" });
      assert.equal(m.config.weightMode, v.o.weightMode ?? "single");
      const got = await m.forward(ids);
      assert.deepEqual([...got.logits.data], [...want.logits.data], "bit-identical logits");
      m.destroy();
    });
  }
  await t.step("older names query/key/value are accepted", async () => {
    const dir = `${base}/qkv_names`;
    await writeXlstmLargeCheckpoint(dir, small, { seed: 5 });
    const ck = await SafetensorsCheckpoint.open(dir);
    const tensors = [];
    for (const n of ck.names()) {
      const e = ck.entry(n);
      const data = await ck.read(n, "f32");
      const renamed = n.replace(".mlstm_layer.q.", ".mlstm_layer.query.").replace(
        ".mlstm_layer.k.",
        ".mlstm_layer.key.",
      )
        .replace(".mlstm_layer.v.", ".mlstm_layer.value.");
      tensors.push({ name: renamed, dtype: e.dtype, shape: e.shape, data: data as Float32Array });
    }
    ck.close();
    await writeSafetensors(`${dir}/model.safetensors`, tensors);
    const m = await XlstmLarge.fromPretrained(dir, { backend: "reference" });
    assert.deepEqual([...(await m.forward(ids)).logits.data], [...want.logits.data]);
  });
  await t.step("tied embeddings without lm_head.weight", async () => {
    const tied = createXlstmLargeConfig({ ...small, tieWordEmbeddings: true, eosTokenIds: [2] });
    const dir = `${base}/tied`;
    await writeXlstmLargeCheckpoint(dir, tied, { seed: 5 });
    const m = await XlstmLarge.fromPretrained(dir, { backend: "reference" });
    const w = naiveForward(
      tied,
      (() => {
        const ws = weightsOf(tied, 5);
        ws.set("lm_head.weight", ws.get("backbone.embeddings.weight")!);
        return ws;
      })(),
      ids,
    );
    assertDeviation(
      {
        test: "tied embeddings",
        kernel: "reference--xlstm_large",
        baseline: "naive-per-token-f64",
        output: "logits",
        dims: dimsOf(tied, 2, 9),
        chunkSize: 4,
        dtype: "f64",
        tolerance: 1e-12,
      },
      (await m.forward(ids)).logits.data,
      w.logits,
    );
  });
  for (const dtype of ["BF16", "F16"] as const) {
    await t.step(`${dtype} checkpoint: f32 and f16 storage`, async () => {
      const dir = `${base}/${dtype}`;
      await writeXlstmLargeCheckpoint(dir, small, { seed: 5, dtype });
      const a = await XlstmLarge.fromPretrained(dir, { backend: "reference", dtype: "f32" });
      const b = await XlstmLarge.fromPretrained(dir, { backend: "reference", dtype: "f16" });
      const la = (await a.forward(ids)).logits, lb = (await b.forward(ids)).logits;
      // rounded weights: close to the f32 model, not equal
      const d = assertDeviation(
        {
          test: `${dtype} checkpoint vs f32 weights`,
          kernel: `reference--xlstm_large ${dtype}`,
          baseline: "reference--xlstm_large f32 weights",
          output: "logits",
          dims: dimsOf(small, 2, 9),
          chunkSize: 4,
          dtype,
          tolerance: dtype === "BF16" ? 3e-2 : 3e-3,
        },
        la.data,
        want.logits.data,
      );
      assert.ok(d.relL2 > 0);
      if (dtype === "F16") {
        assert.deepEqual([...la.data], [...lb.data], "f16 file read as f16 is exact");
      }
    });
  }
  await Deno.remove(base, { recursive: true });
});

Deno.test("XlstmLarge.fromPretrained() names every bad checkpoint before loading anything", async (t) => {
  const base = await Deno.makeTempDir({ prefix: "xlstm_bad_" });
  let k = 0;
  const make = async (
    mutate: (tensors: { name: string; shape: readonly number[] }[]) => void,
    config = {},
  ) => {
    const dir = `${base}/c${k++}`;
    await writeXlstmLargeCheckpoint(dir, small, { seed: 1, configOverrides: config });
    const ck = await SafetensorsCheckpoint.open(dir);
    const tensors = ck.names().map((n) => ({ name: n, shape: ck.entry(n).shape }));
    ck.close();
    mutate(tensors);
    await writeSafetensors(
      `${dir}/model.safetensors`,
      tensors.map((x) => ({
        name: x.name,
        dtype: "F32" as const,
        shape: x.shape,
        data: new Float32Array(x.shape.reduce((a, b) => a * b, 1)),
      })),
    );
    return dir;
  };
  const file = (dir: string) => `${dir}/model.safetensors`;
  const cases: [
    string,
    () => Promise<string>,
    (dir: string) => RegExp,
    abstract new (...args: never[]) => Error,
  ][] = [
    [
      "missing tensor",
      () =>
        make((ts) =>
          ts.splice(ts.findIndex((x) => x.name === "backbone.blocks.1.ffn.proj_up.weight"), 1)
        ),
      () => /missing tensor "backbone\.blocks\.1\.ffn\.proj_up\.weight" of shape \(192, 64\)/,
      XlstmWeightsError,
    ],
    [
      "extra tensor",
      () =>
        make((ts) => ts.push({ name: "backbone.blocks.0.mlstm_layer.extra.weight", shape: [2] })),
      (d) =>
        new RegExp(
          `${file(d)}: unexpected tensor "backbone\\.blocks\\.0\\.mlstm_layer\\.extra\\.weight"`,
        ),
      XlstmWeightsError,
    ],
    [
      "misshapen tensor",
      () =>
        make((ts) => {
          ts.find((x) => x.name === "backbone.blocks.1.mlstm_layer.out_proj.weight")!.shape = [
            64,
            65,
          ];
        }),
      (d) =>
        new RegExp(
          `${
            file(d)
          }: tensor "backbone\\.blocks\\.1\\.mlstm_layer\\.out_proj\\.weight" has shape \\(64, 65\\), expected \\(64, 64\\)`,
        ),
      XlstmWeightsError,
    ],
    [
      "vocabulary disagrees with config.json",
      () => make(() => {}, { vocab_size: 12 }),
      (d) =>
        new RegExp(
          `${
            file(d)
          }: tensor "backbone\\.embeddings\\.weight" has shape \\(11, 64\\) but config\\.json says \\(vocab_size 12`,
        ),
      XlstmWeightsError,
    ],
    [
      "block count disagrees with config.json",
      () => make(() => {}, { num_hidden_layers: 3, num_blocks: 3 }),
      () => /holds 2 blocks .* but config\.json says num_blocks 3/,
      XlstmWeightsError,
    ],
    [
      "heads disagree with config.json",
      () => make(() => {}, { num_heads: 4 }),
      () => /"num_heads" is 4 but the gate weights have 2 rows per gate/,
      XlstmConfigError,
    ],
    [
      "qk width disagrees with qk_dim_factor",
      () => make(() => {}, { qk_dim_factor: 2 }),
      () => /"qk_dim_factor" \(2\) gives qk_dim 128 but the query weights have 64 rows/,
      XlstmConfigError,
    ],
    [
      "bad config.json",
      () => make(() => {}, { num_heads: "2" }),
      (d) => new RegExp(`${d}/config\\.json: "num_heads" must be a positive integer`),
      XlstmConfigError,
    ],
  ];
  for (const [name, build, re, type] of cases) {
    await t.step(name, async () => {
      const dir = await build();
      const err = await XlstmLarge.fromPretrained(dir, { backend: "reference" }).then(
        () => null,
        (e) => e,
      );
      assert.ok(err instanceof type, `${name}: expected ${type.name}, got ${err}`);
      assert.match(err.message, re(dir));
    });
  }
  await t.step("a truncated shard is named with its file", async () => {
    const dir = `${base}/trunc`;
    await writeXlstmLargeCheckpoint(dir, small, { maxShardBytes: 30_000 });
    const shard = [...Deno.readDirSync(dir)].map((e) =>
      e.name
    ).filter((n) => n.endsWith(".safetensors")).sort()[1];
    await Deno.truncate(`${dir}/${shard}`, (await Deno.stat(`${dir}/${shard}`)).size - 1);
    const err = await XlstmLarge.fromPretrained(dir, { backend: "reference" }).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof SafetensorsError, String(err));
    assert.match(
      err.message,
      new RegExp(`${shard}: tensor ".*": data_offsets .* exceed the data section`),
    );
  });
  await t.step("planning reads no tensor", () => {
    let reads = 0;
    const specs = new Map(xlstmLargeWeightSpecs(small).map((s) => [s.name, s.shape]));
    specs.delete("lm_head.weight");
    const source = {
      names: () => [...specs.keys()],
      entry: (n: string) => ({ shape: specs.get(n)!, file: "x.safetensors" }),
      read: () => {
        reads++;
        return Promise.resolve(new Float32Array(0));
      },
    };
    assert.throws(() => planXlstmLargeWeights(small, source), /missing tensor "lm_head\.weight"/);
    assert.equal(reads, 0);
  });
  await Deno.remove(base, { recursive: true });
});

Deno.test("tools/hf_xlstm_compare.ts loads a hub-layout folder and gates on its targets", async () => {
  const base = await Deno.makeTempDir({ prefix: "hf_compare_" });
  const c = createXlstmLargeConfig({ ...shapes[0], numBlocks: 1 });
  const dir = `${base}/tiny`;
  await writeXlstmLargeCheckpoint(dir, c, { seed: 9 });
  const model = await XlstmLarge.random(c, { seed: 9, backend: "reference" });
  const ids = randomIds(c.vocabSize, 2, 2 * c.chunkSize + 1, 9);
  const whole = await model.forward(ids);
  const P = c.chunkSize + 1;
  const first = await model.forward(ids.map((r) => r.slice(0, P)));
  const cont = await model.forward(ids.map((r) => r.slice(P)), { state: first.state });
  const asCase = (kind: string, logits: Tensor, extra: Record<string, unknown>) => ({
    kind,
    ids,
    shape: logits.shape,
    logits_f64: [...logits.data],
    logits_f32: [...logits.data].map(Math.fround),
    hf_f32_vs_f64_rel_l2: 0,
    ...extra,
  });
  const cases = [
    asCase("prompt", whole.logits, { S: ids[0].length }),
    asCase("continuation", cont.logits, { S: ids[0].length - P, prefix: P }),
  ];
  await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify({ name: "tiny", cases }));
  const run = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tools/hf_xlstm_compare.ts", base, "--backends", "reference"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      code: out.code,
      text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
    };
  };
  const ok = await run();
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /tiny +reference f32 +S=9 +vs HF f64 0\.00e\+0/);
  assert.match(ok.text, /prefix 5 \+ 4/);
  const csv = await Deno.readTextFile(`${base}/compare.csv`);
  assert.equal(csv.trim().split("\n").length, 3);
  // a logit off by 1e-6 relative must fail the 1e-7 target
  cases[0].logits_f64 = cases[0].logits_f64.map((x) => x * (1 + 1e-6));
  await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify({ name: "tiny", cases }));
  const bad = await run();
  assert.equal(bad.code, 1, bad.text);
  assert.match(bad.text, /FAIL > 1e-7/);
  await Deno.remove(base, { recursive: true });
});

Deno.test("tools/xlstm_convert.ts: fused xlstm layout → hub layout in F16 shards, same model", async () => {
  const base = await Deno.makeTempDir({ prefix: "xlstm_convert_" });
  await writeXlstmLargeCheckpoint(`${base}/in`, small, {
    seed: 4,
    layout: "xlstm",
    weightMode: "fused",
  });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "tools/xlstm_convert.ts",
      `${base}/in`,
      `${base}/out`,
      "--dtype",
      "F16",
      "--shard-mb",
      "0.05",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const ck = await SafetensorsCheckpoint.open(`${base}/out`);
  assert.ok(ck.indexFile, "sharded");
  assert.deepEqual(ck.names(), xlstmLargeWeightSpecs(small).map((s) => s.name).sort());
  assert.ok(ck.names().every((n) => ck.entry(n).dtype === "F16"));
  ck.close();
  const ids = randomIds(small.vocabSize, 1, 6, 4);
  const a = await XlstmLarge.fromPretrained(`${base}/in`, { backend: "reference", dtype: "f16" });
  const b = await XlstmLarge.fromPretrained(`${base}/out`, { backend: "reference", dtype: "f16" });
  assert.equal(b.config.weightMode, "single");
  assert.deepEqual([...(await b.forward(ids)).logits.data], [
    ...(await a.forward(ids)).logits.data,
  ]);
  await Deno.remove(base, { recursive: true });
});
