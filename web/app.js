// The playground: pick a kernel, a shape, a dtype and a seed; run it on this browser's GPU; compare
// h (and the gradients, where the kernel has a backward pass) with the float64 reference of the
// same form, computed in a Web Worker. URL parameters preset the form (?kernel=…&S=…&run=1).
import * as mlstm from "./mlstm.js";

const $ = (id) => document.getElementById(id);
/** Relative L2 tolerances (SPEC §4 for h; the backward tests' base for gradients). */
const TOLERANCE = { h: { f32: 1e-5, f16: 1e-3 }, grad: { f32: 1e-4, f16: 5e-3 } };
const SHAPE_FIELDS = ["B", "NH", "S", "DQK", "DHV", "chunk", "seed"];
const MODEL_FIELDS = [
  "m-vocab",
  "m-dim",
  "m-blocks",
  "m-heads",
  "m-prompt",
  "m-new",
  "m-dtype",
  "m-seed",
];
/** Relative L2 tolerances of the model's logits (the model tests' bound for f32). */
const MODEL_TOLERANCE = { f32: 1e-5, f16: 1e-2 };
let gpu = null;
let runs = 0;

function setStatus(state, message, isError = false) {
  document.body.dataset.state = state;
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
}

/** The float64 reference of a kernel's form and gate. */
function referenceOf(kernel) {
  const form = kernel.form === "parallel" || kernel.form === "chunkwise"
    ? kernel.form
    : "recurrent";
  return `reference--${form}${kernel.inputGate === "sig" ? "_siging" : ""}`;
}

const worker = new Worker("worker.js", { type: "module" });
const pending = new Map();
worker.onmessage = (ev) => {
  const { id, out, error } = ev.data;
  const p = pending.get(id);
  pending.delete(id);
  if (error) p.reject(new Error(`Reference: ${error}`));
  else p.resolve(out);
};
function referenceInWorker(request) {
  const id = ++runs;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, ...request });
  });
}

function webgpuKernels() {
  return mlstm.getAvailableMlstmKernels().map((n) => mlstm.getMlstmKernel(n))
    // The step kernel computes one generation step (S = 1): it belongs to the model tab.
    .filter((k) => k.backend === "webgpu" && k.form !== "step");
}

async function init() {
  const select = $("kernel");
  for (const k of webgpuKernels()) {
    const o = document.createElement("option");
    o.value = k.name;
    o.textContent = k.backward ? `${k.name} (forward + backward)` : `${k.name} (forward)`;
    select.append(o);
  }
  const params = new URLSearchParams(location.search);
  for (const f of [...SHAPE_FIELDS, "kernel", "dtype", ...MODEL_FIELDS]) {
    if (params.has(f)) $(f).value = params.get(f);
  }
  if (params.has("backward")) $("backward").checked = params.get("backward") !== "0";
  for (const b of document.querySelectorAll("nav .tab")) {
    b.addEventListener("click", () => {
      for (const t of document.querySelectorAll("nav .tab")) t.classList.toggle("active", t === b);
      $("tab-kernels").hidden = b.dataset.tab !== "kernels";
      $("tab-model").hidden = b.dataset.tab !== "model";
    });
  }
  $("controls").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run();
  });

  if (!navigator.gpu) {
    const why = globalThis.isSecureContext
      ? "This browser does not offer WebGPU. Use Chrome or Edge 113+ (on Linux: enable chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan), Safari 26+, or Firefox 141+ on Windows (elsewhere: dom.webgpu.enabled in about:config)."
      : "WebGPU needs a secure context: open this page over https:// or from http://localhost.";
    $("adapter").textContent = "No WebGPU.";
    setStatus("no-webgpu", why, true);
    return;
  }
  try {
    gpu = await mlstm.getGpu();
  } catch (e) {
    $("adapter").textContent = "No WebGPU adapter.";
    // The library's NoAdapterError explains Deno's setup; a visitor needs the browser's.
    const why = e instanceof mlstm.NoAdapterError
      ? 'This browser has WebGPU but gave no adapter: the GPU may be blocklisted or hardware acceleration switched off. In Chrome or Edge, enable Settings > System > "Use graphics acceleration when available"; chrome://gpu says why WebGPU is off, and chrome://flags/#enable-unsafe-webgpu (plus #enable-vulkan on Linux) lifts the blocklist.'
      : `Could not open a WebGPU device: ${e.message}`;
    setStatus("no-adapter", why, true);
    return;
  }
  const yes = (b) => (b ? "yes" : "no");
  const info = gpu.adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") ||
    gpu.adapterName;
  $("adapter").textContent = `Adapter: ${name} · shader-f16: ${
    yes(gpu.hasF16)
  } · timestamp-query: ${
    yes(gpu.hasTimestamps)
  } · storage buffers per shader: ${gpu.limits.maxStorageBuffersPerShaderStage}`;
  if (!gpu.hasF16) {
    $("dtype").querySelector("option[value=f16]").textContent =
      "f16 (needs shader-f16: not on this adapter)";
  }
  $("run").disabled = false;
  $("m-run").disabled = false;
  if (!gpu.hasF16) {
    $("m-dtype").querySelector("option[value=f16]").textContent =
      "f16 (needs shader-f16: not on this adapter)";
  }
  $("model-controls").addEventListener("submit", (ev) => {
    ev.preventDefault();
    runModel();
  });
  setStatus("ready", "Ready.");
  if (params.get("tab") === "model") document.querySelector('nav .tab[data-tab="model"]').click();
  if (params.get("run") === "1") params.get("tab") === "model" ? runModel() : run();
}

