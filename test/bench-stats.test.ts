// The benchmark's statistics helpers (bench/lib/stats.mjs): bootstrap intervals of medians and
// ratios, and how a row's target is judged by them. Pure JavaScript: no build, no sockets.
import { describe, expect, it } from 'vitest';
import { meets, median, mulberry32, pairedRatio, quantile, ratioFields, ratioInterval, valueInterval, verdict } from '../bench/lib/stats.mjs';

describe('bench statistics', () => {
  it('mulberry32 is reproducible and uniform in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(median(xs)).toBeGreaterThan(0.4);
    expect(median(xs)).toBeLessThan(0.6);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
  });

  it('quantile interpolates between order statistics', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
  });

  it('valueInterval contains the median and is reproducible from the data', () => {
    const v = [10, 12, 9, 11, 30, 10.5, 9.5, 11.5, 10];
    const ci = valueInterval(v);
    expect(ci.median).toBe(10.5);
    expect(ci.n).toBe(9);
    expect(ci.lo).toBeLessThanOrEqual(ci.median!);
    expect(ci.hi).toBeGreaterThanOrEqual(ci.median!);
    expect(ci.lo).toBeGreaterThanOrEqual(9);
    expect(ci.hi).toBeLessThan(30); // the median's interval ignores the one outlier
    expect(valueInterval([...v])).toEqual(ci); // same data, same seed, same interval
    expect(valueInterval(v, { seed: 7 })).toEqual(valueInterval(v, { seed: 7 }));
  });

  it('ratioInterval pairs the repetitions and bootstraps the median ratio', () => {
    const b = [100, 50, 200, 120, 80, 90, 300];
    const a = b.map((x, i) => x * (0.8 + 0.02 * i)); // ratios 0.80..0.92, whatever the drift of b
    const ci = ratioInterval(a, b);
    expect(ci.median).toBeCloseTo(0.86, 10);
    expect(ci.median).toBe(pairedRatio(a, b));
    expect(ci.n).toBe(7);
    expect(ci.lo).toBeGreaterThanOrEqual(0.8 - 1e-12);
    expect(ci.hi).toBeLessThanOrEqual(0.92 + 1e-12);
    expect(ci.lo).toBeLessThanOrEqual(ci.median!);
    expect(ci.hi).toBeGreaterThanOrEqual(ci.median!);
    expect(ratioInterval(a, b)).toEqual(ci);
    expect(ratioInterval(a, b, { seed: 1 })).toEqual(ratioInterval(a, b, { seed: 1 }));
    // Unpaired, the drift of b between repetitions widens the interval.
    const u = ratioInterval(a, b, { paired: false });
    expect(u.hi! - u.lo!).toBeGreaterThan(ci.hi! - ci.lo!);
  });

  it('handles no, one, and unusable repetitions', () => {
    expect(ratioInterval([], [])).toEqual({ median: null, lo: null, hi: null, n: 0 });
    expect(ratioInterval([1, 2], [0, Number.NaN])).toEqual({ median: null, lo: null, hi: null, n: 0 });
    expect(ratioInterval([3], [2])).toEqual({ median: 1.5, lo: null, hi: null, n: 1 });
    // A failed repetition (NaN) drops its pair only.
    expect(ratioInterval([2, Number.NaN, 4], [1, 1, 2]).n).toBe(2);
    expect(valueInterval([])).toEqual({ median: null, lo: null, hi: null, n: 0 });
    expect(valueInterval([5])).toEqual({ median: 5, lo: null, hi: null, n: 1 });
    const same = valueInterval([2, 2, 2]);
    expect([same.lo, same.median, same.hi]).toEqual([2, 2, 2]);
  });

  it('judges a target by the median and by the whole interval', () => {
    expect(meets({ ratio: 1.0, ratioCI: [0.97, 1.05], target: 0.95 })).toEqual({ metMedian: true, metInterval: true, met: true });
    expect(meets({ ratio: 1.0, ratioCI: [0.9, 1.05], target: 0.95 })).toEqual({ metMedian: true, metInterval: false, met: true });
    expect(meets({ ratio: 2.5, ratioCI: [2.4, 3.1], target: 3, better: 'lower' })).toEqual({ metMedian: true, metInterval: false, met: true });
    expect(meets({ ratio: 2.5, ratioCI: null, target: 3, better: 'lower' })).toEqual({ metMedian: true, metInterval: null, met: true });
    expect(meets({ ratio: 2.5, ratioCI: [2, 3], target: null })).toEqual({ metMedian: null, metInterval: null, met: null });

    expect(verdict({ ratio: 1.0, ratioCI: [0.97, 1.05], target: 0.95 })).toBe('yes');
    expect(verdict({ ratio: 1.0, ratioCI: [0.9, 1.05], target: 0.95 })).toBe('median only');
    expect(verdict({ ratio: 0.9, ratioCI: [0.8, 0.96], target: 0.95 })).toBe('NO (CI overlaps)');
    expect(verdict({ ratio: 0.9, ratioCI: [0.8, 0.94], target: 0.95 })).toBe('NO');
    expect(verdict({ ratio: 3.2, ratioCI: [3.1, 3.3], target: 3, better: 'lower' })).toBe('NO');
    expect(verdict({ ratio: 0.9, target: 0.95 })).toBe('NO (no CI)');
    expect(verdict({ ratio: 0.9 })).toBe('-');
    // A module's own `met` flag is honoured when it gives no metMedian.
    expect(verdict({ ratio: 0.9, target: 'see note', met: true })).toBe('yes (no CI)');
  });

  it('ratioFields gives a row its ratio fields', () => {
    const f = ratioFields([2, 2.2, 1.9], [1, 1, 1], { target: 2 });
    expect(f.ratio).toBe(2);
    expect(f.ratioN).toBe(3);
    expect(f.ratioCI![0]).toBeLessThanOrEqual(2);
    expect(f.ratioCI![1]).toBeGreaterThanOrEqual(2);
    expect(f.metMedian).toBe(true);
    expect(f.metInterval).toBe(f.ratioCI![0] >= 2);
    expect(f.met).toBe(true);
    expect(ratioFields([1], [1], { target: 2 })).toMatchObject({ ratio: 1, ratioCI: null, ratioN: 1, metMedian: false, metInterval: null });
  });
});
