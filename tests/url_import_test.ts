// `import * as mlstm from "<url>/mod.ts"` works: the library's modules import only relative paths,
// and a fresh DENO_DIR that imports mod.ts over loopback HTTP runs kernels.

import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const libraryDirs = ["core", "reference", "kernels", "profiling", "io", "models"];
/**
 * Separate entry points (deno.json "exports") that may import an npm package because nothing in
 * the library imports them: the checkpoint tokenizer (npm @huggingface/tokenizers).
 */
const separateEntryPoints = ["models/xlstm_large/tokenizer.ts"];

function* libraryFiles(): Generator<string> {
  yield join(root, "mod.ts");
  for (const dir of libraryDirs) {
    const walk = function* (d: string): Generator<string> {
      let entries: Deno.DirEntry[];
      try {
        entries = [...Deno.readDirSync(d)];
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory) yield* walk(p);
        else if (e.name.endsWith(".ts")) yield p;
      }
    };
    yield* walk(join(root, dir));
  }
}

/**
 * Module specifiers of a source text: `import … from "x"`, `export … from "x"`, side-effect
 * imports `import "x";` and dynamic `import("x")`.
 */
function importSpecifiers(src: string): string[] {
  const importRe = new RegExp(
    [
      /(?:import|export)\s[^"';]*?from\s*["']([^"']+)["']/.source,
      /\bimport\s*["']([^"']+)["']/.source,
      /\bimport\(\s*["']([^"']+)["']\s*\)/.source,
    ].join("|"),
    "g",
  );
  return [...src.matchAll(importRe)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

Deno.test("the import pattern finds static, side-effect and dynamic imports", () => {
  const src = [
    `import { a } from "./a.ts";`,
    `import type { B } from '../b.ts';`,
    `export * from "npm:c@1";`,
    `import "npm:x";`,
    `import'jsr:@y/z';`,
    `const m = await import("https://example.com/m.ts");`,
    `const s = "import is a word";`,
  ].join("\n");
  assert.deepEqual(importSpecifiers(src), [
    "./a.ts",
    "../b.ts",
    "npm:c@1",
    "npm:x",
    "jsr:@y/z",
    "https://example.com/m.ts",
  ]);
});

Deno.test("library modules import only relative paths", () => {
  const bad: string[] = [];
  for (const file of libraryFiles()) {
    if (separateEntryPoints.includes(relative(root, file))) continue;
    // Code only: JSDoc examples may import node: built-ins, they are not part of the module graph.
    const src = Deno.readTextFileSync(file).split("\n").filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l))
      .join("\n");
    for (const spec of importSpecifiers(src)) {
      if (!spec.startsWith("./") && !spec.startsWith("../")) {
        bad.push(`${relative(root, file)}: ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, [], `non-relative imports in the library:\n${bad.join("\n")}`);
});

Deno.test("mod.ts imported from a URL in a fresh DENO_DIR runs a kernel", async () => {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      const file = join(root, path);
      if (!file.startsWith(root) || path.includes("..")) return new Response("no", { status: 403 });
      try {
        const body = await Deno.readFile(file);
        const type = file.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  const denoDir = await Deno.makeTempDir({ prefix: "mlstm-deno-dir-" });
  const work = await Deno.makeTempDir({ prefix: "mlstm-url-" });
  const script = join(work, "use.ts");
  await Deno.writeTextFile(
    script,
    `import * as mlstm from "http://127.0.0.1:${port}/mod.ts";
const x = mlstm.randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 4, DHV: 8 }, new mlstm.Random(1));
const names = mlstm.getAvailableMlstmKernels();
const ref = await mlstm.getMlstmKernel("reference--recurrent").forward(x);
const result: Record<string, number> = {};
for (const name of names.filter((n) => n === "reference--chunkwise" || n === "chunkwise--xl_chunk")) {
  const out = await mlstm.getMlstmKernel(name).forward(x, { chunkSize: 64 });
  const h = "data" in out.h ? out.h : await out.h.read();
  result[name] = mlstm.deviation(h.data, (ref.h as mlstm.Tensor).data).relL2;
}
console.log(JSON.stringify({ names, result }));
`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", `--allow-import=127.0.0.1:${port}`, "--allow-env", script],
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      cwd: work,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const { names, result } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.ok(names.includes("reference--chunkwise"));
    assert.ok(result["reference--chunkwise"] < 1e-12);
    if (names.includes("chunkwise--xl_chunk")) {
      // GPU kernel through the URL import (runs whenever the registry has it).
      assert.ok(result["chunkwise--xl_chunk"] < 1e-5, JSON.stringify(result));
    }
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(denoDir, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("no library module imports a separate entry point (it stays out of mod.ts's graph)", () => {
  const bad: string[] = [];
  for (const file of libraryFiles()) {
    const src = Deno.readTextFileSync(file).split("\n")
      .filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l) && !/^\s*import type\b/.test(l)).join("\n");
    for (const spec of importSpecifiers(src)) {
      if (!spec.startsWith(".")) continue;
      const target = relative(root, join(file, "..", spec));
      if (separateEntryPoints.includes(target)) {
        bad.push(`${relative(root, file)} imports ${target}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