function positiveInt(name) {
  const v = Number($(name).value);
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`${name} must be a positive integer, received ${$(name).value}`);
  }
  return v;
}

/** Per step t, the largest |out − ref| over batch, heads and features. */
function errorPerStep(out, ref, B, NH, S, width) {
  const e = new Array(S).fill(0);
  for (let bh = 0; bh < B * NH; bh++) {
    for (let t = 0; t < S; t++) {
      for (let j = 0; j < width; j++) {
        const idx = (bh * S + t) * width + j;
        const d = Math.abs(out[idx] - ref[idx]);
        e[t] = Number.isNaN(d) || Number.isNaN(e[t]) ? NaN : Math.max(e[t], d);
      }
    }
  }
  return e;
}

async function timed(fn) {
  const profiler = mlstm.startProfiling(gpu);
  let result;
  try {
    result = await fn();
  } catch (e) {
    await profiler.stop();
    throw e;
  }
  const report = await profiler.stop();
  const ms = report.records.reduce((s, r) => s + r.gpuMs, 0);
  return { result, ms, timing: report.timing, dispatches: report.records.length };
}

async function run() {
  let kernel, B, NH, S, DQK, DHV, chunkSize, seed;
  try {
    kernel = mlstm.getMlstmKernel($("kernel").value);
    [B, NH, S, DQK, DHV, chunkSize] = ["B", "NH", "S", "DQK", "DHV", "chunk"].map(positiveInt);
    seed = Number($("seed").value);
    if (!Number.isInteger(seed)) {
      throw new RangeError(`seed must be an integer, received ${$("seed").value}`);
    }
  } catch (e) {
    setStatus("refused", e.message, true);
    return;
  }
  const dtype = $("dtype").value;
  if (dtype === "f16" && !gpu.hasF16) {
    setStatus(
      "refused",
      `f16 storage needs the WebGPU feature shader-f16, which this adapter (${gpu.adapterName}) does not offer. Choose f32: every kernel runs in f32 here.`,
      true,
    );
    return;
  }
  const backward = $("backward").checked && typeof kernel.backward === "function";
  const config = { B, NH, S, DQK, DHV };
  $("run").disabled = true;
  setStatus("running", `Running ${kernel.name} on the GPU; float64 reference in a worker…`);
  try {
    const reference = referenceOf(kernel);
    const refPromise = referenceInWorker({ reference, config, seed, chunkSize, backward });
    const x = mlstm.randomMlstmInputs(config, new mlstm.Random(seed));
    const options = { chunkSize, dtype };
    const fw = await timed(() => kernel.forward(x, options));
    const outs = { h: fw.result.h };
    let bw;
    if (backward) {
      const dh = mlstm.randomTensor([B, NH, S, DHV], new mlstm.Random(seed + 1));
      bw = await timed(() => kernel.backward(x, dh, options));
      for (const g of ["dq", "dk", "dv", "di", "df"]) outs[g] = bw.result[g];
    }
    setStatus("running", "GPU done; waiting for the float64 reference…");
    const ref = await refPromise;
    const widths = { h: DHV, dq: DQK, dk: DQK, dv: DHV, di: 1, df: 1 };
    const rows = [];
    const traces = [];
    const tensors = {};
    for (const [name, t] of Object.entries(outs)) {
      const data = t.data ?? (await t.read()).data;
      tensors[name] = { out: data, ref: ref[name] };
      const d = mlstm.deviation(data, ref[name]);
      const tol = (name === "h" ? TOLERANCE.h : TOLERANCE.grad)[dtype];
      rows.push({ tensor: name, ...d, tolerance: tol, pass: d.relL2 <= tol });
      const e = errorPerStep(data, ref[name], B, NH, S, widths[name]);
      traces.push({
        x: e.map((_, i) => i),
        y: e.map((v) => (v > 0 ? v : null)),
        name,
        mode: "lines",
      });
    }
    showTable(rows);
    const fmt = (r) =>
      `${r.ms.toFixed(3)} ms ${
        r.timing === "gpu-timestamps"
          ? "GPU (timestamp queries)"
          : "wall clock (no timestamp-query)"
      }, ${r.dispatches} dispatches`;
    $("timing").textContent =
      `${kernel.name}, ${dtype}, B=${B} NH=${NH} S=${S} DQK=${DQK} DHV=${DHV}, chunk ${chunkSize}: forward ${
        fmt(fw)
      }` +
      (bw ? `; backward ${fmt(bw)}` : "") +
      ". (Pipelines compile on the first run; run again for steady timings.)";
    Plotly.newPlot("plot", traces, {
      title: { text: `|error| per step vs ${reference} (float64)` },
      xaxis: { title: { text: "step t" } },
      yaxis: { title: { text: "max |out − ref|" }, type: "log", exponentformat: "power" },
      margin: { t: 40, r: 10 },
    }, { displayModeBar: false, responsive: true });
    const failed = rows.filter((r) => !r.pass).map((r) => r.tensor);
    // For scripts and tests driving the page: the numbers behind the table.
    globalThis.mlstmLastRun = {
      reference,
      chunkSize,
      tensors,
      kernel: kernel.name,
      dtype,
      config,
      rows,
      forwardMs: fw.ms,
      backwardMs: bw?.ms,
    };
    setStatus(
      "done",
      failed.length
        ? `Done: ${failed.join(", ")} above tolerance.`
        : `Done: every error within tolerance (reference: ${reference}).`,
    );
  } catch (e) {
    if (e instanceof mlstm.GpuError && /above this device's/.test(e.message)) {
      // A limit of this adapter (e.g. storage buffers per shader), checked before anything ran.
      setStatus("unsupported", `This kernel does not fit this adapter: ${e.message}`, true);
    } else {
      console.error(e);
      setStatus("error", `${e.name}: ${e.message}`, true);
    }
  } finally {
    $("run").disabled = false;
  }
}

