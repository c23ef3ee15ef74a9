/**
 * The consumers panel: who calls the gateway, their groups and plan, and their credentials as the API shows
 * them (API keys by the first 12 hex characters of their SHA-256, never the key). Usage today and this
 * month's statement are fetched on demand: they need the Redis store, and without it the API answers 409,
 * which is shown as a note, not as a failure.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, type ConsumerInfo, type Statement, type UsageRow } from '../api.js';
import { Panel } from './Panel.js';

type Detail = { kind: 'loading' } | { kind: 'note'; text: string } | { kind: 'usage'; total: number; errors: number; byRoute: [string, number][] } | { kind: 'statement'; st: Statement };

/** Consumers renders the consumers panel. */
export function Consumers({ consumers, error }: { consumers: ConsumerInfo[] | null; error: ApiError | null }) {
  const [details, setDetails] = useState<Record<string, Detail>>({});
  const set = (id: string, d: Detail): void => setDetails((all) => ({ ...all, [id]: d }));

  const usage = async (id: string): Promise<void> => {
    set(id, { kind: 'loading' });
    const today = new Date().toISOString().slice(0, 10);
    try {
      const rows = await api<UsageRow[]>(`/api/consumers/${encodeURIComponent(id)}/usage?from=${today}`);
      const byRoute = new Map<string, number>();
      let total = 0;
      let errors = 0;
      for (const r of rows) {
        total += r.count;
        if (r.status === '5xx') errors += r.count;
        byRoute.set(r.route, (byRoute.get(r.route) ?? 0) + r.count);
      }
      set(id, { kind: 'usage', total, errors, byRoute: [...byRoute].sort((a, b) => b[1] - a[1]) });
    } catch (e) {
      set(id, { kind: 'note', text: e instanceof ApiError ? e.message : String(e) });
    }
  };

  const statement = async (id: string): Promise<void> => {
    set(id, { kind: 'loading' });
    const period = new Date().toISOString().slice(0, 7);
    try {
      set(id, { kind: 'statement', st: await api<Statement>(`/api/consumers/${encodeURIComponent(id)}/statement?period=${period}`) });
    } catch (e) {
      set(id, { kind: 'note', text: e instanceof ApiError ? e.message : String(e) });
    }
  };

  return (
    <Panel id="consumers" title="Consumers" error={error}>
      {consumers === null ? <p class="empty">Loading…</p> : consumers.length === 0 ? <p class="empty">No consumers.</p> : (
        <div class="table-wrap">
          <table class="consumers">
            <thead><tr><th scope="col">Consumer</th><th scope="col">Groups</th><th scope="col">Plan</th><th scope="col">Credentials</th><th scope="col">Usage</th></tr></thead>
            <tbody>
              {consumers.map((c) => {
                const d = details[c.id];
                return (
                  <tr key={c.id} data-consumer={c.id}>
                    <th scope="row">{c.id}</th>
                    <td>{(c.groups ?? []).length === 0 ? <span class="muted">–</span> : c.groups!.map((g) => <span key={g} class="chip">{g}</span>)}</td>
                    <td>{c.plan ?? <span class="muted">–</span>}</td>
                    <td class="creds">
                      {c.credentials.keys.map((k) => <div key={k.id}><span class="kind">key</span> <code>{k.id}</code>{k.expires ? <span class="muted"> until {k.expires.slice(0, 10)}</span> : null}</div>)}
                      {c.credentials.jwt ? <div><span class="kind">jwt</span> {typeof c.credentials.jwt.subject === 'string' ? <code>{c.credentials.jwt.subject}</code> : null}</div> : null}
                      {c.credentials.basic ? <div><span class="kind">basic</span> <code>{c.credentials.basic.username}</code></div> : null}
                      {c.credentials.keys.length === 0 && !c.credentials.jwt && !c.credentials.basic ? <span class="muted">none</span> : null}
                    </td>
                    <td class="usage">
                      <div class="buttons">
                        <button type="button" class="link" onClick={() => { void usage(c.id); }}>Today</button>
                        <button type="button" class="link" onClick={() => { void statement(c.id); }}>Statement</button>
                      </div>
                      {d === undefined ? null : <UsageDetail d={d} />}
                    </td>
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

function UsageDetail({ d }: { d: Detail }) {
  switch (d.kind) {
    case 'loading': return <p class="muted" role="status">Loading…</p>;
    case 'note': return <p class="note" role="status">{d.text}</p>;
    case 'usage': return (
      <p role="status">
        <strong>{d.total.toLocaleString('en')}</strong> calls today{d.errors > 0 ? <span class="bad"> ({d.errors} 5xx)</span> : null}
        {d.byRoute.slice(0, 3).map(([r, n]) => <span key={r} class="chip">{r}: {n}</span>)}
      </p>
    );
    case 'statement': return (
      <p role="status">
        {d.st.period.id}: <strong>{d.st.calls.toLocaleString('en')}</strong> calls, {d.st.billableCalls.toLocaleString('en')} billable, total <strong>{d.st.total} {d.st.currency}</strong>
      </p>
    );
  }
}
