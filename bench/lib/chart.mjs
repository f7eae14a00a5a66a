// The benchmark's rows as one standalone SVG (no dependencies, plain strings): one line per row
// that has a ratio, the dot at the median ratio, a whisker for its bootstrap 95 % interval, the
// A/A control's interval as a faint band behind it where the row has one, a vertical line at
// 1.0x, the target as a green tick with a faint tint on the side that meets it. Log scale on x.
// Ratios are drawn as the table prints them (native/ref), not inverted: on rows marked "lower is
// better" (listen(), start-up, page faults) the tint is on the left of the target.
import { verdict } from './stats.mjs';

const W = 900;
const LABEL_X = 10;
const PLOT_X0 = 392;
const PLOT_X1 = 728;
const VALUE_X = 740;
const ROW_H = 30;
const GROUP_H = 24;
const FONT = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';
const LINE_CHARS = 58; // characters of a label line at 11 px in the label column

const COLORS = {
  yes: '#1a9641',
  'median only': '#d69a00',
  'NO (CI overlaps)': '#e66101',
  NO: '#c81d25',
  'yes (no CI)': '#1a9641',
  'NO (no CI)': '#c81d25',
  '-': '#3465a4',
  aa: '#777777',
};

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
const f1 = (x) => (Math.round(x * 10) / 10).toString();
const fmtRatio = (x) => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
const positive = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;
const interval = (ci) => (Array.isArray(ci) && ci.length === 2 && ci.every((x) => typeof x === 'number' && Number.isFinite(x)) ? ci : null);
const isAA = (r) => /^\s*A\/A\b/.test(r.name ?? '');

