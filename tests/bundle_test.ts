// The browser bundle: `deno task bundle` writes one ES module (dist/mlstm.js, its source map and
// .d.ts) from browser.ts, and nothing reachable from the browser entry refers to `Deno.` (outside
// guarded feature checks such as `typeof Deno !== "undefined"`). Modules that need Deno (files,
// subprocesses) belong behind their own entry points.

import assert from "node:assert/strict";

const root = new URL("..", import.meta.url);

/** Lines that use `Deno.` without a feature check on the same line. */
function unguardedDenoUses(code: string): string[] {
  return code.split("\n").filter((l) =>
    /(?<![\w$.])Deno\./.test(l) && !/typeof Deno\b|globalThis\.Deno\b|"Deno" in globalThis/.test(l)
  );
}

/** Source without comments (JSDoc examples may mention Deno; they are not code). */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

Deno.test("unguardedDenoUses() finds Deno. and lets feature checks through", () => {
  assert.deepEqual(unguardedDenoUses("const a = Deno.readFileSync(p);\nx.Deno.y;\nmyDeno.z"), [
    "const a = Deno.readFileSync(p);",
  ]);
  assert.deepEqual(unguardedDenoUses(`if (typeof Deno !== "undefined") Deno.exit(1);`), []);
});

Deno.test({
  name: "deno task bundle writes one browser ES module without Deno., with map and .d.ts",
  timeout: 120_000,
  async fn() {
    const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
    const task = (deno.tasks.bundle as string).split(" ").slice(2); // drop "npx deno"
    const out = await Deno.makeTempDir({ prefix: "mlstm-bundle-" });
    const args = task.map((a) => (a === "dist/mlstm.js" ? `${out}/mlstm.js` : a));
    assert.ok(args.includes("--platform=browser") && args.includes("browser.ts"));
    const r = await new Deno.Command(Deno.execPath(), { args, cwd: root, stderr: "piped" })
      .output();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    const js = await Deno.readTextFile(`${out}/mlstm.js`);
    assert.deepEqual(unguardedDenoUses(stripComments(js)), [], "the bundle refers to Deno.");
    assert.match(js, /^export \{/m, "an ES module with exports");
    assert.doesNotMatch(js, /^import /m, "no imports left: one self-contained file");
    assert.match(js, /\/\/# sourceMappingURL=mlstm\.js\.map/);
    assert.ok((await Deno.stat(`${out}/mlstm.js.map`)).size > 0);
    assert.match(await Deno.readTextFile(`${out}/mlstm.d.ts`), /getMlstmKernel/);
    // It works as a module: run a float64 reference through it.
    const m = await import(`file://${out}/mlstm.js`);
    const x = m.randomMlstmInputs({ B: 1, NH: 1, S: 6, DQK: 4, DHV: 4 }, new m.Random(2));
    const { h } = await m.getMlstmKernel("reference--chunkwise").forward(x, { chunkSize: 4 });
    assert.deepEqual(h.shape, [1, 1, 6, 4]);
    await Deno.remove(out, { recursive: true });
  },
});

interface GraphModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
}

/** The modules an entry reaches through static value imports, and its dynamic imports. */
async function staticGraph(entry: string): Promise<{ modules: string[]; dynamic: string[] }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const graph = JSON.parse(new TextDecoder().decode(r.stdout)) as { modules: GraphModule[] };
  const bySpec = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>(), dynamic = new Set<string>();
  const stack = [new URL(entry, root).href];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      if (!d.code) continue; // type-only imports are erased
      if (d.isDynamic) dynamic.add(d.code.specifier);
      else stack.push(d.code.specifier);
    }
  }
  return { modules: [...seen], dynamic: [...dynamic].filter((d) => !seen.has(d)) };
}

Deno.test({
  name:
    "no module browser.ts or mod.ts imports statically uses Deno.; Deno-only dynamic imports are left out of the bundle",
  timeout: 60_000,
  async fn() {
    const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
    const externals = (deno.tasks.bundle as string).split(" ")
      .filter((a) => a.startsWith("--external=")).map((a) => a.slice("--external=".length));
    const isExternal = (spec: string) => externals.some((e) => spec.endsWith(e.replace(/^\*/, "")));
    for (const entry of ["browser.ts", "mod.ts"]) {
      const { modules, dynamic } = await staticGraph(entry);
      assert.ok(modules.length > 10);
      const bad: string[] = [];
      for (const specifier of modules) {
        assert.ok(specifier.startsWith("file://"), `${entry} reaches ${specifier}`);
        const uses = unguardedDenoUses(stripComments(await Deno.readTextFile(new URL(specifier))));
        for (const u of uses) bad.push(`${specifier.slice(root.href.length)}: ${u.trim()}`);
      }
      assert.deepEqual(bad, [], `${entry} imports modules that use Deno.`);
      // A module imported on demand (behind a typeof Deno check) may use Deno, if the bundle
      // leaves it out.
      for (const d of dynamic) {
        const src = stripComments(await Deno.readTextFile(new URL(d)));
        if (unguardedDenoUses(src).length) {
          assert.ok(isExternal(d), `${d} uses Deno. and is not --external in the bundle task`);
        }
      }
    }
  },
});
