// Headless Chromium for the browser tests: Debian's `chromium` driven by npm puppeteer-core, with
// WebGPU on SwiftShader (a CPU Vulkan: timestamp-query and subgroups, no shader-f16). A missing
// browser fails the tests under REQUIRE_GPU=1 and ignores them (with a message) otherwise.

import puppeteer, { type Browser, type Page } from "puppeteer-core";

const required = Deno.env.get("REQUIRE_GPU") === "1";

/** Where the browser is: $CHROMIUM, else Debian's /usr/bin/chromium. */
export const CHROMIUM: string = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

/** The flags that give headless Chromium a WebGPU adapter without a GPU (SwiftShader). */
export const WEBGPU_FLAGS: readonly string[] = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-vulkan-surface",
  "--disable-background-networking",
  "--disable-component-update",
];

let warned = false;

/** Whether the browser tests should be ignored: no browser and REQUIRE_GPU unset (says why once). */
export function browserMissing(): boolean {
  let found = false;
  try {
    found = Deno.statSync(CHROMIUM).isFile;
  } catch {
    found = false;
  }
  if (found || required) return false;
  if (!warned) {
    console.warn(
      `Browser tests ignored: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM). Set REQUIRE_GPU=1 to make this fail.`,
    );
    warned = true;
  }
  return true;
}

/**
 * Launches the browser (fails with a clear message when it is missing); `webgpu: false` launches
 * it without the flags that give it an adapter, and with WebGPU switched off.
 */
export async function launchBrowser({ webgpu = true } = {}): Promise<Browser> {
  try {
    Deno.statSync(CHROMIUM);
  } catch {
    throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium, or set CHROMIUM`);
  }
  const userDataDir = await Deno.makeTempDir({ prefix: "mlstm-chromium-" });
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    protocolTimeout: 600_000,
    args: [
      ...(webgpu ? WEBGPU_FLAGS : ["--no-sandbox", "--disable-features=WebGPU"]),
      `--user-data-dir=${userDataDir}`,
    ],
  });
}

/**
 * A static file server for the tests and `deno task serve`'s twin: serves the given routes on a
 * free loopback port (WebGPU needs a secure context: http://localhost is one, file:// is not).
 */
export function serveRoutes(
  routes: Record<string, { body: string | Uint8Array; type: string }>,
): { url: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const r = routes[new URL(req.url).pathname];
    if (!r) return new Response("Not found", { status: 404 });
    return new Response(r.body as BodyInit, { headers: { "content-type": r.type } });
  });
  return { url: `http://localhost:${server.addr.port}/`, close: () => server.shutdown() };
}

export type { Browser, Page };