/** Splits a label into at most `lines` lines of about LINE_CHARS characters, on spaces. */
function wrap(text, lines = 2) {
  const words = text.split(/\s+/).filter(Boolean);
  const out = [''];
  for (const w of words) {
    const cur = out[out.length - 1];
    if (!cur || `${cur} ${w}`.length <= LINE_CHARS) out[out.length - 1] = cur ? `${cur} ${w}` : w;
    else out.push(w);
  }
  if (out.length > lines) {
    out.length = lines;
    out[lines - 1] = `${out[lines - 1].slice(0, LINE_CHARS - 1)}…`;
  }
  return out.map((l) => (l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS - 1)}…` : l));
}

/** Ticks of a log axis between lo and hi: 1-2-5 steps, denser (1-1.5-2-3-5-7.5) when the range is short. */
function ticks(lo, hi) {
  const pick = (mantissas) => {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
      for (const m of mantissas) {
        const t = +(m * 10 ** e).toPrecision(6);
        if (t >= lo && t <= hi) out.push(t);
      }
    }
    return out;
  };
  const coarse = pick([1, 2, 5]);
  return coarse.length >= 4 ? coarse : pick([1, 1.5, 2, 3, 5, 7.5]);
}

/**
 * The SVG of `rows` (the run's normalized rows: name, module?, unit?, ratio, ratioCI?, aa?,
 * target?, better?, metMedian?, metInterval?, met?). Rows without a numeric ratio are left out.
 * `title`, `subtitle`: text lines at the top.
 */
export function chartSvg(rows, { title = 'plugsock benchmark', subtitle = '' } = {}) {
  const shown = rows.filter((r) => r && typeof r.ratio === 'number' && Number.isFinite(r.ratio));

  // x domain: every positive figure drawn, at least 0.5x..2x, with a margin.
  const xs = [1];
  for (const r of shown) {
    xs.push(r.ratio, ...(interval(r.ratioCI) ?? []), ...(interval(r.aa?.ratioCI) ?? []));
    if (typeof r.target === 'number') xs.push(r.target);
  }
  const pos = xs.filter(positive);
  const lo = Math.min(0.5, ...pos) / 1.12;
  const hi = Math.max(2, ...pos) * 1.12;
  const x = (v) => {
    const c = Math.min(hi, Math.max(lo, positive(v) ? v : lo));
    return PLOT_X0 + ((Math.log(c) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * (PLOT_X1 - PLOT_X0);
  };

  const out = [];
  const top = 136;
  let y = top;
  let lastModule;
  let stripe = 0;
  const body = [];
  for (const r of shown) {
    if (r.module !== undefined && r.module !== lastModule) {
      lastModule = r.module;
      body.push(
        `<text x="${LABEL_X}" y="${y + 16}" font-size="12" font-weight="bold" fill="#222">${esc(`${r.module}.mjs`)}</text>`,
        `<line x1="${LABEL_X}" y1="${y + GROUP_H - 2}" x2="${W - 10}" y2="${y + GROUP_H - 2}" stroke="#bbb" stroke-width="1"/>`,
      );
      y += GROUP_H;
    }
    const aaRow = isAA(r);
    const v = aaRow ? 'aa' : verdict(r);
    const color = COLORS[v] ?? COLORS['-'];
    const cy = y + ROW_H / 2;
    const g = [];
    const ci = interval(r.ratioCI);
    const aaCi = interval(r.aa?.ratioCI);
    const name = `${r.name.trim()}${r.unit ? ` [${r.unit}]` : ''}${r.better === 'lower' ? ' (lower is better)' : ''}`;
    const tip = [
      name,
      `ratio ${fmtRatio(r.ratio)}x${ci ? ` [${fmtRatio(ci[0])}, ${fmtRatio(ci[1])}]` : ''}${r.ratioN !== undefined ? `, n=${r.ratioN}` : ''}`,
      ...(aaCi ? [`A/A ${fmtRatio(r.aa.ratio)}x [${fmtRatio(aaCi[0])}, ${fmtRatio(aaCi[1])}]`] : []),
      ...(typeof r.target === 'number' ? [`target ${r.better === 'lower' ? '<=' : '>='} ${r.target}x: ${v}`] : []),
      ...(r.ref ? [`reference: ${r.ref}`] : []),
    ].join('\n');
    g.push(`<title>${esc(tip)}</title>`);
    if (stripe++ % 2 === 0) g.push(`<rect x="0" y="${y}" width="${W}" height="${ROW_H}" fill="#f4f5f7"/>`);
    // Label: indented and grey for A/A rows.
    const lines = wrap(name);
    const lx = LABEL_X + (aaRow ? 14 : 0);
    const ly = lines.length === 1 ? cy + 4 : cy - 2;
    g.push(
      `<text x="${lx}" y="${f1(ly)}" font-size="11" fill="${aaRow ? '#666' : '#111'}"${aaRow ? ' font-style="italic"' : ''}>${lines
        .map((l, i) => `<tspan x="${lx}" dy="${i === 0 ? 0 : 12}">${esc(l)}</tspan>`)
        .join('')}</text>`,
    );
    // Target: faint tint on the side that meets it, and a green tick.
    if (positive(r.target)) {
      const tx = x(r.target);
      const [a, b] = r.better === 'lower' ? [PLOT_X0, tx] : [tx, PLOT_X1];
      g.push(`<rect x="${f1(a)}" y="${y + 3}" width="${f1(b - a)}" height="${ROW_H - 6}" fill="#1a9641" fill-opacity="0.09"/>`);
      g.push(`<line x1="${f1(tx)}" y1="${y + 3}" x2="${f1(tx)}" y2="${y + ROW_H - 3}" stroke="#1a7a35" stroke-width="2.5"/>`);
    }
    // The A/A control's interval, faint, behind the row's own.
    if (aaCi) {
      g.push(
        `<rect x="${f1(x(aaCi[0]))}" y="${cy - 7}" width="${f1(Math.max(1.5, x(aaCi[1]) - x(aaCi[0])))}" height="14" rx="3" fill="#888" fill-opacity="0.28"/>`,
      );
    }
    if (ci) {
      const [x0, x1] = [x(ci[0]), x(ci[1])];
      g.push(
        `<line x1="${f1(x0)}" y1="${cy}" x2="${f1(x1)}" y2="${cy}" stroke="${color}" stroke-width="2"/>`,
        // A bound <= 0 (a difference of medians can go negative) has no place on a log axis:
        // an arrow at the left edge instead of the cap.
        positive(ci[0])
          ? `<line x1="${f1(x0)}" y1="${cy - 5}" x2="${f1(x0)}" y2="${cy + 5}" stroke="${color}" stroke-width="2"/>`
          : `<path d="M ${f1(x0)} ${cy} l 8 -5 v 10 z" fill="${color}"/>`,
        `<line x1="${f1(x1)}" y1="${cy - 5}" x2="${f1(x1)}" y2="${cy + 5}" stroke="${color}" stroke-width="2"/>`,
      );
    }
    if (positive(r.ratio)) {
      // Hollow without an interval (fewer than 2 repetitions, or a module that gives none).
      g.push(
        ci
          ? `<circle cx="${f1(x(r.ratio))}" cy="${cy}" r="4.5" fill="${color}" stroke="#fff" stroke-width="1.2"/>`
          : `<circle cx="${f1(x(r.ratio))}" cy="${cy}" r="4" fill="#fff" stroke="${color}" stroke-width="2"/>`,
      );
    } else {
      // A ratio <= 0 cannot sit on a log axis: an arrow at the left edge.
      g.push(`<path d="M ${PLOT_X0} ${cy} l 8 -5 v 10 z" fill="${color}"/>`);
    }
    // Figures on the right: the ratio and its interval, then target and verdict.
    const fig = `${fmtRatio(r.ratio)}x${ci ? ` [${fmtRatio(ci[0])}, ${fmtRatio(ci[1])}]` : r.ratioN === 1 ? ' (n=1)' : ''}`;
    const sub =
      typeof r.target === 'number'
        ? `${r.better === 'lower' ? '≤' : '≥'} ${r.target}x: ${v}`
        : aaCi
          ? `A/A [${fmtRatio(aaCi[0])}, ${fmtRatio(aaCi[1])}]`
          : aaRow
            ? 'noise of a net/net ratio'
            : '';
    g.push(`<text x="${VALUE_X}" y="${f1(sub ? cy - 2 : cy + 4)}" font-size="11" fill="#111">${esc(fig)}</text>`);
    if (sub) g.push(`<text x="${VALUE_X}" y="${f1(cy + 10)}" font-size="10" fill="${v in COLORS && v !== '-' ? color : '#555'}">${esc(sub)}</text>`);
    body.push(`<g>${g.join('')}</g>`);
    y += ROW_H;
  }
  const bottom = y;
  const height = bottom + 74;

  // Axis: grid lines and labels at each tick, top and bottom; the 1.0x line over everything.
  const axis = [];
  for (const t of ticks(lo, hi)) {
    const tx = f1(x(t));
    axis.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${bottom}" stroke="#d9d9d9" stroke-width="1"/>`);
    for (const ty of [top - 8, bottom + 14]) axis.push(`<text x="${tx}" y="${ty}" font-size="10" fill="#555" text-anchor="middle">${esc(`${t}x`)}</text>`);
  }
  const one = f1(x(1));

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="${FONT}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LABEL_X}" y="24" font-size="16" font-weight="bold" fill="#111">${esc(title)}</text>`,
    ...(subtitle ? [`<text x="${LABEL_X}" y="42" font-size="11" fill="#444">${esc(subtitle)}</text>`] : []),
    // Legend: two lines.
    `<g font-size="11" fill="#222">`,
    `<line x1="${LABEL_X}" y1="66" x2="${LABEL_X + 40}" y2="66" stroke="#3465a4" stroke-width="2"/>`,
    `<line x1="${LABEL_X}" y1="61" x2="${LABEL_X}" y2="71" stroke="#3465a4" stroke-width="2"/><line x1="${LABEL_X + 40}" y1="61" x2="${LABEL_X + 40}" y2="71" stroke="#3465a4" stroke-width="2"/>`,
    `<circle cx="${LABEL_X + 20}" cy="66" r="4.5" fill="#3465a4" stroke="#fff" stroke-width="1.2"/>`,
    `<text x="${LABEL_X + 48}" y="70">median of the per-repetition ratios and its bootstrap 95 % interval (hollow: no interval, n &lt; 2)</text>`,
    `<rect x="${LABEL_X}" y="79" width="40" height="14" rx="3" fill="#888" fill-opacity="0.28"/>`,
    `<text x="${LABEL_X + 48}" y="90">A/A control's interval (noise of a net/net ratio)</text>`,
    `<line x1="${LABEL_X + 330}" y1="78" x2="${LABEL_X + 330}" y2="94" stroke="#1a7a35" stroke-width="2.5"/>`,
    `<rect x="${LABEL_X + 331}" y="78" width="24" height="16" fill="#1a9641" fill-opacity="0.09"/>`,
    `<text x="${LABEL_X + 362}" y="90">target; the tint is the side that meets it</text>`,
    `<text x="${LABEL_X}" y="110" font-size="10" fill="#444">colour (met?): <tspan fill="${COLORS.yes}">interval meets target</tspan> · <tspan fill="${COLORS['median only']}">median only</tspan> · <tspan fill="${COLORS['NO (CI overlaps)']}">median misses, interval reaches target</tspan> · <tspan fill="${COLORS.NO}">whole interval misses</tspan> · <tspan fill="${COLORS['-']}">no target</tspan> · <tspan fill="${COLORS.aa}">A/A control</tspan></text>`,
    `</g>`,
    ...axis,
    ...body,
    `<line x1="${one}" y1="${top - 4}" x2="${one}" y2="${bottom}" stroke="#222" stroke-width="1.2"/>`,
    `<text x="${(PLOT_X0 + PLOT_X1) / 2}" y="${bottom + 30}" font-size="11" fill="#333" text-anchor="middle">plugsock / reference (log scale; reference = plain net unless the row says otherwise)</text>`,
    `<text x="${LABEL_X}" y="${bottom + 50}" font-size="10" fill="#555">Ratios are native/reference as in the table, not inverted: on "lower is better" rows (times, page faults) a ratio below the target meets it.</text>`,
    `<text x="${LABEL_X}" y="${bottom + 64}" font-size="10" fill="#555">A plugsock interval that overlaps the row's A/A band is not a difference this run can show. Rows without a ratio are in the table only.</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
