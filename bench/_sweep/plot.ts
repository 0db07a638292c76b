// Plots of sweep results: runtime against sequence length (or another parameter) per kernel,
// forward and forward+backward side by side, as self-contained plotly HTML (the bundle inlined,
// so it opens offline) and PNG rendered by headless Chromium through puppeteer-core.

import type { ResultRow } from "./columns.ts";

/** Options of {@linkcode figureOf}. */
export interface PlotOptions {
  /** Title above both panels. */
  title: string;
  /** Column on the x axis. @default {"S"} */
  x?: string;
  /** Log x axis. @default {true} */
  logX?: boolean;
  /** Log y axis. @default {true} */
  logY?: boolean;
}

/** A plotly figure as plain JSON. */
export interface Figure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

const numOf = (v: unknown) => (v === "" || v === undefined ? NaN : Number(v));

/** The time a row is plotted with: GPU median when measured, wall median otherwise. */
export function plottedMs(r: ResultRow): { ms: number; lo: number; hi: number; kind: string } {
  const g = numOf(r.gpu_ms_median);
  if (Number.isFinite(g)) {
    return { ms: g, lo: numOf(r.gpu_ms_p25), hi: numOf(r.gpu_ms_p75), kind: "GPU" };
  }
  return {
    ms: numOf(r.wall_ms_median),
    lo: numOf(r.wall_ms_p25),
    hi: numOf(r.wall_ms_p75),
    kind: "wall",
  };
}

/**
 * The figure: one trace per series (source, label, and every other parameter that varies
 * besides x), fw in the left panel and fwbw in the right, error bars p25..p75. Rows whose status
 * is not "ok" are left out. Lines: solid = WebGPU, dashed = float64 CPU reference, dotted =
 * mlstm_kernels (PyTorch/Triton) rows from a compared CSV.
 */
export function figureOf(rows: readonly ResultRow[], opts: PlotOptions): Figure {
  const x = opts.x ?? "S";
  const ok = rows.filter((r) => r.status === "ok" && Number.isFinite(plottedMs(r).ms));
  const varying = ["B", "NH", "S", "DQK", "DHV", "dtype", "chunk_size"].filter((p) =>
    p !== x && new Set(ok.map((r) => String(r[p as keyof ResultRow]))).size > 1
  );
  const series = new Map<string, ResultRow[]>();
  for (const r of ok) {
    const parts = [String(r.label)];
    if (new Set(ok.map((q) => q.source)).size > 1) parts.unshift(String(r.source));
    for (const p of varying) {
      // The label already names the chunk size when it is swept; B follows S in const-token mode.
      if (p === "chunk_size" && String(r.label).includes("cs=")) continue;
      if (p === "B" && x === "S" && Number(r.tokens) === Number(ok[0].tokens)) continue;
      const v = r[p as keyof ResultRow];
      if (v !== "") parts.push(`${p === "chunk_size" ? "cs" : p}=${v}`);
    }
    const key = parts.join(" ");
    const list = series.get(key) ?? [];
    list.push(r);
    series.set(key, list);
  }
  const palette = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
  ];
  const data: Record<string, unknown>[] = [];
  let color = 0;
  for (const [name, list] of series) {
    const c = palette[color++ % palette.length];
    for (const pass of ["fw", "fwbw"]) {
      const pts = list.filter((r) => r.pass === pass).sort((a, b) =>
        numOf(a[x as keyof ResultRow]) - numOf(b[x as keyof ResultRow])
      );
      if (pts.length === 0) continue;
      const t = pts.map(plottedMs);
      data.push({
        type: "scatter",
        mode: "lines+markers",
        name,
        legendgroup: name,
        showlegend: pass === "fw" || !list.some((r) => r.pass === "fw"),
        line: {
          color: c,
          dash: String(pts[0].source).startsWith("mlstm_kernels")
            ? "dot"
            : pts[0].backend === "cpu-float64"
            ? "dash"
            : "solid",
        },
        marker: { color: c },
        xaxis: pass === "fw" ? "x" : "x2",
        yaxis: pass === "fw" ? "y" : "y2",
        x: pts.map((r) => numOf(r[x as keyof ResultRow])),
        y: t.map((p) => p.ms),
        error_y: {
          type: "data",
          symmetric: false,
          array: t.map((p) => (Number.isFinite(p.hi) ? p.hi - p.ms : 0)),
          arrayminus: t.map((p) => (Number.isFinite(p.lo) ? p.ms - p.lo : 0)),
          thickness: 1,
        },
        hovertemplate: `${name}<br>${x}=%{x}<br>%{y:.4g} ms (${t[0].kind})<extra>${pass}</extra>`,
      });
    }
  }
  const kinds = new Set(ok.map((r) => plottedMs(r).kind));
  const yTitle = `time per call, ms (${[...kinds].join(" / ") || "GPU"} median)`;
  const axis = (title: string, log: boolean) => ({
    title: { text: title },
    type: log ? "log" : "linear",
    ...(log && x !== "chunk_size" ? { dtick: Math.log10(2) } : {}),
  });
  const logX = opts.logX ?? true, logY = opts.logY ?? true;
  return {
    data,
    layout: {
      title: { text: opts.title },
      width: 1100,
      height: 480,
      grid: { rows: 1, columns: 2, pattern: "independent" },
      xaxis: { ...axis(x, logX), domain: [0, 0.46] },
      xaxis2: { ...axis(x, logX), domain: [0.54, 1] },
      yaxis: axis(yTitle, logY),
      yaxis2: { ...axis("", logY), anchor: "x2" },
      annotations: [
        { text: "forward", xref: "paper", yref: "paper", x: 0.23, y: 1.04, showarrow: false },
        {
          text: "forward + backward",
          xref: "paper",
          yref: "paper",
          x: 0.77,
          y: 1.04,
          showarrow: false,
        },
      ],
      legend: { orientation: "h", y: -0.2 },
      margin: { t: 70, b: 110 },
    },
  };
}

