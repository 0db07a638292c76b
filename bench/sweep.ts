// Runs a benchmark sweep from a JSON config and writes bench_outputs/<UTC timestamp>_<config name>/
// (e.g. bench_outputs/2026-12-01T07-46-59Z_tiny/; --out replaces the folder): results.csv,
// config.json, runtime_vs_S.html (offline plotly) and runtime_vs_S.png (headless Chromium).
//
//   deno task sweep --config bench/configs/tiny.json
//   deno task sweep --config tfla --out bench_outputs/tfla_h100 --ceilings
//   deno task sweep --config tiny --compare bench_outputs/py/results.csv --no-png
//
// Flags: --config <path|name> (a bare name means bench/configs/<name>.json), --out <dir>,
// --no-png, --quiet (no progress bar), --ceilings (measure copy/matmul ceilings first and fill
// pct_flop_peak; written to ceilings.json), --compare <csv> (repeatable; plotted alongside),
// --list (print the configurations and exit), --filter <regex> (only labels that match, e.g. to
// split a long sweep across device runs; `deno task plot` joins the CSVs).

import { parseArgs } from "node:util";
import { measureCeilings } from "../profiling/ceilings.ts";
import { loadKernels } from "./_kernels.ts";
import { expandSweep, loadSweepConfig } from "./_sweep/config.ts";
import { runSweep, stamp } from "./_sweep/run.ts";

/** Resolves `--config` to a file: a path as given, or bench/configs/<name>.json. */
export function configPath(arg: string): string {
  if (arg.includes("/") || arg.endsWith(".json")) return arg;
  return new URL(`./configs/${arg}.json`, import.meta.url).pathname;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      config: { type: "string", default: "tiny" },
      out: { type: "string" },
      "no-png": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      ceilings: { type: "boolean", default: false },
      compare: { type: "string", multiple: true },
      list: { type: "boolean", default: false },
      filter: { type: "string" },
    },
  });
  const config = await loadSweepConfig(configPath(values.config));
  if (values.list) {
    // Preview: the configurations the sweep would measure, without touching the GPU.
    const re = values.filter ? new RegExp(values.filter) : undefined;
    for (const c of expandSweep(config).filter((c) => !re || re.test(c.label))) {
      console.log(
        `${c.index}\t${c.label}\t${c.pass}\t${c.dtype}\tB=${c.B} NH=${c.NH} S=${c.S} ` +
          `DQK=${c.DQK} DHV=${c.DHV}${c.skip ? `\tskip: ${c.skip}` : ""}`,
      );
    }
    Deno.exit(0);
  }
  const outDir = values.out ?? `bench_outputs/${stamp()}_${config.name}`;
  let ceilings;
  if (values.ceilings) {
    const { gpu } = await loadKernels();
    if (!gpu) throw new Error("--ceilings needs a WebGPU adapter");
    ceilings = await measureCeilings(gpu);
    await Deno.mkdir(outDir, { recursive: true });
    await Deno.writeTextFile(`${outDir}/ceilings.json`, JSON.stringify(ceilings, null, 2) + "\n");
    console.error(
      `ceilings: ${
        (ceilings.flopsPerSecond / 1e12).toFixed(3)
      } TFLOP/s (matmul ${ceilings.matmulSize}³), ` +
        `${(ceilings.bytesPerSecond / 1e9).toFixed(1)} GB/s (copy)`,
    );
  }
  const out = await runSweep(config, {
    outDir,
    png: !values["no-png"],
    progress: !values.quiet,
    ...(ceilings ? { ceilings } : {}),
    compare: values.compare ?? [],
    ...(values.filter ? { filter: new RegExp(values.filter) } : {}),
  });
  const bad = out.rows.filter((r) => String(r.status).startsWith("error"));
  console.log(`results: ${out.csvPath}`);
  console.log(
    `plot:    ${out.htmlPath ?? "(none)"}${out.pngPath ? `, ${out.pngPath}` : " (no PNG)"}`,
  );
  for (const r of bad) console.log(`  ${r.label} ${r.pass} S=${r.S}: ${r.status}`);
  // GPU devices keep the process alive otherwise.
  Deno.exit(0);
}
