/**
 * Inline SVG pictures for report.html (no scripts, no external files): the throughput chart and
 * the strip of host frames by owner.
 */
import type { MemorySnapshot } from '../contract';
import { rates, type Sample } from '../campaign/samples';
import { colourOf, esc } from './escape';

const CHART_W = 720;
const CHART_H = 180;
const PAD = 40;

/** Operations per second over elapsed time, as a polyline with labelled axes. */
export function throughputChart(samples: readonly Sample[]): string {
  const points = rates(samples);
  if (points.length === 0) return '<p class="muted">Too short for a throughput chart (fewer than two samples).</p>';
  const tMax = Math.max(...points.map((p) => p.elapsedMs), 1);
  const yMax = Math.max(...points.map((p) => p.opsPerSec), 1);
  const x = (t: number) => PAD + ((CHART_W - 2 * PAD) * t) / tMax;
  const y = (v: number) => CHART_H - PAD + 10 - ((CHART_H - PAD) * v) / yMax;
  const line = points.map((p) => `${x(p.elapsedMs).toFixed(1)},${y(p.opsPerSec).toFixed(1)}`).join(' ');
  return [
    `<svg class="chart" viewBox="0 0 ${CHART_W} ${CHART_H}" width="${CHART_W}" height="${CHART_H}" role="img" aria-label="operations per second over time">`,
    `<line x1="${PAD}" y1="${y(0)}" x2="${CHART_W - PAD}" y2="${y(0)}" stroke="#888"/>`,
    `<line x1="${PAD}" y1="${y(0)}" x2="${PAD}" y2="${y(yMax)}" stroke="#888"/>`,
    `<text x="${PAD - 4}" y="${y(yMax) + 4}" text-anchor="end" font-size="10">${esc(Math.round(yMax))}</text>`,
    `<text x="${PAD - 4}" y="${y(0)}" text-anchor="end" font-size="10">0</text>`,
    `<text x="${CHART_W - PAD}" y="${CHART_H - 8}" text-anchor="end" font-size="10">${esc((tMax / 1000).toFixed(0))} s</text>`,
    `<text x="${PAD}" y="12" font-size="10">operations/s</text>`,
    `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${line}"/>`,
    '</svg>',
  ].join('');
}

const STRIP_W = 720;
const STRIP_H = 28;

/** Host frames as one horizontal strip, each run of one owner a coloured segment, plus a legend. */
export function hostStrip(snapshot: MemorySnapshot): string {
  const total = Math.max(1, snapshot.hostFrames);
  const rects = snapshot.hostRuns.map(([start, count, owner]) => {
    const x = (STRIP_W * start) / total;
    const w = Math.max(0.5, (STRIP_W * count) / total);
    return `<rect x="${x.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="${STRIP_H}" fill="${esc(colourOf(owner))}"><title>${esc(`${owner}: frames ${start}..${start + count - 1}`)}</title></rect>`;
  });
  const owners = [...new Set(snapshot.hostRuns.map((r) => r[2]))];
  const legend = owners
    .map((o) => {
      const frames = snapshot.hostRuns.filter((r) => r[2] === o).reduce((s, r) => s + r[1], 0);
      return `<span class="swatch" style="background:${esc(colourOf(o))}"></span>${esc(o)} (${esc(frames)})`;
    })
    .join(' ');
  return `<svg class="strip" viewBox="0 0 ${STRIP_W} ${STRIP_H}" width="${STRIP_W}" height="${STRIP_H}" role="img" aria-label="host frames by owner">${rects.join('')}</svg><div class="legend">${legend}</div>`;
}
