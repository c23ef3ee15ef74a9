/** Number and time formats shared by the dashboard's panels. */

/** rate formats requests per second: one decimal below 100, whole numbers above. */
export function rate(x: number): string {
  return x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en');
}

/** ms formats a latency in milliseconds ("–" when there was no request). */
export function ms(x: number, any: boolean): string {
  if (!any) return '–';
  if (x < 10) return `${x.toFixed(1)} ms`;
  if (x < 10_000) return `${Math.round(x)} ms`;
  return `${(x / 1000).toFixed(1)} s`;
}

/** percent formats a share 0..1. */
export function percent(x: number): string {
  if (x === 0) return '0%';
  if (x < 0.001) return '<0.1%';
  return `${(x * 100).toFixed(1)}%`;
}

/** ago formats an ISO instant relative to now ("12 s ago"), with the instant itself as the fallback. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toISOString().slice(0, 16).replace('T', ' ');
}
