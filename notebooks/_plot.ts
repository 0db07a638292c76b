/**
 * Plotly figures for the notebooks on Deno's Jupyter kernel: display, HTML and PNG export.
 *
 * A figure is plain data (`{ data, layout, config }` as plotly.js takes it); nothing here imports
 * plotly.js into Deno (it needs a `window`). {@linkcode show} sends one display bundle with three
 * alternatives: `application/vnd.plotly.v1+json` (interactive in JupyterLab and VS Code),
 * `text/html` (a `<div>` plus a script that draws it; the plotly.js bundle from `node_modules` is
 * inlined once per kernel session, in a display of its own before the first figure, so the executed
 * notebook works offline; `MLSTM_NB_HTML=none` leaves the HTML alternative out), and `text/plain`.
 * With `MLSTM_NB_PNG=1` (or `{ png: true }`) an `image/png` rendered by headless Chromium is added,
 * for viewers that show static images only (GitHub). With `MLSTM_NB_SAVE_DIR=<dir>` every figure is
 * also written there as standalone HTML and PNG.
 *
 * Every shown figure is counted ({@linkcode shownFigures}) so that a notebook's last cell can
 * assert that its plots were produced: a cell whose `npm:` import cannot be resolved fails
 * silently under Deno's kernel.
 *
 * @module
 */

/** A plotly figure: traces, layout and config, exactly as `Plotly.newPlot` takes them. */
export interface Figure {
  /** Traces. */
  data: Record<string, unknown>[];
  /** Layout. */
  layout?: Record<string, unknown>;
  /** Config (e.g. `{ responsive: true }`). */
  config?: Record<string, unknown>;
}

/** Options of {@linkcode show}. */
export interface ShowOptions {
  /** Add an `image/png` rendered by headless Chromium. @default {MLSTM_NB_PNG === "1"} */
  png?: boolean;
  /** Also write the figure as a standalone HTML file to this path. */
  saveHtml?: string;
  /** Also write a PNG to this path (when Chromium is available). */
  savePng?: string;
}

const shown: string[] = [];
let bundleSent = false;
let bundleText: string | undefined;
let divCounter = 0;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Path of the plotly.js bundle in `node_modules` (or `MLSTM_PLOTLY_JS`). */
export function plotlyBundlePath(): string {
  const override = env("MLSTM_PLOTLY_JS");
  if (override) return override;
  return new URL("../node_modules/plotly.js-dist-min/plotly.min.js", import.meta.url).pathname;
}

/** The plotly.js bundle's text, made safe to inline in a `<script>` element. */
export function plotlyBundle(): string {
  if (bundleText === undefined) {
    let text: string;
    try {
      text = Deno.readTextFileSync(plotlyBundlePath());
    } catch (e) {
      throw new Error(
        `Cannot read the plotly.js bundle at ${plotlyBundlePath()}: run \`npm ci\` in the repository ` +
          `root (or set MLSTM_PLOTLY_JS to plotly.min.js): ${e}`,
      );
    }
    bundleText = text.replaceAll("</script", "<\\/script");
  }
  return bundleText;
}

function titleOf(fig: Figure): string {
  const t = fig.layout?.title;
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as { text?: unknown }).text === "string") {
    return (t as { text: string }).text;
  }
  return "untitled";
}

// JSON for a <script>: no "</" sequences, no U+2028/2029 line terminators.
function scriptJson(x: unknown): string {
  return JSON.stringify(x).replaceAll("</", "<\\/").replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}

/**
 * An HTML fragment that draws the figure: a `<div>` and a script that waits for `window.Plotly`.
 *
 * @param fig The figure.
 * @param inlineBundle Put the plotly.js bundle in front of the drawing script.
 * @returns The fragment.
 */
