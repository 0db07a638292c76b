// `deno task serve`: serves the playground (web/), the browser bundle (dist/mlstm.js, built by
// `deno task bundle`) and plotly's bundle, with their MIME types. No TypeScript is served.
//   deno run --allow-net --allow-read web/serve.ts [--port 8000]

import { createRequire } from "node:module";

const root = new URL("../", import.meta.url);
const plotly = createRequire(import.meta.url).resolve("plotly.js-dist-min");

/** URL path -> file and Content-Type. */
export const ROUTES: Record<string, { file: string | URL; type: string }> = {
  "/": { file: new URL("web/index.html", root), type: "text/html; charset=utf-8" },
  "/app.js": { file: new URL("web/app.js", root), type: "text/javascript; charset=utf-8" },
  "/worker.js": { file: new URL("web/worker.js", root), type: "text/javascript; charset=utf-8" },
  "/style.css": { file: new URL("web/style.css", root), type: "text/css; charset=utf-8" },
  "/mlstm.js": { file: new URL("dist/mlstm.js", root), type: "text/javascript; charset=utf-8" },
  "/mlstm.js.map": { file: new URL("dist/mlstm.js.map", root), type: "application/json" },
  "/plotly.min.js": { file: plotly, type: "text/javascript; charset=utf-8" },
};

/** Answers one request from {@linkcode ROUTES} (404 otherwise, 500 naming a missing file). */
export async function handle(req: Request): Promise<Response> {
  const route = ROUTES[new URL(req.url).pathname];
  if (!route) return new Response("Not found", { status: 404 });
  try {
    return new Response(await Deno.readFile(route.file), {
      headers: { "content-type": route.type, "cache-control": "no-cache" },
    });
  } catch {
    const hint = String(route.file).includes("dist/") ? " (run `deno task bundle` first)" : "";
    return new Response(`Missing ${route.file}${hint}`, { status: 500 });
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const port = i >= 0 ? Number(Deno.args[i + 1]) : 8000;
  Deno.serve({ hostname: "localhost", port }, handle);
}
