/**
 * Small statistics and table helpers for the benchmark. Every figure is a median over
 * samples (or over per-repetition results); p90/p99 use the nearest-rank method.
 */

/** Sorted copy. */
function sorted(xs) {
  return [...xs].sort((a, b) => a - b);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

/** Median (mean of the two middle values for an even count). */
export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Summary of a sample: median, p90, p99, n. */
export function summarize(xs) {
  return { median: median(xs), p90: percentile(xs, 90), p99: percentile(xs, 99), n: xs.length };
}

/** Format a duration given in milliseconds with a unit that keeps 3 significant digits. */
export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (abs >= 1) return `${ms.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2)} ms`;
  if (abs >= 0.001) return `${(ms * 1000).toFixed(abs >= 0.1 ? 0 : abs >= 0.01 ? 1 : 2)} µs`;
  return `${(ms * 1e6).toFixed(0)} ns`;
}

/** Format nanoseconds. */
export function fmtNs(ns) {
  if (!Number.isFinite(ns)) return '—';
  return Math.abs(ns) >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${Math.round(ns)} ns`;
}

/** Ratio ours / baseline, e.g. `1.23×`. */
export function fmtRatio(ours, base) {
  if (!Number.isFinite(ours) || !Number.isFinite(base) || base === 0) return '—';
  const r = ours / base;
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Render rows (arrays of strings) as an aligned text table with a header rule. */
export function table(header, rows, align = []) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((c, i) => {
        const s = String(c ?? '');
        return align[i] === 'l' ? s.padEnd(widths[i]) : s.padStart(widths[i]);
      })
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Time an async (or sync) function `n` times after `warmup` untimed calls; returns ms samples. */
export async function sample(n, fn, { warmup = 0 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Like {@link sample} for a synchronous function (no await between the clock reads). */
export function sampleSync(n, fn, { warmup = 0 } = {}) {
  for (let i = 0; i < warmup; i++) fn(i);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}
