// The test suite (`deno task test`): `deno test -A --doc` over the whole repository, run as a few
// `deno test` processes instead of one, then one summary line in deno test's own format.
//
// Why several processes: deno test runs every test module and every doc example in its own
// isolate of one process, and an isolate that created a WebGPU device never gives the driver's
// resources back. On an NVIDIA H200 `requestAdapter()` returned null after ~26 such isolates
// (measured: of 48 workers that each created a device, the 27th got none), so doc examples late in a run
// failed there, while lavapipe did not mind. Each group below stays well under that.
//
//   deno run -A tools/run_tests.ts [extra deno test flags, e.g. --filter chunkwise]

/** Groups of paths, each one `deno test -A --doc` process. */
const GROUPS: readonly (readonly string[])[] = [
  ["tests/"],
  ["kernels/runtime.ts", "kernels/buffer_pool.ts"],
  ["kernels/", "--ignore=kernels/runtime.ts,kernels/buffer_pool.ts,kernels/layers/,kernels/slstm/"],
  ["kernels/layers/", "kernels/slstm/"],
  ["README.md", "mod.ts", "browser.ts", "core/", "reference/", "io/"],
  ["models/", "profiling/", "bench/", "tools/"],
];

const SUMMARY =
  /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \| (\d+) ignored)?/;

const deno = Deno.execPath();
const extra = Deno.args;
let passed = 0, steps = 0, failed = 0, ignored = 0, status = 0;
const t0 = performance.now();
for (const group of GROUPS) {
  const child = new Deno.Command(deno, {
    args: ["test", "-A", "--doc", ...extra, ...group],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Streamed through, so that a long group shows progress; the summary line is remembered.
  let last: RegExpMatchArray | null = null;
  let pending = "";
  const dec = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    pending += dec.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      // deno colours its output unless NO_COLOR is set: strip the escape sequences.
      // deno-lint-ignore no-control-regex
      const m = line.replace(/\x1b\[[0-9;]*m/g, "").match(SUMMARY);
      if (m) last = m;
    }
  }
  const { code } = await child.status;
  if (code !== 0) status = code;
  if (last) {
    passed += Number(last[2]);
    steps += Number(last[3] ?? 0);
    failed += Number(last[4]);
    ignored += Number(last[5] ?? 0);
  } else if (code !== 0) {
    // A group that failed before running any test (type errors) counts as one failure.
    failed += 1;
  }
}
const secs = Math.round((performance.now() - t0) / 1000);
console.log(
  `\n${failed === 0 && status === 0 ? "ok" : "FAILED"} | ${passed} passed (${steps} steps) | ` +
    `${failed} failed${
      ignored ? ` | ${ignored} ignored` : ""
    } (${secs}s, ${GROUPS.length} processes)`,
);
Deno.exit(status === 0 && failed === 0 ? 0 : 1);
