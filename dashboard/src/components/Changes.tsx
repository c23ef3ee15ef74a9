/** The recent changes panel: the admin API's audit log, newest first (who changed what, and when). */
import type { ApiError, AuditEntry } from '../api.js';
import { ago } from '../format.js';
import { Panel } from './Panel.js';

/** Changes renders the recent changes panel. */
export function Changes({ entries, error }: { entries: AuditEntry[] | null; error: ApiError | null }) {
  return (
    <Panel id="changes" title="Recent changes" error={error}>
      {entries === null ? <p class="empty">Loading…</p> : entries.length === 0 ? <p class="empty">No changes since the gateway started.</p> : (
        <div class="table-wrap">
          <table class="changes">
            <thead><tr><th scope="col">When</th><th scope="col" class="num">Version</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Summary</th></tr></thead>
            <tbody>
              {entries.map((e, i) => (
                <tr key={`${e.version}-${i}`}>
                  <td><time dateTime={e.at} title={e.at}>{ago(e.at)}</time></td>
                  <td class="num">{e.version}</td>
                  <td>{e.actor}</td>
                  <td><span class={`badge action-${e.action}`}>{e.action}</span> {e.kind} <strong>{e.name}</strong></td>
                  <td class="summary">{e.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}
