// The playground (web/) in a real browser: headless Chromium on SwiftShader opens the served page,
// runs kernels at small shapes, and the errors shown against the float64 reference must be within
// their tolerances, with no console error; f16 must be refused with a message on an adapter
// without shader-f16. Writes test_outputs/browser_playground.png.

import assert from "node:assert/strict";
import { handle } from "../web/serve.ts";
import { browserMissing, launchBrowser, type Page } from "./_browser.ts";
import { logDeviation } from "./_deviation_log.ts";

const root = new URL("..", import.meta.url);

/** Builds dist/mlstm.js as `deno task bundle` does. */
async function bundle(): Promise<void> {
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const args = (deno.tasks.bundle as string).split(" ").slice(2); // drop "npx deno"
  const r = await new Deno.Command(Deno.execPath(), { args, cwd: root, stderr: "piped" }).output();
  if (!r.success) {
    throw new Error(`deno ${args.join(" ")} failed:\n${new TextDecoder().decode(r.stderr)}`);
  }
}

interface Row {
  tensor: string;
  relL2: number;
  tolerance: number;
  pass: boolean;
}

async function runInPage(page: Page, base: string, params: Record<string, string | number>) {
  const q = new URLSearchParams({
    ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
    run: "1",
  });
  await page.goto(`${base}?${q}`);
  // Page code as strings: this module is type-checked without the DOM library.
  await page.waitForFunction(
    `["done", "error", "refused", "unsupported", "no-webgpu", "no-adapter"].includes(document.body.dataset.state)`,
    { timeout: 300_000 },
  );
  return await page.evaluate(`({
    state: document.body.dataset.state,
    status: document.getElementById("status").textContent,
    rows: globalThis.mlstmLastRun?.rows ?? [],
    tableRows: [...document.querySelectorAll("#errors tbody tr")].map((tr) => tr.dataset.tensor),
    plotted: document.querySelectorAll("#plot .scatterlayer .trace").length,
  })`) as { state: string; status: string; rows: Row[]; tableRows: string[]; plotted: number };
}

