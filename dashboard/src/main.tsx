/**
 * The Gatehouse dashboard: a single page on the admin listener that signs in with the admin token, then
 * shows the gateway live from the admin API (routes with their numbers, services with target health and
 * circuit state, consumers, recent changes) and lets the operator add a route or a consumer. Polling is
 * plain fetch on timers: stats every second, service health every 3 s, the overview every 2 s, and the
 * config lists whenever the config version moves (or every 10 s).
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, getToken, setToken, whenUnauthorized, type AuditEntry, type ConsumerInfo, type Overview, type RouteInfo, type ServiceInfo, type Stats } from './api.js';
import { usePoll } from './poll.js';
import { Routes } from './components/Routes.js';
import { Services } from './components/Services.js';
import { Consumers } from './components/Consumers.js';
import { Changes } from './components/Changes.js';
import { ChangeForm, list } from './components/ChangeForm.js';
import { ago } from './format.js';

type Phase = 'checking' | 'login' | 'in';

function App() {
  const [phase, setPhase] = useState<Phase>(getToken() !== null ? 'in' : 'checking');
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    whenUnauthorized(() => {
      setToken(null);
      setNote('The admin token was not accepted (it may have changed). Sign in again.');
      setPhase('login');
    });
  }, []);

  // A gateway without an admin token answers without one: then there is nothing to sign in with.
  useEffect(() => {
    if (phase !== 'checking') return;
    api<Overview>('/api/overview', { useToken: null })
      .then(() => { setToken(''); setPhase('in'); })
      .catch(() => setPhase('login'));
  }, [phase]);

  if (phase === 'checking') return <p class="boot" role="status">Connecting…</p>;
  if (phase === 'login') return <Login note={note} signedIn={() => { setNote(null); setPhase('in'); }} />;
  return <Dashboard signOut={() => { setToken(null); setNote('Signed out.'); setPhase('login'); }} />;
}

function Login({ note, signedIn }: { note: string | null; signedIn: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => { input.current?.focus(); }, []);

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setBusy(true);
    try {
      await api<Overview>('/api/overview', { useToken: value.trim() });
      setToken(value.trim());
      signedIn();
    } catch (e) {
      const err = e as ApiError;
      setError(err.status === 401 ? 'This token was not accepted.' : err.status === 0 ? 'The gateway cannot be reached.' : err.message);
      input.current?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form onSubmit={(e) => { void submit(e); }} aria-labelledby="login-title">
        <h1 id="login-title"><Logo /> Gatehouse admin</h1>
        {note && !error ? <p class="note" role="status">{note}</p> : null}
        <label for="token">Admin token</label>
        <input ref={input} id="token" name="token" type="password" autoComplete="current-password" required value={value}
          aria-invalid={error ? 'true' : undefined} aria-describedby={error ? 'token-error' : 'token-hint'}
          onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} />
        {error ? <p class="field-error" id="token-error" role="alert">{error}</p> : <p class="hint" id="token-hint">The <code>admin.token</code> of this gateway. It is kept in this tab only.</p>}
        <button type="submit" disabled={busy || value.trim() === ''}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

function Logo() {
  return (
    <svg class="logo" width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <path d="M3 21V9l9-6 9 6v12h-6v-7H9v7z" fill="currentColor" />
    </svg>
  );
}

function Dashboard({ signOut }: { signOut: () => void }) {
  const overview = usePoll<Overview>('/api/overview', 2000);
  const [bump, setBump] = useState(0);
  const key = `${overview.data?.version ?? '-'}:${bump}`;
  const stats = usePoll<Stats>('/api/stats', 1000);
  const routes = usePoll<RouteInfo[]>('/api/routes', 10_000, key);
  const services = usePoll<ServiceInfo[]>('/api/services', 3000, key);
  const consumers = usePoll<ConsumerInfo[]>('/api/consumers', 10_000, key);
  const audit = usePoll<AuditEntry[]>('/api/audit?limit=20', 10_000, key);
  const plans = usePoll<unknown>('/api/plans', 0, key);

  const o = overview.data;
  const readonlyReason = o === null ? null : o.writable ? null : (o.readonlyReason ?? 'the configuration is read-only');
  const serviceNames = (services.data ?? []).map((s) => s.name);
  const planNames = planList(plans.data);
  const offline = stats.error?.status === 0 || overview.error?.status === 0;
  const changed = (): void => setBump((n) => n + 1);

  return (
    <>
      <a class="skip" href="#routes">Skip to the routes</a>
      <header class="top">
        <div class="brand"><Logo /> Gatehouse</div>
        {o ? (
          <dl class="facts" aria-label="Gateway">
            <div><dt>config</dt><dd>v{o.version}</dd></div>
            <div><dt>generation</dt><dd>{o.generation}</dd></div>
            <div><dt>source</dt><dd>{o.source}{o.writable ? '' : ' (read-only)'}</dd></div>
            <div><dt>routes</dt><dd>{o.routes}</dd></div>
            <div><dt>services</dt><dd>{o.services}</dd></div>
            <div><dt>consumers</dt><dd>{o.consumers}</dd></div>
            <div><dt>started</dt><dd><time dateTime={o.startedAt} title={o.startedAt}>{ago(o.startedAt)}</time></dd></div>
          </dl>
        ) : <span class="facts muted">{overview.error ? overview.error.message : 'Loading…'}</span>}
        <nav aria-label="Sections">
          <a href="#routes">Routes</a><a href="#services">Services</a><a href="#consumers">Consumers</a><a href="#changes">Changes</a><a href="#add">Add</a>
        </nav>
        <button type="button" class="secondary" onClick={signOut}>Sign out</button>
      </header>
      {offline ? <p class="banner" role="alert">The gateway cannot be reached. Retrying…</p> : null}
      <main>
        <Routes routes={routes.data} stats={stats.data} error={routes.error} />
        <div class="columns">
          <Services services={services.data} error={services.error} />
          <Consumers consumers={consumers.data} error={consumers.error} />
        </div>
        <Changes entries={audit.data} error={audit.error} />
        <section class="panel" id="add" aria-labelledby="add-title">
          <div class="panel-head"><h2 id="add-title">Change the configuration</h2><span class="panel-note">validated like the config file, applied at once, saved and audited</span></div>
          <div class="forms">
            <ChangeForm
              id="add-route" title="Add a route" submitLabel="Add route" readonlyReason={readonlyReason}
              fields={[
                { name: 'name', label: 'Name', required: true, placeholder: 'orders-v2', pointers: ['/name'] },
                { name: 'path', label: 'Path', required: true, placeholder: '/v2/orders/*', hint: 'Starts with /; * at the end matches the rest.', pointers: ['/match/path', '/match'] },
                { name: 'methods', label: 'Methods', placeholder: 'GET, POST', hint: 'Empty: any method.', pointers: ['/match/methods'] },
                { name: 'service', label: 'Service', required: true, options: serviceNames, pointers: ['/service'] },
              ]}
              request={(v) => {
                const methods = list(v.methods ?? '').map((m) => m.toUpperCase());
                return { path: '/api/routes', body: { name: v.name ?? '', match: { path: v.path ?? '', ...(methods.length > 0 ? { methods } : {}) }, service: v.service ?? '' } };
              }}
              done={changed}
            />
            <ChangeForm
              id="add-consumer" title="Add a consumer" submitLabel="Add consumer" readonlyReason={readonlyReason}
              fields={[
                { name: 'id', label: 'Id', required: true, placeholder: 'acme', pointers: ['/id', '/name'] },
                { name: 'groups', label: 'Groups', placeholder: 'partners, beta', pointers: ['/groups'] },
                { name: 'plan', label: 'Plan', options: planNames, pointers: ['/plan'] },
              ]}
              request={(v) => {
                const groups = list(v.groups ?? '');
                return { path: '/api/consumers', body: { id: v.id ?? '', ...(groups.length > 0 ? { groups } : {}), ...(v.plan ? { plan: v.plan } : {}) } };
              }}
              done={changed}
            />
          </div>
          <p class="hint">Credentials are added with <code>POST /api/consumers/ID/keys</code> or <code>gatehouse keys</code>: a new key is shown once, so it does not belong on a shared screen.</p>
        </section>
      </main>
    </>
  );
}

/** planList reads plan names from /api/plans, whether it lists plans as objects with a name or as names. */
function planList(doc: unknown): string[] {
  if (Array.isArray(doc)) return doc.map((p) => (typeof p === 'string' ? p : String((p as { name?: unknown }).name ?? ''))).filter((n) => n !== '');
  if (doc !== null && typeof doc === 'object') return Object.keys(doc);
  return [];
}

render(<App />, document.getElementById('app')!);
