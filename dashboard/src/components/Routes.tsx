/**
 * The routes table: what each route matches and where it sends requests, its features, and its live
 * numbers from /api/stats (requests per second, p50/p99 latency and error rate over the last 5 s, and the
 * last minute as a sparkline). Rows follow /api/routes; stats for a route appear as soon as it serves.
 */
import type { ApiError, RouteInfo, Stats, RouteStats } from '../api.js';
import { ms, percent, rate } from '../format.js';
import { Panel } from './Panel.js';
import { Sparkline } from './Sparkline.js';

/** Routes renders the routes panel. */
export function Routes({ routes, stats, error }: { routes: RouteInfo[] | null; stats: Stats | null; error: ApiError | null }) {
  const byName = new Map<string, RouteStats>();
  for (const s of stats?.routes ?? []) byName.set(s.route, s);
  const list = routes ?? [];
  return (
    <Panel id="routes" title="Routes" error={error} note={stats ? <>live, last 5 s · updated {new Date(stats.at).toLocaleTimeString('en-GB')}</> : 'waiting for numbers…'}>
      {routes === null ? <p class="empty">Loading…</p> : list.length === 0 ? <p class="empty">No routes yet: add one below.</p> : (
        <div class="table-wrap">
          <table class="routes">
            <thead>
              <tr>
                <th scope="col">Route</th>
                <th scope="col">Backend</th>
                <th scope="col">Features</th>
                <th scope="col" class="num">Req/s</th>
                <th scope="col" class="num">p50</th>
                <th scope="col" class="num">p99</th>
                <th scope="col" class="num">Errors</th>
                <th scope="col">Last minute</th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => {
                const s = byName.get(r.name);
                const any = s !== undefined && s.rps > 0;
                return (
                  <tr key={r.name} data-route={r.name}>
                    <th scope="row">
                      <span class="name">{r.name}</span>
                      <span class="match">
                        {r.match.methods && r.match.methods.length > 0 ? <span class="methods">{r.match.methods.join(' ')}</span> : null}
                        {r.match.host ? <span>{String(r.match.host)}</span> : null}
                        <code>{r.match.path ?? '/*'}</code>
                      </span>
                    </th>
                    <td>{r.backend.service ? <><span class="kind">service</span> {r.backend.service}</> : <span class="kind">{r.backend.kind}</span>}{r.websocket ? <span class="chip">websocket</span> : null}</td>
                    <td>{r.features.length === 0 ? <span class="muted">none</span> : r.features.map((f) => <span key={f} class="chip">{f}</span>)}</td>
                    <td class="num" data-col="rps">{s ? rate(s.rps) : '–'}</td>
                    <td class="num" data-col="p50">{ms(s?.p50Ms ?? 0, any)}</td>
                    <td class="num" data-col="p99">{ms(s?.p99Ms ?? 0, any)}</td>
                    <td class={`num${s && s.errorRate > 0 ? ' bad' : ''}`} data-col="errors">{s && any ? percent(s.errorRate) : '–'}</td>
                    <td data-col="spark">{s ? <Sparkline series={s.series} /> : null}<span class="total" data-col="total">{s ? `${s.total.toLocaleString('en')} total` : ''}</span></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
