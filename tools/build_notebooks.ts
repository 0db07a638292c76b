/**
 * Builds `notebooks/NN_name.ipynb` from `notebooks/NN_name.cells.ts`, cell sources in the
 * "percent" format: a line `// %%` starts a code cell, `// %% [markdown]` a markdown cell whose
 * lines drop their leading `// `. Lines before the first marker are the file's own header and are
 * not copied. The notebooks carry the Deno kernelspec and no outputs; cell ids are stable, so a
 * rebuild of unchanged sources gives identical files.
 *
 * Usage: `deno run -A tools/build_notebooks.ts` (write) or `... --check` (fail if a committed
 * notebook differs from its source).
 *
 * @module
 */

const NOTEBOOK_DIR = new URL("../notebooks/", import.meta.url);

interface Cell {
  kind: "code" | "markdown";
  lines: string[];
}

/**
 * Splits a percent-format source into cells.
 *
 * @param text The source.
 * @returns The cells, trailing blank lines trimmed, empty cells dropped.
 */
export function parseCells(text: string): Cell[] {
  const cells: Cell[] = [];
  let cur: Cell | undefined;
  for (const line of text.split("\n")) {
    const m = line.match(/^\/\/ %%(?:\s*\[(markdown|md)\])?\s*$/);
    if (m) {
      cur = { kind: m[1] ? "markdown" : "code", lines: [] };
      cells.push(cur);
      continue;
    }
    if (!cur) continue;
    cur.lines.push(cur.kind === "markdown" ? line.replace(/^\/\/ ?/, "") : line);
  }
  for (const c of cells) {
    while (c.lines.length && c.lines[0].trim() === "") c.lines.shift();
    while (c.lines.length && c.lines[c.lines.length - 1].trim() === "") c.lines.pop();
  }
  return cells.filter((c) => c.lines.length > 0);
}

/**
 * The notebook JSON (nbformat 4.5) of the cells, with Deno's kernelspec and no outputs.
 *
 * @param cells The cells.
 * @param stem The notebook's name, used for the cell ids.
 * @returns The .ipynb text.
 */
export function toNotebook(cells: Cell[], stem: string): string {
  const prefix = stem.replace(/[^A-Za-z0-9]/g, "").slice(0, 12);
  const nb = {
    cells: cells.map((c, j) => {
      const source = c.lines.map((l, k) => (k < c.lines.length - 1 ? `${l}\n` : l));
      const id = `${prefix}-${String(j).padStart(2, "0")}`;
      return c.kind === "code"
        ? { cell_type: "code", execution_count: null, id, metadata: {}, outputs: [], source }
        : { cell_type: "markdown", id, metadata: {}, source };
    }),
    metadata: {
      kernelspec: { display_name: "Deno", language: "typescript", name: "deno" },
      language_info: {
        codemirror_mode: "typescript",
        file_extension: ".ts",
        mimetype: "text/x.typescript",
        name: "typescript",
        nbconvert_exporter: "script",
        pygments_lexer: "typescript",
      },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return JSON.stringify(nb, null, 1) + "\n";
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = 0, count = 0;
  const names = [...Deno.readDirSync(NOTEBOOK_DIR)].map((e) => e.name)
    .filter((n) => n.endsWith(".cells.ts")).sort();
  for (const name of names) {
    const stem = name.replace(/\.cells\.ts$/, "");
    const text = toNotebook(parseCells(Deno.readTextFileSync(new URL(name, NOTEBOOK_DIR))), stem);
    const out = new URL(`${stem}.ipynb`, NOTEBOOK_DIR);
    count++;
    if (check) {
      let old = "";
      try {
        old = Deno.readTextFileSync(out);
      } catch {
        // missing counts as stale
      }
      if (old !== text) {
        stale++;
        console.log(
          `stale: notebooks/${stem}.ipynb (rebuild: deno run -A tools/build_notebooks.ts)`,
        );
      }
    } else {
      Deno.writeTextFileSync(out, text);
      console.log(`wrote notebooks/${stem}.ipynb`);
    }
  }
  if (check) {
    console.log(`${count - stale} of ${count} notebooks match their sources`);
    if (stale > 0) Deno.exit(1);
  }
}