Deno.test({
  name:
    "the playground runs kernels in headless Chromium within tolerance, and refuses f16 without shader-f16",
  ignore: browserMissing(),
  timeout: 900_000,
  async fn() {
    await bundle();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
    const base = `http://localhost:${server.addr.port}/`;
    const browser = await launchBrowser();
    const consoleErrors: string[] = [];
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1000, height: 900 });
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      // SwiftShader allows 10 storage buffers per shader: the chunkwise backward's dk/dv kernel
      // binds 11, so the chunkwise kernels run forward only here (the page says why otherwise).
      const cases = [
        {
          kernel: "chunkwise--xl_chunk",
          B: 1,
          NH: 2,
          S: 37,
          DQK: 8,
          DHV: 12,
          chunk: 16,
          seed: 3,
          backward: 0,
        },
        {
          kernel: "chunkwise--limit_chunk",
          B: 2,
          NH: 1,
          S: 30,
          DQK: 16,
          DHV: 8,
          chunk: 8,
          seed: 4,
          backward: 0,
        },
        {
          kernel: "parallel--stablef",
          B: 1,
          NH: 2,
          S: 25,
          DQK: 8,
          DHV: 12,
          chunk: 16,
          seed: 6,
          backward: 1,
        },
        {
          kernel: "parallel--siging",
          B: 2,
          NH: 1,
          S: 21,
          DQK: 12,
          DHV: 8,
          chunk: 16,
          seed: 5,
          backward: 1,
        },
      ];
      for (const c of cases) {
        const r = await runInPage(page, base, { ...c, dtype: "f32" });
        console.log(`${c.kernel}: ${r.status}`);
        assert.equal(r.state, "done", `${c.kernel}: ${r.status}`);
        const tensors = c.backward ? ["h", "dq", "dk", "dv", "di", "df"] : ["h"];
        assert.deepEqual(r.tableRows, tensors);
        assert.equal(r.plotted, tensors.length, "one plotted trace per tensor");
        // The page's numbers, checked again here and logged: h and gradients against float64.
        const data = await page.evaluate(
          `Object.fromEntries(Object.entries(globalThis.mlstmLastRun.tensors)
          .map(([k, t]) => [k, { out: Array.from(t.out), ref: Array.from(t.ref) }]))`,
        ) as Record<
          string,
          { out: number[]; ref: number[] }
        >;
        const reference = await page.evaluate("globalThis.mlstmLastRun.reference") as string;
        for (const row of r.rows) {
          const d = logDeviation(
            {
              test: "browser_test playground (Chromium, SwiftShader)",
              kernel: c.kernel,
              baseline: reference,
              output: row.tensor,
              dims: c,
              chunkSize: c.chunk,
              dtype: "f32",
              tolerance: row.tolerance,
            },
            data[row.tensor]!.out,
            data[row.tensor]!.ref,
          );
          assert.ok(Math.abs(d.relL2 - row.relL2) <= 1e-12 * Math.max(1, d.relL2), "page's relL2");
          assert.ok(d.pass, `${c.kernel} ${row.tensor}: relL2 ${d.relL2} > ${row.tolerance}`);
          console.log(
            `  ${row.tensor}: relL2 ${row.relL2.toExponential(2)} (tolerance ${row.tolerance})`,
          );
          assert.ok(
            row.relL2 <= row.tolerance,
            `${c.kernel} ${row.tensor}: relL2 ${row.relL2} > ${row.tolerance}`,
          );
        }
      }
      await Deno.mkdir(new URL("test_outputs/", root), { recursive: true });
      await page.screenshot({
        path: new URL("test_outputs/browser_playground.png", root).pathname,
        fullPage: true,
      });
      const hasF16 = await page.evaluate(
        `/shader-f16: yes/.test(document.getElementById("adapter").textContent)`,
      ) as boolean;
      if (!hasF16) {
        const r = await runInPage(page, base, {
          kernel: "chunkwise--xl_chunk",
          S: 8,
          dtype: "f16",
        });
        assert.equal(r.state, "refused");
        assert.match(
          r.status,
          /f16 storage needs the WebGPU feature shader-f16, which this adapter .* does not offer\. Choose f32/,
        );
      }
      const limits = await page.evaluate(
        `document.getElementById("adapter").textContent.match(/storage buffers per shader: (\\d+)/)[1]`,
      ) as string;
      if (Number(limits) < 11) {
        // A kernel over the adapter's limits is refused with the limit named, before it runs.
        const r = await runInPage(page, base, { kernel: "chunkwise--xl_chunk", S: 8, backward: 1 });
        assert.equal(r.state, "unsupported", r.status);
        assert.match(
          r.status,
          /does not fit this adapter: .* binds 11 storage buffers, above this device's maxStorageBuffersPerShaderStage/,
        );
      }
      assert.deepEqual(consoleErrors, [], "console errors in the page");
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "the README's <script type=module> snippet runs against the bundle in Chromium",
  ignore: browserMissing(),
  timeout: 300_000,
  async fn() {
    await bundle();
    const readme = await Deno.readTextFile(new URL("README.md", root));
    const snippet = readme.match(/```html\n([\s\S]*?)```/)?.[1];
    assert.ok(snippet, "README.md has an html block");
    const page = `<!doctype html><link rel="icon" href="data:,"><body>${snippet}</body>`;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) =>
        new URL(req.url).pathname === "/"
          ? new Response(page, { headers: { "content-type": "text/html" } })
          : handle(req),
    );
    const browser = await launchBrowser();
    try {
      const tab = await browser.newPage();
      const logs: string[] = [], errors: string[] = [];
      tab.on("console", (m) => (m.type() === "error" ? errors : logs).push(m.text()));
      tab.on("pageerror", (e) => errors.push(String(e)));
      await tab.goto(`http://localhost:${server.addr.port}/`);
      const deadline = Date.now() + 240_000;
      while (!logs.length && !errors.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(errors, []);
      const relL2 = Number(logs[0]!.split(" ").at(-1));
      console.log(`README snippet printed: ${logs[0]}`);
      assert.ok(relL2 < 1e-5, logs[0]);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "without WebGPU the playground says what to enable (and logs no error)",
  ignore: browserMissing(),
  timeout: 120_000,
  async fn() {
    await bundle();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
    const browser = await launchBrowser({ webgpu: false });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://localhost:${server.addr.port}/`);
      await page.waitForFunction(
        `["no-webgpu", "no-adapter", "ready"].includes(document.body.dataset.state)`,
      );
      const r = await page.evaluate(`({
        state: document.body.dataset.state,
        status: document.getElementById("status").textContent,
        runDisabled: document.getElementById("run").disabled,
      })`) as { state: string; status: string; runDisabled: boolean };
      console.log(`${r.state}: ${r.status}`);
      assert.ok(r.state === "no-webgpu" || r.state === "no-adapter", r.state);
      assert.match(r.status, /enable/);
      assert.ok(r.runDisabled);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "the playground's xLSTM Large tab matches the float64 model, or names the adapter limit",
  ignore: browserMissing(),
  timeout: 600_000,
  async fn() {
    await bundle();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1000, height: 900 });
      const errors: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      const runModel = async (newTokens: number) => {
        const q = new URLSearchParams({
          tab: "model",
          "m-vocab": "40",
          "m-dim": "64",
          "m-blocks": "2",
          "m-heads": "2",
          "m-prompt": "9",
          "m-new": String(newTokens),
          "m-seed": "4",
          run: "1",
        });
        await page.goto(`http://localhost:${server.addr.port}/?${q}`);
        await page.waitForFunction(
          `["done", "error", "refused", "unsupported"].includes(document.body.dataset.modelState)`,
          { timeout: 500_000 },
        );
        const r = await page.evaluate(`({
          state: document.body.dataset.modelState,
          status: document.getElementById("m-status").textContent,
          tokens: document.getElementById("m-tokens").textContent,
          run: globalThis.mlstmLastModelRun,
          limit: Number(document.getElementById("adapter").textContent.match(/storage buffers per shader: (\\d+)/)[1]),
        })`) as {
          state: string;
          status: string;
          tokens: string;
          run?: { ids: number[]; rows: (Row & { what: string })[] };
          limit: number;
        };
        console.log(`${newTokens} new tokens: ${r.state}: ${r.status}\n${r.tokens}`);
        if (r.state === "done") {
          assert.equal(r.run!.ids.length, 9 + newTokens);
          for (const row of r.run!.rows) {
            console.log(`  ${row.what}: relL2 ${row.relL2.toExponential(2)}`);
            assert.ok(row.relL2 <= row.tolerance, `${row.what}: ${row.relL2} > ${row.tolerance}`);
          }
        }
        return r;
      };
      // The prompt alone (the chunkwise path): runs on any adapter with 10 storage buffers.
      const prefill = await runModel(0);
      assert.equal(prefill.state, "done", prefill.status);
      await page.screenshot({
        path: new URL("test_outputs/browser_model.png", root).pathname,
        fullPage: true,
      });
      // Generation: one token at a time through the step kernel where the adapter offers its 12
      // storage buffers, else through the chunkwise kernel (SwiftShader offers fewer): both run.
      const gen = await runModel(3);
      assert.equal(gen.state, "done", `${gen.status} (storage buffers: ${gen.limit})`);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
