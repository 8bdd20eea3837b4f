// format.js - numbers, rates and dates as the dashboard shows them, and the
// Wilson score interval of a proportion (the error bars of the variants).

const count = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

export const fmtCount = (n) => (n == null ? '–' : count.format(n));
// A rate of the API (a fraction, or null when its denominator is zero) in percent.
export const fmtRate = (r) => (r == null ? '–' : `${(r * 100).toFixed(1)}%`);
// A difference of two rates, in percentage points, with its sign.
export const fmtPoints = (d) => `${d > 0 ? '+' : d < 0 ? '−' : '±'}${Math.abs(d * 100).toFixed(1)}`;

// Dates are UTC days, as the API counts them.
export const isoDay = (date) => date.toISOString().slice(0, 10);
export const addDays = (day, n) => isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400e3));
export const today = () => isoDay(new Date());

// "2026-11-01T00:00:00Z" -> Unix seconds (uPlot's time axis).
export const bucketTime = (start) => Date.parse(start) / 1000;
export const bucketLabel = (start, by) =>
    by == 'hour' ? start.slice(0, 13).replace('T', ' ') + ':00' : by == 'month' ? start.slice(0, 7) : start.slice(0, 10);
// The bucket's name in headings and legends, and its length in seconds (a
// month: its average, for the chart's margins).
export const bucketName = (by) => `${by == 'week' ? 'week from' : by} (UTC)`;
export const bucketSeconds = (by) => ({ hour: 3600, week: 604800, month: 2629746 })[by] || 86400;

const Z95 = 1.959963984540054;

// Wilson score interval (95%) of k successes out of n: [low, high], or null when n is 0.
export function wilson(k, n) {
    if (!n) return null;
    const p = k / n,
        z2 = Z95 * Z95,
        d = 1 + z2 / n;
    const centre = (p + z2 / (2 * n)) / d;
    const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / d;
    return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
