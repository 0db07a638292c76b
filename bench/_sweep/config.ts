// The declarative sweep configuration (bench/configs/*.json) and its expansion into one case per
// measured configuration. The same JSON drives bench/mlstm_kernels_sweep.py.

/** Sequence-dimension parameters that may be swept. */
export const SHAPE_PARAMS = ["B", "NH", "S", "DQK", "DHV"] as const;
/** One of {@linkcode SHAPE_PARAMS}. */
export type ShapeParam = typeof SHAPE_PARAMS[number];

/** Storage dtype of the inputs. */
export type Dtype = "f32" | "f16";
/** Forward only, or forward + backward. */
export type Pass = "fw" | "fwbw";

/** Lists of values to cross. */
export interface ParamLists {
  B?: number[];
  NH?: number[];
  S?: number[];
  DQK?: number[];
  DHV?: number[];
  dtype?: Dtype[];
  pass?: Pass[];
}

/** One kernel of a sweep, with its own parameters. */
export interface KernelSpecConfig {
  /** Registry name, e.g. `"chunkwise--xl_chunk"`. */
  kernel: string;
  /** Display name in CSV and plots. @default {kernel, plus " cs=<chunk>" when chunk sizes are swept} */
  label?: string;
  /** Chunk size(s); each value is its own series. */
  chunkSize?: number | number[];
  /** Lists that replace the sweep-level ones for this kernel (e.g. a step kernel: S=[1], B=[16]). */
  params?: ParamLists;
  /** Whether the constant-tokens rule (B = tokens / S) applies. @default {true in const_tokens mode} */
  constTokens?: boolean;
  /** Skip configurations with a longer sequence (e.g. the quadratic parallel form). */
  maxS?: number;
  /** Extra kernel options passed to forward/backward (eps, normalize, ...). */
  options?: Record<string, unknown>;
}

/** A sweep: kernels crossed with parameter lists. */
export interface SweepConfig {
  /** Name; also the CSV's `benchmark` column. */
  name: string;
  /** What the sweep is for. */
  description?: string;
  /** `grid`: cross all lists; `const_tokens`: B = tokens / S for each S (B list ignored). */
  mode?: "grid" | "const_tokens";
  /** B·S in `const_tokens` mode. */
  tokens?: number;
  /** The lists to cross (B, NH, S, DQK, DHV required unless every kernel overrides them). */
  params: ParamLists;
  /** The kernels. */
  kernels: KernelSpecConfig[];
  /** Untimed calls before measuring (pipeline compilation). @default {1} */
  warmup?: number;
  /** Timed repetitions (each one await for GPU kernels); median and quartiles over them. @default {5} */
  reps?: number;
  /** GPU kernels: calls per repetition, or "auto" (enough to amortize the ~11 ms await). @default {"auto"} */
  callsPerRep?: number | "auto";
  /** Skip CPU (float64 reference) configurations above this many model FLOP. @default {2e9} */
  cpuMaxFlops?: number;
  /** Seed of the random inputs. @default {0} */
  seed?: number;
  /** Plot options. */
  plot?: { x?: ShapeParam | "chunk_size"; logX?: boolean; logY?: boolean };
}

/** One measured configuration. */
export interface SweepCase {
  /** Index in the expansion. */
  index: number;
  /** Kernel registry name. */
  kernel: string;
  /** Display label (kernel + chunk size when swept). */
  label: string;
  pass: Pass;
  dtype: Dtype;
  B: number;
  NH: number;
  S: number;
  DQK: number;
  DHV: number;
  /** Chunk size, when the spec gives one. */
  chunkSize: number | undefined;
  /** Kernel options. */
  options: Record<string, unknown>;
  /** A reason to skip, decided at expansion (maxS, B not integral, ...). */
  skip?: string;
}

const isPosInt = (x: unknown) => Number.isInteger(x) && (x as number) > 0;

/**
 * Checks a parsed JSON config and fills defaults; throws with a message naming the field.
 */
