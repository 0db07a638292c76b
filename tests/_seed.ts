// Seeds of the randomized cross-checks: every test's own seed plus the integer environment
// variable MLSTM_TEST_SEED (default 0), so that `MLSTM_TEST_SEED=123 npx deno task test` runs the
// same checks on fresh inputs while CI stays reproducible.

import { Random } from "../mod.ts";

const raw = Deno.env.get("MLSTM_TEST_SEED") ?? "0";

/** The offset added to every test seed (MLSTM_TEST_SEED, default 0). */
export const SEED_OFFSET: number = Number(raw);
if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(SEED_OFFSET)) {
  throw new TypeError(`MLSTM_TEST_SEED must be an integer, received ${JSON.stringify(raw)}`);
}

/** A generator for a test's seed, offset by MLSTM_TEST_SEED. */
export function rngOf(seed: number): Random {
  return new Random(SEED_OFFSET + seed);
}
