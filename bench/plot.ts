// Re-plots one or more results.csv files (Deno sweeps and bench/mlstm_kernels_sweep.py runs) into
// one figure: runtime vs S (or --x <column>), forward and forward+backward side by side.
//
//   deno task plot bench_outputs/A/results.csv bench_outputs/B/results.csv --out bench_outputs/cmp
//
// Flags: --out <dir> (default: the first CSV's directory), --x <column> (default S),
// --title <text>, --linear-x, --linear-y, --no-png.

import { parseArgs } from "node:util";
import type { ResultRow } from "./_sweep/columns.ts";
import { readResultsCsv, writePlots } from "./_sweep/run.ts";

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      x: { type: "string", default: "S" },
      title: { type: "string" },
      "linear-x": { type: "boolean", default: false },
      "linear-y": { type: "boolean", default: false },
      "no-png": { type: "boolean", default: false },
    },
  });
  if (positionals.length === 0) {
    console.error("Usage: deno task plot <results.csv>... [--out dir] [--x S] [--no-png]");
    Deno.exit(2);
  }
  const rows: ResultRow[] = [];
  for (const p of positionals) rows.push(...await readResultsCsv(p));
  const outDir = values.out ?? positionals[0].replace(/\/[^/]*$/, "") ?? ".";
  await Deno.mkdir(outDir, { recursive: true });
  const names = [...new Set(rows.map((r) => String(r.benchmark)))].join(" + ");
  const { htmlPath, pngPath } = await writePlots(
    outDir,
    rows,
    {
      name: values.title ?? names,
      plot: { x: values.x as "S", logX: !values["linear-x"], logY: !values["linear-y"] },
    },
    !values["no-png"],
  );
  console.log(`plot: ${htmlPath}${pngPath ? `, ${pngPath}` : " (no PNG)"}`);
}
