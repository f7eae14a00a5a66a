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

/** The per-repetition ratios a[i]/b[i] of the pairs where both are finite numbers and b[i] is not 0. */
export function pairedRatios(a, b) {
  const r = [];
  for (let i = 0; i < Math.min(a?.length ?? 0, b?.length ?? 0); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) r.push(a[i] / b[i]);
  }
  return r;
}

/**
 * Median of per-repetition ratios a[i]/b[i]. Runs are interleaved, so a[i] and b[i] ran close
 * together in time; pairing them cancels slow drifts of the shared machine better than a
 * ratio of medians. Same figure as ratioInterval(a, b).median.
 */
export function pairedRatio(a, b) {
  return median(pairedRatios(a, b));
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). Same seed, same sequence. */
export function mulberry32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit seed derived from the data (FNV-1a of its JSON), so an interval is reproducible from the values alone. */
export function seedOf(...lists) {
  const text = JSON.stringify(lists);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The p-quantile (0..1) of an ascending array, linear between order statistics; null when empty. */
export function quantile(sorted, p) {
  if (sorted.length === 0) return null;
  const x = p * (sorted.length - 1);
  const i = Math.floor(x);
  return i + 1 < sorted.length ? sorted[i] + (x - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

const finite = (values) => (values ?? []).filter((x) => typeof x === 'number' && Number.isFinite(x));
const resample = (v, rand) => v.map(() => v[Math.floor(rand() * v.length)]);

/** Percentile interval of `stat` over `iterations` bootstrap samples drawn by `draw()`. */
function percentileInterval(draw, stat, { iterations, level }) {
  const stats = [];
  for (let k = 0; k < iterations; k++) {
    const s = stat(draw());
    if (Number.isFinite(s)) stats.push(s);
  }
  stats.sort((x, y) => x - y);
  const tail = (1 - level) / 2;
  return stats.length ? [quantile(stats, tail), quantile(stats, 1 - tail)] : [null, null];
}

/**
 * Bootstrap interval of the median of one list of repeated measurements: resample the values
 * with replacement `iterations` times, percentile interval (2.5 %..97.5 % for level 0.95).
 * Returns { median, lo, hi, n }; lo/hi are null with fewer than 2 values (no interval can be
 * estimated from one repetition). The seed defaults to one derived from the values.
 */
export function valueInterval(values, { iterations = 2000, level = 0.95, seed } = {}) {
  const v = finite(values);
  const m = median(v);
  if (v.length < 2) return { median: m, lo: null, hi: null, n: v.length };
  const rand = mulberry32(seed ?? seedOf(v));
  const [lo, hi] = percentileInterval(() => resample(v, rand), median, { iterations, level });
  return { median: m, lo, hi, n: v.length };
}

/**
 * Bootstrap 95 % interval of the ratio a/b. Paired (the default: the modules interleave A and B,
 * so a[i] and b[i] ran side by side): the median of the per-repetition ratios a[i]/b[i], and its
 * percentile interval over resamples of the pairs. Unpaired: median(a)/median(b), a and b
 * resampled independently. Returns { median, lo, hi, n } (n: pairs, or the smaller list when
 * unpaired); lo/hi are null with fewer than 2 pairs, everything null with none. Reproducible:
 * the seed defaults to one derived from the data.
 */
export function ratioInterval(a, b, { paired = true, iterations = 2000, level = 0.95, seed } = {}) {
  if (paired) {
    const r = pairedRatios(a, b);
    return valueInterval(r, { iterations, level, seed: seed ?? seedOf(a, b) });
  }
  const va = finite(a);
  const vb = finite(b);
  const mb = median(vb);
  const m = mb ? median(va) / mb : null;
  const n = Math.min(va.length, vb.length);
  if (m === null || n < 2) return { median: m, lo: null, hi: null, n };
  const rand = mulberry32(seed ?? seedOf(a, b));
  const [lo, hi] = percentileInterval(
    () => [resample(va, rand), resample(vb, rand)],
    ([x, y]) => median(x) / median(y),
    { iterations, level },
  );
  return { median: m, lo, hi, n };
}

/**
 * Whether a ratio meets its target, by its median and by its whole interval: for better
 * 'higher' the target is a minimum (the interval meets it when lo >= target), for 'lower' a
 * maximum (hi <= target). Null where there is no target, no ratio or no interval.
 * `met` (the old single flag) is metMedian.
 */
export function meets({ ratio, ratioCI, target, better = 'higher' }) {
  const t = typeof target === 'number' ? target : null;
  const ok = (x) => (better === 'lower' ? x <= t : x >= t);
  const metMedian = t === null || typeof ratio !== 'number' ? null : ok(ratio);
  const bound = Array.isArray(ratioCI) ? (better === 'lower' ? ratioCI[1] : ratioCI[0]) : null;
  const metInterval = t === null || typeof bound !== 'number' ? null : ok(bound);
  return { metMedian, metInterval, met: metMedian };
}

/**
 * The ratio fields of a row (bench/README.md): ratio (median), ratioCI [lo, hi] (null without
 * an interval), ratioN (pairs), metMedian, metInterval, met. `a`/`b`: the per-repetition values
 * of the measured and the reference column.
 */
export function ratioFields(a, b, { target = null, better = 'higher', paired = true, seed } = {}) {
  const ci = ratioInterval(a, b, { paired, seed });
  const ratioCI = ci.lo === null ? null : [ci.lo, ci.hi];
  return { ratio: ci.median, ratioCI, ratioN: ci.n, ...meets({ ratio: ci.median, ratioCI, target, better }) };
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

/**
 * The "met?" verdict of a row with ratio, ratioCI, target, better, metMedian, metInterval:
 * 'yes' (median and whole interval meet the target), 'median only' (the interval crosses it),
 * 'NO (CI overlaps)' (the median misses, the interval reaches the target), 'NO' (the whole
 * interval misses); '... (no CI)' without an interval; '-' without a target.
 */
export function verdict(row) {
  const m = meets(row);
  const metMedian = typeof row.metMedian === 'boolean' ? row.metMedian : typeof row.met === 'boolean' ? row.met : m.metMedian;
  const metInterval = typeof row.metInterval === 'boolean' ? row.metInterval : m.metInterval;
  if (typeof metMedian !== 'boolean') return '-';
  const ci = Array.isArray(row.ratioCI) && typeof row.target === 'number' ? row.ratioCI : null;
  if (!ci) return metMedian ? 'yes (no CI)' : 'NO (no CI)';
  if (metMedian) return metInterval ? 'yes' : 'median only';
  // The median misses: does the interval's far end reach the target?
  const far = row.better === 'lower' ? ci[0] <= row.target : ci[1] >= row.target;
  return far ? 'NO (CI overlaps)' : 'NO';
}
