// Order statistics for timing samples.

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation; NaN for no samples. */
export function quantile(samples: readonly number[], q: number): number {
  const xs = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const pos = q * (xs.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo);
}

/** Median, quartiles and range of samples. */
export function spread(samples: readonly number[]) {
  return {
    median: quantile(samples, 0.5),
    p25: quantile(samples, 0.25),
    p75: quantile(samples, 0.75),
    min: quantile(samples, 0),
    max: quantile(samples, 1),
  };
}