function setModelStatus(state, message, isError = false) {
  document.body.dataset.modelState = state;
  $("m-status").textContent = message;
  $("m-status").className = isError ? "error" : "";
}

/** Index of the largest of n values starting at offset. */
function argmax(a, offset, n) {
  let best = 0;
  for (let j = 1; j < n; j++) if (a[offset + j] > a[offset + best]) best = j;
  return best;
}

/**
 * Random prompt, prefill, then greedy generation one token at a time (states carried) on the GPU;
 * the worker's float64 model reads the same tokens in one call; logits compared per step.
 */
async function runModel() {
  let cfg, P, N, seed;
  try {
    const [V, D, L, H] = ["m-vocab", "m-dim", "m-blocks", "m-heads"].map(positiveInt);
    P = positiveInt("m-prompt");
    N = Number($("m-new").value);
    seed = Number($("m-seed").value);
    if (!Number.isInteger(N) || N < 0) {
      throw new RangeError(`new tokens must be an integer ≥ 0, received ${$("m-new").value}`);
    }
    if (!Number.isInteger(seed)) {
      throw new RangeError(`seed must be an integer, received ${$("m-seed").value}`);
    }
    cfg = { vocabSize: V, embeddingDim: D, numBlocks: L, numHeads: H };
    mlstm.createXlstmLargeConfig(cfg); // validates, naming the bad option
  } catch (e) {
    setModelStatus("refused", e.message, true);
    return;
  }
  const dtype = $("m-dtype").value;
  if (dtype === "f16" && !gpu.hasF16) {
    setModelStatus(
      "refused",
      `f16 storage needs the WebGPU feature shader-f16, which this adapter (${gpu.adapterName}) does not offer. Choose f32.`,
      true,
    );
    return;
  }
  $("m-run").disabled = true;
  setModelStatus("running", "Building the model on the GPU and reading the prompt…");
  let model;
  try {
    const V = cfg.vocabSize;
    const rng = new mlstm.Random(seed + 7);
    const prompt = Array.from({ length: P }, () => Math.min(V - 1, Math.floor(rng.uniform() * V)));
    // Random weights drawn on the GPU (hash-based; the worker draws the same ones on the CPU).
    model = await mlstm.XlstmLarge.random(cfg, { backend: "webgpu", seed, dtype });
    const t0 = performance.now();
    let out = await model.forward([prompt]);
    const prefillMs = performance.now() - t0;
    const rows = [Float64Array.from(out.logits.data)]; // (P, V)
    const ids = [...prompt];
    const stepMs = [];
    let next = argmax(rows[0], (P - 1) * V, V);
    for (let n = 0; n < N; n++) {
      setModelStatus("running", `Generating token ${n + 1} of ${N}…`);
      ids.push(next);
      const t = performance.now();
      out = await model.forward([[next]], { state: out.state });
      stepMs.push(performance.now() - t);
      rows.push(Float64Array.from(out.logits.data));
      next = argmax(out.logits.data, 0, V);
    }
    setModelStatus("running", "GPU done; waiting for the float64 model in the worker…");
    const ref = (await referenceInWorker({ model: cfg, seed, dtype, ids })).logits; // (P + N, V)
    const gpuAll = new Float64Array(ref.length);
    rows.reduce((o, r) => (gpuAll.set(r, o), o + r.length), 0);
    const tol = MODEL_TOLERANCE[dtype];
    const table = [];
    const perStep = [];
    for (let t = 0; t < P + N; t++) {
      const g = gpuAll.subarray(t * V, (t + 1) * V), r = ref.subarray(t * V, (t + 1) * V);
      const d = mlstm.deviation(g, r);
      perStep.push(d.maxAbs);
      if (t < P - 1) continue;
      table.push({
        what: t === P - 1 ? `prompt (its last step)` : `generated token ${t - P + 1}`,
        ...d,
        tolerance: tol,
        agree: argmax(g, 0, V) === argmax(r, 0, V),
        pass: d.relL2 <= tol,
      });
    }
    const whole = mlstm.deviation(gpuAll, ref);
    table.unshift({
      what: `all ${P + N} steps`,
      ...whole,
      tolerance: tol,
      agree: table.every((x) => x.agree),
      pass: whole.relL2 <= tol,
    });
    showModelTable(table);
    const perToken = N ? `${(stepMs.reduce((a, b) => a + b, 0) / N).toFixed(1)} ms` : "–";
    $("m-tokens").textContent = `prompt ${JSON.stringify(prompt)} → generated ${
      JSON.stringify(ids.slice(P))
    }. Prefill ${
      prefillMs.toFixed(1)
    } ms, ${perToken} per generated token (wall clock, with the read-back of each token's logits; the first run also compiles pipelines).`;
    Plotly.newPlot("m-plot", [{
      x: perStep.map((_, i) => i),
      y: perStep.map((v) => (v > 0 ? v : null)),
      mode: "lines+markers",
      name: "logits",
    }], {
      title: { text: "max |logits − float64 logits| per step" },
      xaxis: { title: { text: `step (prompt: 0–${P - 1})` } },
      yaxis: { type: "log", exponentformat: "power" },
      margin: { t: 40, r: 10 },
    }, { displayModeBar: false, responsive: true });
    // For scripts and tests driving the page.
    globalThis.mlstmLastModelRun = { config: cfg, dtype, ids, prompt, rows: table };
    const failed = table.filter((x) => !x.pass).map((x) => x.what);
    setModelStatus(
      "done",
      failed.length
        ? `Done: ${failed.join(", ")} above tolerance.`
        : "Done: every step's logits within tolerance of the float64 model.",
    );
  } catch (e) {
    if (e instanceof mlstm.GpuError && /above this device's/.test(e.message)) {
      setModelStatus("unsupported", `The model does not fit this adapter: ${e.message}`, true);
    } else {
      console.error(e);
      setModelStatus("error", `${e.name}: ${e.message}`, true);
    }
  } finally {
    model?.destroy();
    $("m-run").disabled = false;
  }
}