let bundle: string | undefined;

/** The plotly.js bundle's source (npm plotly.js-dist-min, resolved from node_modules). */
export async function plotlyBundle(): Promise<string> {
  if (bundle === undefined) {
    const url = import.meta.resolve("npm:plotly.js-dist-min@4.1.2");
    let path = url.startsWith("file:") ? new URL(url).pathname : "";
    if (!path) {
      path = new URL("../../node_modules/plotly.js-dist-min/plotly.min.js", import.meta.url)
        .pathname;
    }
    bundle = await Deno.readTextFile(path);
  }
  return bundle;
}

/** A self-contained HTML page showing the figure (works offline). */
export async function figureHtml(fig: Figure, title: string): Promise<string> {
  const js = (await plotlyBundle()).replace(/<\/script/gi, "<\\/script");
  const esc = (s: string) => s.replace(/[<>&]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<script>${js}</script></head>
<body><div id="plot"></div>
<script>
const fig = ${JSON.stringify(fig).replace(/</g, "\\u003c")};
Plotly.newPlot("plot", fig.data, fig.layout, { responsive: true });
</script></body></html>
`;
}

/** Path of the Chromium binary, if installed. */
export function chromiumPath(): string | null {
  for (
    const p of [Deno.env.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]
  ) {
    if (!p) continue;
    try {
      if (Deno.statSync(p).isFile) return p;
    } catch { /* not there */ }
  }
  return null;
}

// A run-time specifier: PNG output is optional, so machines that only measure (the GPU machine)
// need not carry puppeteer-core; a literal would make Deno resolve it when loading the module.
const PUPPETEER: string = ["npm:puppeteer-core", "25.16.0"].join("@");

/** The part of puppeteer-core's API used here. */
interface PuppeteerLike {
  launch(options: { executablePath: string; headless: boolean; args: string[] }): Promise<{
    newPage(): Promise<{
      setContent(html: string): Promise<void>;
      addScriptTag(options: { content: string }): Promise<unknown>;
      evaluate<A, R>(fn: (arg: A) => Promise<R>, arg: A): Promise<R>;
    }>;
    close(): Promise<void>;
  }>;
}

/**
 * Renders figures to PNG with headless Chromium (one browser for all of them).
 * Returns false, without throwing, when Chromium is not installed.
 */
export async function renderPngs(jobs: { fig: Figure; path: string }[]): Promise<boolean> {
  const exe = chromiumPath();
  if (!exe || jobs.length === 0) return false;
  const { default: puppeteer } = await import(PUPPETEER) as { default: PuppeteerLike };
  const userDir = await Deno.makeTempDir({ prefix: "mlstm-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: exe,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${userDir}`,
    ],
  });
  try {
    const page = await browser.newPage();
    await page.setContent("<!DOCTYPE html><html><body><div id='plot'></div></body></html>");
    await page.addScriptTag({ content: await plotlyBundle() });
    for (const { fig, path } of jobs) {
      const url = await page.evaluate(async (f: Figure) => {
        // deno-lint-ignore no-explicit-any
        const P = (globalThis as any).Plotly;
        const gd = await P.newPlot("plot", f.data, f.layout, { staticPlot: true });
        return await P.toImage(gd, {
          format: "png",
          width: f.layout.width as number,
          height: f.layout.height as number,
          scale: 2,
        });
      }, fig);
      const b64 = String(url).replace(/^data:image\/png;base64,/, "");
      await Deno.writeFile(path, Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0)));
    }
  } finally {
    await browser.close();
    await Deno.remove(userDir, { recursive: true }).catch(() => {});
  }
  return true;
}
