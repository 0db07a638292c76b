/**
 * What a profiler run produced: dispatch and batch records, and their exports (per-kernel summary
 * table, Chrome trace JSON, CSV).
 *
 * @module
 */

/** One recorded dispatch. Times in milliseconds unless the name says otherwise. */
export interface DispatchRecord {
  /** Position in the run, from 0. */
  index: number;
  /** Index of the submit batch it belongs to. */
  batch: number;
  /** Kernel label. */
  label: string;
  /** Workgroup counts. */
  workgroups: number[];
  /** Shape constants and other metadata. */
  meta: Record<string, number | string | boolean>;
  /** FLOP of this dispatch, when given. */
  flops: number | undefined;
  /** Bytes moved by this dispatch, when given. */
  bytes: number | undefined;
  /** When encoding began, ms since the profiler started (CPU clock). */
  cpuStartMs: number;
  /** CPU time spent encoding the dispatch (its pass). */
  cpuEncodeMs: number;
  /** GPU timestamp at the start of its pass, ns (GPU clock; NaN without timestamps). */
  gpuStartNs: number;
  /** GPU duration (timestamps), or its share of the batch's wall time in the fallback. */
  gpuMs: number;
}

/** One submit batch. */
export interface BatchRecord {
  /** Position in the run, from 0. */
  index: number;
  /** Index of its first dispatch record. */
  firstDispatch: number;
  /** Number of its dispatches. */
  dispatchCount: number;
  /** When `queue.submit` was entered, ms since the profiler started (NaN if not reported). */
  submitStartMs: number;
  /** CPU time of `queue.submit` (NaN if the runtime did not report it). */
  submitMs: number;
  /** Submit-to-completion wall time (wall-clock fallback only; NaN otherwise). */
  wallMs: number;
}

/** Measured or assumed hardware ceilings for the roofline columns. */
export interface Ceilings {
  /** Achievable f32 arithmetic rate, FLOP/s (e.g. from a tiled matmul). */
  flopsPerSecond: number;
  /** Achievable memory bandwidth, bytes/s (e.g. from a device-to-device copy). */
  bytesPerSecond: number;
}

/** One row of the per-kernel summary. */
export interface KernelSummary {
  /** Kernel label. */
  label: string;
  /** Number of dispatches. */
  calls: number;
  /** Sum of their durations, ms. */
  totalMs: number;
  /** Mean duration, ms. */
  meanMs: number;
  /** Share of the run's total duration, in [0, 1]. */
  share: number;
  /** Sum of CPU encode times, ms. */
  cpuEncodeMs: number;
  /** Achieved FLOP/s (NaN without flops metadata). */
  flopsPerSecond: number;
  /** Achieved bytes/s (NaN without bytes metadata). */
  bytesPerSecond: number;
  /** Achieved FLOP/s over the ceiling (NaN without ceilings). */
  flopsFraction: number;
  /** Achieved bytes/s over the ceiling (NaN without ceilings). */
  bytesFraction: number;
}

/** The fields a {@linkcode ProfileReport} is built from. */
export interface ProfileReportInit {
  /** How durations were measured. */
  timing: "gpu-timestamps" | "wall";
  /** What a record is: one dispatch, or one compute pass of the runtime. @default {"dispatch"} */
  granularity?: "dispatch" | "pass";
  /** The device, in words. */
  device: string;
  /** Dispatch records. */
  records: DispatchRecord[];
  /** Batch records. */
  batches: BatchRecord[];
  /** Wall time from start to stop, ms. */
  wallMs: number;
}

/**
 * Columns of {@linkcode ProfileReport.toCsv}, in order. Times are ms: `cpu_start_ms` is when the
 * dispatch's encoding began (since the profiler started), `cpu_encode_ms` the CPU time encoding it,
 * `batch_submit_ms` the CPU time of its batch's submit (`finish()`, `queue.submit()` and the
 * runtime's error checks: {@linkcode BatchRecord.submitMs}), repeated on every row of the batch
 * (one submit covers all of them: sum it per batch, not per row).
 *
 * @example
 * ```ts
 * import { PROFILE_CSV_COLUMNS } from "./report.ts";
 * console.assert(PROFILE_CSV_COLUMNS[0] === "index" && PROFILE_CSV_COLUMNS.includes("gpu_ms"));
 * ```
 */
export const PROFILE_CSV_COLUMNS: readonly string[] = [
  "index",
  "batch",
  "label",
  "wg_x",
  "wg_y",
  "wg_z",
  "gpu_ms",
  "cpu_start_ms",
  "cpu_encode_ms",
  "batch_submit_ms",
  "flops",
  "bytes",
  "timing",
  "meta",
];

