// Small statistics helpers shared by the benchmark modules.

/** Median of a list of numbers (null/NaN ignored); null when empty. */
export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Half the min..max range as a fraction of the median (0.1 = "±10 %"); null when undefined. */
export function spread(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  const m = median(v);
  if (!m || v.length < 2) return null;
  return (Math.max(...v) - Math.min(...v)) / 2 / Math.abs(m);
}

/** Summary of repeated measurements. */
export function summarize(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return {
    median: median(v),
    min: v.length ? Math.min(...v) : null,
    max: v.length ? Math.max(...v) : null,
    spread: spread(v),
    n: v.length,
    values: v,
  };
}

/**
 * Median of per-repetition ratios a[i]/b[i]. Runs are interleaved, so a[i] and b[i] ran close
 * together in time; pairing them cancels slow drifts of the shared machine better than a
 * ratio of medians.
 */
export function pairedRatio(a, b) {
  const r = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) r.push(a[i] / b[i]);
  }
  return median(r);
}

/** Human formatting with ~3 significant digits. */
export function fmtNum(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (typeof x !== 'number') return String(x);
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}
