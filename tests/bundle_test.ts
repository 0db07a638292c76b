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
    assert.deepEqual(unguardedDenoUses(js), [], "the bundle refers to Deno.");
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

Deno.test({
  name: "no module reachable from browser.ts or mod.ts uses Deno. (file access has its own entry)",
  timeout: 60_000,
  async fn() {
    for (const entry of ["browser.ts", "mod.ts"]) {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json", entry],
        cwd: root,
        stderr: "piped",
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const graph = JSON.parse(new TextDecoder().decode(r.stdout)) as {
        modules: { specifier: string }[];
      };
      const bad: string[] = [];
      for (const { specifier } of graph.modules) {
        assert.ok(specifier.startsWith("file://"), `${entry} reaches ${specifier}`);
        const uses = unguardedDenoUses(stripComments(await Deno.readTextFile(new URL(specifier))));
        for (const u of uses) bad.push(`${specifier.slice(root.href.length)}: ${u.trim()}`);
      }
      assert.ok(graph.modules.length > 10);
      assert.deepEqual(bad, [], `${entry} reaches modules that use Deno.`);
    }
  },
});
