// `deno bench` runs: a filtered run of the float64 reference benches (always) and of the toy GPU
// bench (with an adapter) must finish without error and report the benches by name.

import assert from "node:assert/strict";
import { getBenchGpu } from "../bench/_gpu.ts";

const gpu = await getBenchGpu();

async function denoBench(file: string, filter: string) {
  const root = new URL("..", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "-A", "--no-check", "--json", "--filter", filter, file],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `deno bench failed:\n${stderr}\n${stdout}`);
  const json = JSON.parse(stdout.slice(stdout.indexOf("{")));
  return json.benches as {
    name: string;
    group: string;
    results: { ok?: { n: number; avg: number; usedExplicitTimers: boolean } }[];
  }[];
}

Deno.test("deno bench --filter runs a reference bench without error", async () => {
  const benches = await denoBench("bench/recurrent_bench.ts", "reference--recurrent fw B=2 ");
  assert.equal(benches.length, 1);
  const [b] = benches;
  assert.equal(b.group, "step fw");
  const ok = b.results[0].ok!;
  assert.ok(ok.n > 0 && ok.avg > 0);
  assert.equal(ok.usedExplicitTimers, true);
});

Deno.test({
  name: "deno bench --filter runs the toy GPU bench without error",
  ignore: gpu === null,
  async fn() {
    const benches = await denoBench("bench/tooling_bench.ts", "toy--copy_v fw ");
    assert.equal(benches.length, 1);
    assert.ok(benches[0].results[0].ok!.avg > 0);
  },
});
