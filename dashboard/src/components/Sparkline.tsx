/**
 * Sparkline draws the last minute of one route as an inline SVG: requests per second as a line, seconds
 * with errors as red ticks under it. No chart library: 60 points need none.
 */
import type { RouteStats } from '../api.js';

const W = 120;
const H = 28;

/** Sparkline renders `series` (oldest first); the scale is the busiest second. */
export function Sparkline({ series }: { series: RouteStats['series'] }) {
  const n = series.length;
  let max = 1;
  for (const p of series) if (p.requests > max) max = p.requests;
  const step = n > 1 ? W / (n - 1) : W;
  let points = '';
  for (let i = 0; i < n; i++) {
    const y = H - 3 - (series[i]!.requests / max) * (H - 6);
    points += `${(i * step).toFixed(1)},${y.toFixed(1)} `;
  }
  const total = series.reduce((a, p) => a + p.requests, 0);
  return (
    <svg class="spark" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${total} requests in the last minute, at most ${max} per second`}>
      <polyline class="spark-line" points={points.trim()} fill="none" />
      {series.map((p, i) => p.errors > 0 ? <rect key={p.t} class="spark-err" x={i * step - 1} y={H - 3} width="2" height="3" /> : null)}
    </svg>
  );
}
