// charts.js - the three charts, drawn with uPlot on canvas: acceptance rate
// per purpose over time (lines), accept all / refuse all / custom per bucket
// (stacked bars), and the variants side by side with 95% error bars. Each
// chart follows its container's width (phones included).
import uPlot from 'uplot';
import { bucketName, bucketSeconds, bucketTime, fmtCount, fmtRate, wilson } from './format.js';

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];
const CHOICE_COLOURS = { accept_all: '#15803d', reject_all: '#b91c1c', custom: '#d97706' };
const AXIS = { stroke: '#4b5563', grid: { stroke: '#e5e7eb', width: 1 }, ticks: { stroke: '#d1d5db', width: 1 } };
const UTC = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');
/* Room for the longest tick label (uPlot passes them formatted, null on its
 * first pass): a fixed width clipped "20,000" on the left. */
const labelSize = (u, values) => 24 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length));
const percentAxis = { ...AXIS, size: 52, values: (u, splits) => splits.map((v) => `${Math.round(v * 100)}%`) };

const live = new Map(); // container element -> {plot, observer}

function heightFor(width) {
    return width < 480 ? 220 : 280;
}

// (Re)draw opts/data in container; the chart then follows the container's width.
function mount(container, opts, data) {
    unmount(container);
    const width = Math.max(200, container.clientWidth);
    const plot = new uPlot({ ...opts, width, height: heightFor(width) }, data, container);
    const observer = new ResizeObserver(() => {
        const w = Math.max(200, container.clientWidth);
        if (w != plot.width) plot.setSize({ width: w, height: heightFor(w) });
    });
    observer.observe(container);
    live.set(container, { plot, observer });
    return plot;
}

export function unmount(container) {
    const was = live.get(container);
    if (!was) return;
    was.observer.disconnect();
    was.plot.destroy();
    live.delete(container);
}

// The time scale of a bucketed chart: half a bucket of room on each side,
// so that the first and last bars are whole.
function timeScale(stats) {
    const half = bucketSeconds(stats.by) / 2;
    return { time: true, range: (u, min, max) => [min - half, max + half] };
}

const timeBase = { tzDate: UTC, legend: { live: true }, cursor: { drag: { x: false, y: false } } };

export function drawPurposes(container, stats) {
    const xs = stats.buckets.map((b) => bucketTime(b.start));
    const series = [{ label: bucketName(stats.by) }];
    const data = [xs];
    stats.purposes.forEach((p, i) => {
        const ys = stats.buckets.map((b) => b.purposes?.[p]?.acceptance_rate ?? null);
        // A value between two gaps draws no line: its point is drawn instead
        // (an hour of data in a month by hour), every point when they are few.
        const lone = ys.flatMap((y, k) => (y != null && ys[k - 1] == null && ys[k + 1] == null ? [k] : []));
        series.push({
            label: p,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: false,
            points: { show: xs.length <= 62, size: 6, filter: (u, si, show) => (show ? null : lone) },
            value: (u, v) => fmtRate(v),
        });
        data.push(ys);
    });
    return mount(
        container,
        {
            ...timeBase,
            series,
            scales: { x: timeScale(stats), y: { range: [0, 1] } },
            axes: [AXIS, percentAxis],
        },
        data,
    );
}

export function drawChoices(container, stats) {
    const xs = stats.buckets.map((b) => bucketTime(b.start));
    const raw = {
        accept_all: stats.buckets.map((b) => b.accept_all),
        reject_all: stats.buckets.map((b) => b.reject_all),
        custom: stats.buckets.map((b) => b.custom),
    };
    // Stacked: each series is drawn from 0 to its running total, the tallest
    // first, so that each band shows its own count; the legend shows the count.
    const order = ['custom', 'reject_all', 'accept_all'];
    const labels = { accept_all: 'accept all', reject_all: 'refuse all', custom: 'custom' };
    const stackOf = (k) => xs.map((_, i) => order.slice(order.indexOf(k)).reduce((sum, key) => sum + raw[key][i], 0));
    // At least 2 px wide: an hour of choices in a month by hour (720 columns
    // of 1.4 px) was a 1 px bar, blurred across two pixel columns.
    const bars = uPlot.paths.bars({ size: [0.7, 48, 2], gap: 1 });
    const series = [{ label: bucketName(stats.by) }];
    const data = [xs];
    for (const k of order) {
        series.push({
            label: labels[k],
            stroke: CHOICE_COLOURS[k],
            fill: CHOICE_COLOURS[k],
            width: 0,
            paths: bars,
            points: { show: false },
            value: (u, v, si, i) => (i == null ? '–' : fmtCount(raw[k][i])),
        });
        data.push(stackOf(k));
    }
    return mount(
        container,
        {
            ...timeBase,
            series,
            scales: { x: timeScale(stats), y: { range: (u, min, max) => [0, Math.max(1, max * 1.05)] } },
            axes: [AXIS, { ...AXIS, size: labelSize, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? fmtCount(v) : '')) }],
        },
        data,
    );
}

