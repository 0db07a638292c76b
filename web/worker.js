// The float64 reference, off the main thread: the page stays responsive while it runs. It rebuilds
// the inputs from the seed (the same generator as the page), so only numbers cross the boundary.
import * as mlstm from "./mlstm.js";

self.onmessage = async (ev) => {
  if (ev.data.model) return modelReference(ev.data);
  const { id, reference, config, seed, chunkSize, backward } = ev.data;
  try {
    const x = mlstm.randomMlstmInputs(config, new mlstm.Random(seed));
    const kernel = mlstm.getMlstmKernel(reference);
    const { h } = await kernel.forward(x, { chunkSize });
    const out = { h: h.data };
    if (backward) {
      const { B, NH, S, DHV } = config;
      const dh = mlstm.randomTensor([B, NH, S, DHV], new mlstm.Random(seed + 1));
      const g = await kernel.backward(x, dh, { chunkSize });
      for (const name of ["dq", "dk", "dv", "di", "df"]) out[name] = g[name].data;
    }
    self.postMessage({ id, out }, Object.values(out).map((a) => a.buffer));
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
};

/** The float64 xLSTM Large model with the page's weights (same seed, dtype) over the same tokens. */
async function modelReference({ id, model, seed, dtype, ids }) {
  try {
    // The WebGPU backend draws its random weights on the GPU from a counter-based hash; the same
    // hash on the CPU gives the reference the same weights.
    const c = mlstm.createXlstmLargeConfig(model);
    const weights = mlstm.hashRandomXlstmLargeWeights(c, seed, dtype);
    const m = await mlstm.XlstmLarge.fromWeights(c, weights, { backend: "reference" });
    const { logits } = await m.forward([ids]);
    m.destroy();
    const data = Float64Array.from(logits.data);
    self.postMessage({ id, out: { logits: data } }, [data.buffer]);
  } catch (e) {
    self.postMessage({ id, error: String(e?.message ?? e) });
  }
}