function showModelTable(rows) {
  const body = $("m-errors").querySelector("tbody");
  body.replaceChildren();
  const sci = (v) => (Number.isFinite(v) ? v.toExponential(2) : String(v));
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (
      const [text, cls] of [
        [r.what],
        [sci(r.maxAbs)],
        [sci(r.relL2)],
        [sci(r.tolerance)],
        [r.agree ? "yes" : "no"],
        [r.pass ? "ok" : "above", r.pass ? "pass" : "fail"],
      ]
    ) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    body.append(tr);
  }
  $("m-errors").hidden = false;
}

function showTable(rows) {
  const body = $("errors").querySelector("tbody");
  body.replaceChildren();
  const sci = (v) => (Number.isFinite(v) ? v.toExponential(2) : String(v));
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.dataset.tensor = r.tensor;
    tr.dataset.relL2 = String(r.relL2);
    tr.dataset.tolerance = String(r.tolerance);
    for (
      const [text, cls] of [
        [r.tensor],
        [sci(r.maxAbs)],
        [sci(r.relL2)],
        [sci(r.p99)],
        [sci(r.tolerance)],
        [r.pass ? "ok" : "above", r.pass ? "pass" : "fail"],
      ]
    ) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    body.append(tr);
  }
  $("errors").hidden = false;
}

init().catch((e) => {
  console.error(e);
  setStatus("error", `${e.name}: ${e.message}`, true);
});
