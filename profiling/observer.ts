/**
 * The dispatch-observer contract between the GPU runtime and profilers.
 *
 * The runtime keeps one optional observer per GPU context (`gpu.dispatchObserver`). When it is
 * unset, encoding a dispatch costs one property read and one branch. When it is set, the runtime
 * gives every dispatch its own compute pass and, around it and around each submit, calls:
 *
 * ```text
 * const tw = observer.beginDispatch(info);   // before beginComputePass
 * const pass = encoder.beginComputePass(tw ? { timestampWrites: tw } : {});
 * ... setPipeline / setBindGroup / dispatchWorkgroups ...
 * pass.end();
 * observer.endDispatch();                    // after pass.end()
 * ...
 * observer.beforeSubmit?.();                 // right before queue.submit([...])
 * device.queue.submit([encoder.finish()]);
 * observer.afterSubmit?.();                  // right after it
 * ```
 *
 * `beforeSubmit`/`afterSubmit` are optional for the runtime to call: without them all dispatches
 * form one batch that the profiler resolves when it stops.
 *
 * @module
 */

/** What the runtime tells an observer about one dispatch. */
export interface DispatchInfo {
  /** Kernel label, e.g. `"chunkwise--xl_chunk/fw_h"`. Records are grouped by it. */
  readonly label: string;
  /** Workgroup counts (x, y, z). */
  readonly workgroups: readonly number[];
  /** Shape constants and other metadata (B, NH, S, chunk size, tile sizes...). */
  readonly meta?: Readonly<Record<string, number | string | boolean>>;
  /** Floating-point operations this dispatch performs (for achieved FLOP/s). */
  readonly flops?: number;
  /** Bytes this dispatch must move to or from GPU memory (for achieved bytes/s). */
  readonly bytes?: number;
}

/** A profiler as the runtime sees it (see the module documentation for the call order). */
export interface DispatchObserver {
  /**
   * Called right before the dispatch's compute pass begins.
   *
   * @returns The pass's `timestampWrites`, or `undefined` to encode the pass without them.
   */
  beginDispatch(info: DispatchInfo): GPUComputePassTimestampWrites | undefined;
  /** Called right after the dispatch's compute pass ended. */
  endDispatch(): void;
  /** Called right before `queue.submit` of a batch that holds observed dispatches. */
  beforeSubmit?(): void;
  /** Called right after that `queue.submit` returned. */
  afterSubmit?(): void;
}

/**
 * A GPU context a profiler can attach to: the runtime's GPU object, or any object with a device
 * and a writable `dispatchObserver` slot that its dispatch code consults.
 */
export interface ObservableGpu {
  /** The device the dispatches run on. */
  readonly device: GPUDevice;
  /** The observer slot; `undefined` when no profiler is attached. */
  dispatchObserver?: DispatchObserver | undefined;
}