export function validateSweepConfig(raw: unknown): SweepConfig {
  const fail = (msg: string): never => {
    throw new TypeError(`Invalid sweep config: ${msg}`);
  };
  if (typeof raw !== "object" || raw === null) fail("expected a JSON object");
  const c = raw as SweepConfig;
  if (typeof c.name !== "string" || c.name === "") fail("`name` must be a non-empty string");
  if (c.mode !== undefined && c.mode !== "grid" && c.mode !== "const_tokens") {
    fail(`\`mode\` must be "grid" or "const_tokens", received ${JSON.stringify(c.mode)}`);
  }
  if (c.mode === "const_tokens" && !isPosInt(c.tokens)) {
    fail("`tokens` (B·S) must be a positive integer in const_tokens mode");
  }
  if (typeof c.params !== "object" || c.params === null) fail("`params` must be an object");
  if (!Array.isArray(c.kernels) || c.kernels.length === 0) {
    fail("`kernels` must be a non-empty list");
  }
  const checkLists = (p: ParamLists, where: string) => {
    for (const k of SHAPE_PARAMS) {
      const v = p[k];
      if (v !== undefined && (!Array.isArray(v) || !v.every(isPosInt))) {
        fail(`${where}.${k} must be a list of positive integers`);
      }
    }
    if (p.dtype !== undefined && !p.dtype.every((d) => d === "f32" || d === "f16")) {
      fail(`${where}.dtype entries must be "f32" or "f16"`);
    }
    if (p.pass !== undefined && !p.pass.every((d) => d === "fw" || d === "fwbw")) {
      fail(`${where}.pass entries must be "fw" or "fwbw"`);
    }
  };
  checkLists(c.params, "params");
  c.kernels.forEach((k, j) => {
    if (typeof k?.kernel !== "string") fail(`kernels[${j}].kernel must be a registry name`);
    if (k.params) checkLists(k.params, `kernels[${j}].params`);
    const cs = k.chunkSize === undefined ? [] : [k.chunkSize].flat();
    if (!cs.every(isPosInt)) fail(`kernels[${j}].chunkSize must be positive integers`);
  });
  for (const key of ["warmup", "reps"] as const) {
    const v = c[key];
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) {
      fail(`\`${key}\` must be an integer ≥ 0`);
    }
  }
  if (c.reps === 0) fail("`reps` must be at least 1");
  return c;
}

function cross<T extends Record<string, unknown>>(lists: { [K in keyof T]: T[K][] }): T[] {
  let out: Record<string, unknown>[] = [{}];
  for (const [k, vs] of Object.entries(lists) as [string, unknown[]][]) {
    out = out.flatMap((o) => vs.map((v) => ({ ...o, [k]: v })));
  }
  return out as T[];
}

/**
 * Expands a config into cases, in order: kernel spec, chunk size, pass, dtype, then the shape
 * lists (S varies fastest). Cases that cannot run get `skip` set; they still become CSV rows.
 */
export function expandSweep(config: SweepConfig): SweepCase[] {
  const cases: SweepCase[] = [];
  for (const spec of config.kernels) {
    const chunkSizes = spec.chunkSize === undefined ? [undefined] : [spec.chunkSize].flat();
    const p = { ...config.params, ...spec.params };
    const constTokens = (spec.constTokens ?? true) && config.mode === "const_tokens";
    for (const chunkSize of chunkSizes) {
      const label = spec.label ??
        (chunkSize !== undefined && chunkSizes.length > 1
          ? `${spec.kernel} cs=${chunkSize}`
          : spec.kernel);
      const combos = cross<{
        pass: Pass;
        dtype: Dtype;
        NH: number;
        DQK: number;
        DHV: number;
        B: number;
        S: number;
      }>({
        pass: p.pass ?? ["fw"],
        dtype: p.dtype ?? ["f32"],
        NH: need(p.NH, "NH", spec.kernel),
        DQK: need(p.DQK, "DQK", spec.kernel),
        DHV: need(p.DHV, "DHV", spec.kernel),
        B: constTokens ? [0] : need(p.B, "B", spec.kernel),
        S: need(p.S, "S", spec.kernel),
      });
      for (const c of combos) {
        let skip: string | undefined;
        let B = c.B;
        if (constTokens) {
          B = Math.floor(config.tokens! / c.S);
          if (B < 1 || B * c.S !== config.tokens) {
            skip = `tokens ${config.tokens} not divisible by S=${c.S}`;
            B = Math.max(1, B);
          }
        }
        if (spec.maxS !== undefined && c.S > spec.maxS) skip ??= `S > maxS=${spec.maxS}`;
        cases.push({
          index: cases.length,
          kernel: spec.kernel,
          label,
          pass: c.pass,
          dtype: c.dtype,
          B,
          NH: c.NH,
          S: c.S,
          DQK: c.DQK,
          DHV: c.DHV,
          chunkSize,
          options: spec.options ?? {},
          ...(skip ? { skip } : {}),
        });
      }
    }
  }
  return cases;
}

function need(v: number[] | undefined, name: string, kernel: string): number[] {
  if (v === undefined || v.length === 0) {
    throw new TypeError(
      `Invalid sweep config: no ${name} values for kernel ${kernel}; set params.${name} or the kernel's params.${name}`,
    );
  }
  return v;
}

/** Reads and validates a config file. */
export async function loadSweepConfig(path: string): Promise<SweepConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`Cannot read sweep config ${path}: ${(e as Error).message}`);
  }
  return validateSweepConfig(JSON.parse(text));
}
