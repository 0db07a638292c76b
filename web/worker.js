// The float64 reference, off the main thread: the page stays responsive while it runs. It rebuilds
// the inputs from the seed (the same generator as the page), so only numbers cross the boundary.
import * as mlstm from "./mlstm.js";

self.onmessage = async (ev) => {
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