// The metrics the API compares, as [key, label, successes, trials] readers.
export function variantMetrics(stats) {
    const out = [['accept_all_rate', 'accept all', (v) => v.accept_all, (v) => v.decisions]];
    for (const p of stats.purposes) {
        out.push([
            `acceptance_rate:${p}`,
            p,
            (v) => v.purposes?.[p]?.granted ?? 0,
            (v) => (v.purposes?.[p]?.granted ?? 0) + (v.purposes?.[p]?.refused ?? 0),
        ]);
    }
    return out;
}

// Bars of series si, the group-th of groups in each category, in canvas pixels.
function groupedBars(group, groups) {
    return (u, si, i0, i1) => {
        const fill = new Path2D();
        const unit = u.valToPos(1, 'x', true) - u.valToPos(0, 'x', true);
        const gw = unit * 0.72,
            bw = gw / groups;
        const y0 = u.valToPos(0, 'y', true);
        for (let i = i0; i <= i1; i++) {
            const y = u.data[si][i];
            if (y == null) continue;
            const x = u.valToPos(u.data[0][i], 'x', true) - gw / 2 + group * bw;
            const top = u.valToPos(y, 'y', true);
            fill.rect(Math.round(x + bw * 0.08), top, Math.max(1, Math.round(bw * 0.84)), y0 - top);
        }
        return { stroke: fill, fill };
    };
}

export function drawVariants(container, stats) {
    const cmp = stats.variants_comparison;
    const names = stats.variants.filter((v) => cmp.variants[v]);
    const metrics = variantMetrics(stats);
    const xs = metrics.map((_, i) => i);
    const series = [{ label: 'metric', value: (u, v) => (v == null ? '–' : metrics[v][1]) }];
    const data = [xs];
    const intervals = [];
    names.forEach((name, g) => {
        const v = cmp.variants[name];
        const colour = PALETTE[g % PALETTE.length];
        series.push({
            label: `variant ${name}`,
            stroke: colour,
            fill: colour + 'b3',
            width: 1,
            paths: groupedBars(g, names.length),
            points: { show: false },
            value: (u, r) => fmtRate(r),
        });
        data.push(metrics.map(([, , k, n]) => (n(v) ? k(v) / n(v) : null)));
        intervals.push(metrics.map(([, , k, n]) => wilson(k(v), n(v))));
    });
    const whiskers = (u) => {
        const { ctx } = u;
        const unit = u.valToPos(1, 'x', true) - u.valToPos(0, 'x', true);
        const gw = unit * 0.72,
            bw = gw / names.length,
            cap = Math.min(8, bw * 0.25) * uPlot.pxRatio;
        ctx.save();
        ctx.strokeStyle = '#111827';
        ctx.lineWidth = 1.5 * uPlot.pxRatio;
        intervals.forEach((per, g) => {
            per.forEach((ci, i) => {
                if (!ci) return;
                const x = Math.round(u.valToPos(i, 'x', true) - gw / 2 + (g + 0.5) * bw);
                const lo = u.valToPos(ci[0], 'y', true),
                    hi = u.valToPos(ci[1], 'y', true);
                ctx.beginPath();
                ctx.moveTo(x, lo);
                ctx.lineTo(x, hi);
                ctx.moveTo(x - cap, lo);
                ctx.lineTo(x + cap, lo);
                ctx.moveTo(x - cap, hi);
                ctx.lineTo(x + cap, hi);
                ctx.stroke();
            });
        });
        ctx.restore();
    };
    const narrow = (u) => u.width < 560;
    return mount(
        container,
        {
            series,
            scales: { x: { time: false, range: [-0.5, metrics.length - 0.5] }, y: { range: [0, 1] } },
            axes: [
                {
                    ...AXIS,
                    grid: { show: false },
                    splits: () => xs,
                    values: (u, splits) => splits.map((i) => metrics[i]?.[1] ?? ''),
                    // Slanted on phones, where the names would overlap.
                    rotate: (u) => (narrow(u) ? 35 : 0),
                    size: (u) => (narrow(u) ? 90 : 40),
                },
                percentAxis,
            ],
            legend: { live: true },
            cursor: { drag: { x: false, y: false }, points: { show: false } },
            hooks: { draw: [whiskers] },
        },
        data,
    );
}
