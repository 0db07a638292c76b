// bench/generate_bench.ts --small in a subprocess (a smoke test of the GPU-machine script on the
// local adapter): it writes the three CSVs, the plots' HTML and a summary whose peak-memory check
// holds (the decoding state does not grow with the number of tokens).

import assert from "node:assert/strict";
import { gpuMissing } from "./_gpu.ts";

const ignore = await gpuMissing();

Deno.test(
  { name: "generate_bench.ts --small writes its CSVs, plots and summary", ignore },
  async () => {
    const out = Deno.makeTempDirSync();
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "bench/generate_bench.ts",
        "--small",
        "--out",
        out,
        "--dtypes",
        "f32",
        "--batches",
        "1,2",
        "--gen",
        "8,24",
        "--prompts",
        "8,40",
        "--ttft-reps",
        "1",
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, text);
    const files = [...Deno.readDirSync(out)].map((e) => e.name);
    for (
      const f of ["generate_tokens.csv", "generate_ttft.csv", "generate_matvec.csv", "summary.json"]
    ) {
      assert.ok(files.includes(f), `${f} in ${files.join(", ")}`);
    }
    const tokens = Deno.readTextFileSync(`${out}/generate_tokens.csv`).trim().split("\n");
    assert.equal(tokens.length, 1 + 2 * 2, tokens.join("\n")); // header + (B 1, 2) × (8, 24 tokens)
    const summary = JSON.parse(Deno.readTextFileSync(`${out}/summary.json`));
    assert.equal(summary.peak_memory_constant, true);
    assert.ok(summary.cpu_ms_per_step_max > 0);
    Deno.removeSync(out, { recursive: true });
  },
);