export function htmlFragment(fig: Figure, inlineBundle: boolean): string {
  const id = `mlstm-plot-${Date.now().toString(36)}-${divCounter++}`;
  const lib = inlineBundle
    ? `<script type="text/javascript">if (!window.Plotly) {${plotlyBundle()}\n}</script>\n`
    : "";
  const height = typeof fig.layout?.height === "number" ? `${fig.layout.height}px` : "450px";
  return `${lib}<div id="${id}" style="width:100%;height:${height};"></div>
<script type="text/javascript">(function draw(n) {
  if (window.Plotly) { window.Plotly.newPlot("${id}", ${scriptJson(fig.data)}, ${
    scriptJson(fig.layout ?? {})
  }, ${scriptJson({ responsive: true, ...fig.config })}); }
  else if (n > 0) { setTimeout(function () { draw(n - 1); }, 100); }
})(100);</script>`;
}

/**
 * A standalone HTML page of the figure with the plotly.js bundle inlined (works offline).
 *
 * @param fig The figure.
 * @returns The page.
 */
export function toHtml(fig: Figure): string {
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${titleOf(fig)}</title></head>
<body>\n${htmlFragment(fig, true)}\n</body></html>\n`;
}

/**
 * Writes the figure as a standalone HTML page.
 *
 * @param fig The figure.
 * @param path Where to write it.
 */
export async function saveHtml(fig: Figure, path: string): Promise<void> {
  await Deno.writeTextFile(path, toHtml(fig));
}

/** Path of a Chromium binary: `MLSTM_CHROMIUM`, else the first of the usual Debian paths. */
export function chromiumPath(): string | undefined {
  const candidates = [
    env("MLSTM_CHROMIUM"),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch {
      // not there
    }
  }
  return undefined;
}

// deno-lint-ignore no-explicit-any
type Browser = any;
let browserPromise: Promise<Browser> | undefined;

async function browser(): Promise<Browser> {
  if (!browserPromise) {
    browserPromise = (async () => {
      const exe = chromiumPath();
      if (!exe) throw new Error("No Chromium found: apt-get install chromium (or set MLSTM_CHROMIUM)");
      // Run-time specifier: PNG export is optional and needs no puppeteer-core to load this module.
      const spec: string = ["npm:puppeteer-core", "25.16.0"].join("@");
      const { default: puppeteer } = await import(spec);
      return await puppeteer.launch({
        executablePath: exe,
        headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
      });
    })();
  }
  return await browserPromise;
}

/** Closes the headless browser started by {@linkcode renderPng}, if any. */
export async function closeBrowser(): Promise<void> {
  if (!browserPromise) return;
  const b = await browserPromise.catch(() => undefined);
  browserPromise = undefined;
  await b?.close();
}

/**
 * Renders the figure to PNG bytes with headless Chromium (npm `puppeteer-core`).
 *
 * @param fig The figure.
 * @param options Pixel size and scale. @default {{ width: 800, height: 500, scale: 1 }}
 * @returns The PNG bytes.
 * @throws {Error} If no Chromium is installed or rendering fails.
 */
export async function renderPng(
  fig: Figure,
  options: { width?: number; height?: number; scale?: number } = {},
): Promise<Uint8Array> {
  const width = options.width ?? (fig.layout?.width as number | undefined) ?? 800;
  const height = options.height ?? (fig.layout?.height as number | undefined) ?? 500;
  const b = await browser();
  const page = await b.newPage();
  try {
    await page.setContent("<!DOCTYPE html><html><body><div id='p'></div></body></html>");
    await page.addScriptTag({ content: plotlyBundle() });
    const url: string = await page.evaluate(
      // runs in the page
      // deno-lint-ignore no-explicit-any
      async (f: any, w: number, h: number, s: number) => {
        // deno-lint-ignore no-explicit-any
        const P = (globalThis as any).Plotly;
        const gd = await P.newPlot("p", f.data, { ...f.layout, width: w, height: h }, {
          staticPlot: true,
        });
        return await P.toImage(gd, { format: "png", width: w, height: h, scale: s });
      },
      fig,
      width,
      height,
      options.scale ?? 1,
    );
    const b64 = url.slice(url.indexOf(",") + 1);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } finally {
    await page.close();
  }
}

/**
 * Writes the figure as a PNG when Chromium is available.
 *
 * @param fig The figure.
 * @param path Where to write it.
 * @returns Whether a file was written (false, with a console note, when rendering is unavailable).
 */
export async function savePng(fig: Figure, path: string): Promise<boolean> {
  try {
    await Deno.writeFile(path, await renderPng(fig));
    return true;
  } catch (e) {
    console.log(`PNG not written (${path}): ${e instanceof Error ? e.message : e}`);
    return false;
  }
}

/**
 * Lets the kernel send what `Deno.jupyter.display` queued. Deno 2.9's kernel resolves `display`
 * before a large message (the inlined plotly.js bundle, ~5 MB) is written; when the cell ends at once
 * the message arrives after the kernel's "idle" status and nbconvert drops it. Yielding to the event
 * loop a few times lets it go out first.
 */
export async function flushDisplay(ms = 60): Promise<void> {
  const steps = Math.max(1, Math.ceil(ms / 20));
  for (let j = 0; j < steps; j++) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Displays a figure in the notebook (see the module doc for the bundle) and counts it.
 * Outside Jupyter it only counts the figure and prints its title.
 *
 * @param fig The figure.
 * @param options PNG alternative, files to save.
 */
export async function show(fig: Figure, options: ShowOptions = {}): Promise<void> {
  const title = titleOf(fig);
  shown.push(title);
  if (options.saveHtml) await saveHtml(fig, options.saveHtml);
  if (options.savePng) await savePng(fig, options.savePng);
  const dir = env("MLSTM_NB_SAVE_DIR");
  if (dir) {
    // Every figure also as <dir>/<notebook-run counter>_<title slug>.{html,png}.
    await Deno.mkdir(dir, { recursive: true });
    const slug = title.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "").slice(0, 60);
    const stem = `${dir}/${String(shown.length).padStart(2, "0")}_${slug}`;
    await saveHtml(fig, `${stem}.html`);
    await savePng(fig, `${stem}.png`);
  }
  const bundle: Record<string, unknown> = {
    "application/vnd.plotly.v1+json": { data: fig.data, layout: fig.layout ?? {}, config: fig.config ?? {} },
    "text/plain": `Plotly figure "${title}" (${fig.data.length} trace${fig.data.length === 1 ? "" : "s"})`,
  };
  const inJupyter = typeof (Deno as { jupyter?: unknown }).jupyter === "object";
  if (inJupyter) {
    const inline = env("MLSTM_NB_HTML") !== "none";
    if (inline && !bundleSent) {
      // The ~5 MB library goes out once, in a message of its own, so that a late or lost library
      // message never takes a figure with it (see flushDisplay).
      await Deno.jupyter.display({
        "text/html": `<script type="text/javascript">if (!window.Plotly) {${plotlyBundle()}\n}</script>`,
        "text/plain": "(plotly.js for the HTML views of this notebook's figures)",
      }, { raw: true });
      await flushDisplay(500);
      bundleSent = true;
    }
    if (inline) bundle["text/html"] = htmlFragment(fig, false);
  }
  if (options.png ?? env("MLSTM_NB_PNG") === "1") {
    try {
      const png = await renderPng(fig);
      let s = "";
      for (let j = 0; j < png.length; j += 0x8000) {
        s += String.fromCharCode(...png.subarray(j, j + 0x8000));
      }
      bundle["image/png"] = btoa(s);
    } catch (e) {
      console.log(`No PNG alternative: ${e instanceof Error ? e.message : e}`);
    }
  }
  if (inJupyter) {
    await Deno.jupyter.display(bundle, { raw: true });
    await flushDisplay();
  } else {
    console.log(bundle["text/plain"]);
  }
}

/**
 * Prints the closing guard line `OK: N figure(s)` that tools/run_notebooks.sh looks for, then
 * yields to the event loop: the last cell's stdout, like a display message (see flushDisplay), can
 * reach the kernel after its "idle" status, and nbconvert then drops it (seen in CI: the line was
 * missing from 1 of 18 notebook runs).
 */
export async function reportFigures(): Promise<void> {
  console.log(`OK: ${shown.length} figure(s)`);
  await flushDisplay(300);
}

/**
 * Titles of the figures shown so far in this kernel session, in order.
 *
 * @returns A copy of the list.
 */
export function shownFigures(): string[] {
  return [...shown];
}

/** A line chart trace. */
export function line(
  x: readonly (number | string)[],
  y: readonly number[],
  name: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { type: "scatter", mode: "lines+markers", x: [...x], y: [...y], name, ...extra };
}

/** Plotly's colour scale resembling ColorBrewer's PiYG (pink below the middle, green above). */
export const PIYG: [number, string][] = [
  [0, "#8e0152"],
  [0.125, "#c51b7d"],
  [0.25, "#de77ae"],
  [0.375, "#f1b6da"],
  [0.5, "#f7f7f7"],
  [0.625, "#b8e186"],
  [0.75, "#7fbc41"],
  [0.875, "#4d9221"],
  [1, "#276419"],
];

/**
 * Layout of a grid of subplots (`rows` × `cols`, filled row by row) with explicit axis domains, a
 * title above each panel, x titles on the bottom row and y titles on the left column. Panels
 * without traces keep their place.
 *
 * @param rows Rows of panels.
 * @param cols Columns of panels.
 * @param titles Panel titles, row by row.
 * @param extra Further layout fields (title, height, coloraxis, ...).
 * @param axisTitles Titles of the outer axes.
 * @param axisProps Properties of every x axis and every y axis (e.g. `{ type: "log" }`).
 * @returns The layout.
 */
export function gridLayout(
  rows: number,
  cols: number,
  titles: string[],
  extra: Record<string, unknown> = {},
  axisTitles: { x?: string; y?: string } = {},
  axisProps: { x?: Record<string, unknown>; y?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const xgap = cols > 1 ? 0.08 : 0, ygap = rows > 1 ? Math.min(0.14, 0.5 / rows) : 0;
  const w = (1 - xgap * (cols - 1)) / cols, h = (1 - ygap * (rows - 1)) / rows;
  const layout: Record<string, unknown> = { margin: { t: 80, l: 70, r: 30, b: 60 } };
  const annotations: Record<string, unknown>[] = [];
  for (let j = 0; j < rows * cols; j++) {
    const r = Math.floor(j / cols), c = j % cols, s = axisSuffix(j);
    const x0 = c * (w + xgap), y1 = 1 - r * (h + ygap);
    layout[`xaxis${s}`] = {
      domain: [Math.max(0, x0), Math.min(1, x0 + w)],
      anchor: `y${s}`,
      ...axisProps.x,
      ...(r === rows - 1 && axisTitles.x ? { title: { text: axisTitles.x } } : {}),
    };
    layout[`yaxis${s}`] = {
      domain: [Math.max(0, y1 - h), Math.min(1, y1)],
      anchor: `x${s}`,
      ...axisProps.y,
      ...(c === 0 && axisTitles.y ? { title: { text: axisTitles.y } } : {}),
    };
    if (titles[j] !== undefined) {
      annotations.push({
        text: titles[j],
        showarrow: false,
        xref: "paper",
        yref: "paper",
        x: x0 + w / 2,
        y: y1,
        xanchor: "center",
        yanchor: "bottom",
        font: { size: 11 },
      });
    }
  }
  return { ...layout, annotations, ...extra };
}

/** The axis key of subplot `j` (0-based) in a grid: "" for the first, "2", "3", ... after it. */
export function axisSuffix(j: number): string {
  return j === 0 ? "" : String(j + 1);
}
