/**
 * The services panel: per service its circuit state, whether it is critical (readiness depends on it), the
 * routes that use it, and each target's state: up (healthy and available), ejected (passive health took it
 * out after failures), down (the active health check fails), with its weight and requests in flight.
 */
import type { ApiError, ServiceInfo, TargetInfo } from '../api.js';
import { Panel } from './Panel.js';

function targetState(t: TargetInfo): { label: string; cls: string } {
  if (!t.healthy) return { label: 'down', cls: 'bad' };
  if (t.ejected) return { label: 'ejected', cls: 'warn' };
  if (!t.available) return { label: 'unavailable', cls: 'warn' };
  return { label: 'up', cls: 'good' };
}

const CIRCUIT: Record<string, string> = { closed: 'good', 'half-open': 'warn', open: 'bad' };

/** Services renders the services panel. */
export function Services({ services, error }: { services: ServiceInfo[] | null; error: ApiError | null }) {
  return (
    <Panel id="services" title="Services" error={error} note="health every 3 s">
      {services === null ? <p class="empty">Loading…</p> : services.length === 0 ? <p class="empty">No services.</p> : (
        <ul class="cards">
          {services.map((s) => {
            const up = s.targets.filter((t) => t.available).length;
            return (
              <li key={s.name} class="card" data-service={s.name}>
                <div class="card-head">
                  <h3>{s.name}</h3>
                  <span class={`badge ${s.circuit === null ? 'muted' : CIRCUIT[s.circuit] ?? 'muted'}`} data-col="circuit" title="Circuit breaker state">
                    circuit {s.circuit ?? 'off'}
                  </span>
                  {s.critical ? <span class="badge info" title="Readiness fails when this service has no available target">critical</span> : null}
                  <span class={`count ${up === 0 ? 'bad' : up < s.targets.length ? 'warn' : ''}`}>{up}/{s.targets.length} available</span>
                </div>
                <table class="targets">
                  <thead><tr><th scope="col">Target</th><th scope="col">State</th><th scope="col" class="num">Weight</th><th scope="col" class="num">In flight</th></tr></thead>
                  <tbody>
                    {s.targets.map((t) => {
                      const st = targetState(t);
                      return (
                        <tr key={t.url}>
                          <td><code>{t.url}</code></td>
                          <td><span class={`dot ${st.cls}`} aria-hidden="true" />{st.label}</td>
                          <td class="num">{t.weight}</td>
                          <td class="num">{t.active}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
                {s.routes.length > 0 ? <p class="used-by">Used by {s.routes.map((r) => <span key={r} class="chip">{r}</span>)}</p> : <p class="used-by muted">No route uses it.</p>}
              </li>
            );
          })}
        </ul>
      )}
    </Panel>
  );
}