function csvField(v: unknown): string {
  const s = v === undefined || (typeof v === "number" && Number.isNaN(v)) ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The result of a profiler run. Durations are GPU timestamps when `timing` is
 * `"gpu-timestamps"`; in the `"wall"` fallback each batch's submit-to-completion wall time is
 * shared equally among its dispatches (includes Deno's ~11 ms await floor).
 *
 * @example Summaries from records
 * ```ts
 * import { ProfileReport } from "./report.ts";
 * const rec = (index: number, label: string, gpuMs: number) => ({
 *   index, batch: 0, label, workgroups: [1, 1, 1], meta: {}, flops: 2e6, bytes: undefined,
 *   cpuStartMs: index, cpuEncodeMs: 0.01, gpuStartNs: index * 1e6, gpuMs,
 * });
 * const report = new ProfileReport({
 *   timing: "gpu-timestamps", device: "test", wallMs: 5,
 *   records: [rec(0, "a", 1), rec(1, "a", 1), rec(2, "b", 3)],
 *   batches: [{ index: 0, firstDispatch: 0, dispatchCount: 3, submitStartMs: 3, submitMs: 0.1, wallMs: NaN }],
 * });
 * const [b, a] = report.summary();
 * console.assert(b.label === "b" && b.share === 0.6 && a.calls === 2);
 * console.assert(Math.abs(a.flopsPerSecond - 2e9) < 1e-3);
 * ```
 */
export class ProfileReport {
  /** How durations were measured. */
  readonly timing: "gpu-timestamps" | "wall";
  /** What a record is: one dispatch (own pass), or one of the runtime's shared passes. */
  readonly granularity: "dispatch" | "pass";
  /** The device, in words. */
  readonly device: string;
  /** Every dispatch, in order. */
  readonly records: readonly DispatchRecord[];
  /** Every submit batch, in order. */
  readonly batches: readonly BatchRecord[];
  /** Wall time from start to stop, ms (includes the final read-back). */
  readonly wallMs: number;

  /**
   * Builds a report (the profiler does this).
   *
   * @param init The records.
   */
  constructor(init: ProfileReportInit) {
    this.timing = init.timing;
    this.granularity = init.granularity ?? "dispatch";
    this.device = init.device;
    this.records = init.records;
    this.batches = init.batches;
    this.wallMs = init.wallMs;
  }

  /** A sentence on how durations were measured, for printing next to figures. */
  get note(): string {
    const unit = this.granularity === "pass"
      ? "Records are compute passes (the runtime's shared passes, labelled by their first dispatch)."
      : "";
    return (this.timing === "gpu-timestamps"
      ? this.granularity === "pass"
        ? "GPU durations from timestamp queries per compute pass. "
        : "GPU durations from timestamp queries (one compute pass per dispatch)."
      : "No timestamp-query: durations are wall time per submit batch (submit to completion, " +
        "incl. Deno's ~11 ms await floor), shared equally among the batch's records. ") + unit;
  }

  /** Sum of all dispatch durations, ms. */
  get totalMs(): number {
    let t = 0;
    for (const r of this.records) t += r.gpuMs;
    return t;
  }

  /**
   * Per-kernel summary, sorted by total time (largest first).
   *
   * @param ceilings Hardware ceilings for the fraction columns.
   * @returns One row per label.
   */
  summary(ceilings?: Ceilings): KernelSummary[] {
    const total = this.totalMs;
    const by = new Map<string, DispatchRecord[]>();
    for (const r of this.records) {
      const list = by.get(r.label);
      if (list) list.push(r);
      else by.set(r.label, [r]);
    }
    const rows: KernelSummary[] = [];
    for (const [label, list] of by) {
      let t = 0, enc = 0, flops = 0, bytes = 0, hasF = false, hasB = false;
      for (const r of list) {
        t += r.gpuMs;
        enc += r.cpuEncodeMs;
        if (r.flops !== undefined) (flops += r.flops, hasF = true);
        if (r.bytes !== undefined) (bytes += r.bytes, hasB = true);
      }
      const fps = hasF ? flops / (t / 1e3) : NaN;
      const bps = hasB ? bytes / (t / 1e3) : NaN;
      rows.push({
        label,
        calls: list.length,
        totalMs: t,
        meanMs: t / list.length,
        share: total > 0 ? t / total : NaN,
        cpuEncodeMs: enc,
        flopsPerSecond: fps,
        bytesPerSecond: bps,
        flopsFraction: ceilings ? fps / ceilings.flopsPerSecond : NaN,
        bytesFraction: ceilings ? bps / ceilings.bytesPerSecond : NaN,
      });
    }
    return rows.sort((a, b) => b.totalMs - a.totalMs);
  }

  /**
   * The summary as a fixed-width text table, with the timing note underneath.
   *
   * @param ceilings Hardware ceilings for the "% peak" columns.
   * @returns The table.
   */
  formatSummary(ceilings?: Ceilings): string {
    const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "-");
    const head = [
      "kernel",
      "calls",
      "total ms",
      "mean µs",
      "share %",
      "enc µs/call",
      "GFLOP/s",
      "% flop peak",
      "GB/s",
      "% bw peak",
    ];
    const body = this.summary(ceilings).map((r) => [
      r.label,
      String(r.calls),
      f(r.totalMs),
      f(r.meanMs * 1e3, 1),
      f(r.share * 100, 1),
      f((r.cpuEncodeMs / r.calls) * 1e3, 1),
      f(r.flopsPerSecond / 1e9, 2),
      f(r.flopsFraction * 100, 1),
      f(r.bytesPerSecond / 1e9, 2),
      f(r.bytesFraction * 100, 1),
    ]);
    const widths = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
    const line = (row: string[]) =>
      row.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join("  ");
    const out = [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
    out.push(
      `${this.records.length} ${
        this.granularity === "pass" ? "passes" : "dispatches"
      } in ${this.batches.length} batches, ${f(this.totalMs)} ms on ${this.device}. ${this.note}`,
    );
    if (ceilings) {
      out.push(
        `Ceilings: ${f(ceilings.flopsPerSecond / 1e9, 1)} GFLOP/s, ${
          f(ceilings.bytesPerSecond / 1e9, 1)
        } GB/s.`,
      );
    }
    return out.join("\n");
  }

  /**
   * Chrome trace-event JSON (open in https://ui.perfetto.dev or chrome://tracing): "X" events with
   * `ts`/`dur` in µs. Process 1 is the CPU (thread 1: dispatch encoding, thread 2: submits),
   * process 2 the GPU (durations from timestamps, placed on the CPU clock by aligning the run's
   * first GPU timestamp with its first submit). In the wall-clock fallback, GPU events are laid
   * out back to back from each batch's submit.
   *
   * @returns The trace object (`JSON.stringify` it to write a file).
   */
  toChromeTrace(): { traceEvents: Record<string, unknown>[]; displayTimeUnit: "ms" } {
    const ev: Record<string, unknown>[] = [
      { ph: "M", pid: 1, name: "process_name", args: { name: "CPU" } },
      { ph: "M", pid: 1, tid: 1, name: "thread_name", args: { name: "encode" } },
      { ph: "M", pid: 1, tid: 2, name: "thread_name", args: { name: "submit" } },
      { ph: "M", pid: 2, name: "process_name", args: { name: `GPU (${this.timing})` } },
      { ph: "M", pid: 2, tid: 1, name: "thread_name", args: { name: "queue" } },
    ];
    const us = (ms: number) => Math.round(ms * 1e6) / 1e3;
    for (const r of this.records) {
      ev.push({
        ph: "X",
        pid: 1,
        tid: 1,
        name: r.label,
        cat: "encode",
        ts: us(r.cpuStartMs),
        dur: us(Number.isFinite(r.cpuEncodeMs) ? r.cpuEncodeMs : 0),
        args: { index: r.index, workgroups: r.workgroups.join("x") },
      });
    }
    for (const b of this.batches) {
      if (!Number.isFinite(b.submitStartMs)) continue;
      ev.push({
        ph: "X",
        pid: 1,
        tid: 2,
        name: "submit",
        cat: "submit",
        ts: us(b.submitStartMs),
        dur: us(Number.isFinite(b.submitMs) ? b.submitMs : 0),
        args: { batch: b.index, dispatches: b.dispatchCount },
      });
    }
    const first = this.records.find((r) => Number.isFinite(r.gpuStartNs));
    const firstBatch = this.batches[0];
    const anchorMs = firstBatch && Number.isFinite(firstBatch.submitStartMs)
      ? firstBatch.submitStartMs
      : 0;
    const cursor = new Map<number, number>();
    for (const r of this.records) {
      let tsMs: number;
      if (first !== undefined && Number.isFinite(r.gpuStartNs)) {
        tsMs = anchorMs + (r.gpuStartNs - first.gpuStartNs) / 1e6;
      } else {
        const b = this.batches[r.batch];
        const start = cursor.get(r.batch) ??
          (b && Number.isFinite(b.submitStartMs) ? b.submitStartMs : r.cpuStartMs);
        tsMs = start;
        cursor.set(r.batch, start + (Number.isFinite(r.gpuMs) ? r.gpuMs : 0));
      }
      ev.push({
        ph: "X",
        pid: 2,
        tid: 1,
        name: r.label,
        cat: "dispatch",
        ts: us(tsMs),
        dur: us(Number.isFinite(r.gpuMs) ? r.gpuMs : 0),
        args: {
          index: r.index,
          batch: r.batch,
          workgroups: r.workgroups.join("x"),
          ...r.meta,
          ...(r.flops !== undefined ? { flops: r.flops } : {}),
          ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
        },
      });
    }
    return { traceEvents: ev, displayTimeUnit: "ms" };
  }

  /**
   * One CSV row per dispatch, with a header ({@linkcode PROFILE_CSV_COLUMNS}); `meta` is a JSON
   * object in one quoted field.
   *
   * @returns The CSV text.
   */
  toCsv(): string {
    const rows = [PROFILE_CSV_COLUMNS.join(",")];
    for (const r of this.records) {
      const batch = this.batches[r.batch];
      rows.push(
        [
          r.index,
          r.batch,
          r.label,
          r.workgroups[0] ?? 1,
          r.workgroups[1] ?? 1,
          r.workgroups[2] ?? 1,
          r.gpuMs,
          r.cpuStartMs,
          r.cpuEncodeMs,
          batch?.submitMs,
          r.flops,
          r.bytes,
          this.timing,
          JSON.stringify(r.meta),
        ].map(csvField).join(","),
      );
    }
    return rows.join("\n") + "\n";
  }
}
