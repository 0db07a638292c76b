// A one-line progress bar on stderr: redrawn in place on a terminal, one line per step otherwise
// (CI logs), silent when disabled.

const enc = new TextEncoder();

/** A progress bar over `total` steps. */
export class ProgressBar {
  #total: number;
  #tty: boolean;
  #enabled: boolean;
  #t0 = performance.now();

  constructor(total: number, enabled = true) {
    this.#total = total;
    this.#enabled = enabled;
    this.#tty = enabled && Deno.stderr.isTerminal();
  }

  /** Shows step `done` (0-based count of finished steps) with a description of the current one. */
  update(done: number, current: string): void {
    if (!this.#enabled) return;
    const width = 24;
    const filled = Math.round((done / Math.max(1, this.#total)) * width);
    const secs = ((performance.now() - this.#t0) / 1e3).toFixed(0);
    const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${this.#total} ` +
      `${secs}s  ${current}`;
    if (this.#tty) {
      const cols = Deno.consoleSize?.().columns ?? 120;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${line.slice(0, cols - 1)}`));
    } else {
      Deno.stderr.writeSync(enc.encode(line + "\n"));
    }
  }

  /** Ends the bar (newline on a terminal). */
  done(message: string): void {
    if (!this.#enabled) return;
    this.update(this.#total, message);
    if (this.#tty) Deno.stderr.writeSync(enc.encode("\n"));
  }
}
