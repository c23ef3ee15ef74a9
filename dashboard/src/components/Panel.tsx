/** Panel is one titled section of the dashboard, with a line for a failed fetch under its title. */
import type { ComponentChildren } from 'preact';
import type { ApiError } from '../api.js';

/** Panel renders a section with a heading, an optional note at the right and an error line when the last fetch failed. */
export function Panel({ id, title, note, error, children }: { id: string; title: string; note?: ComponentChildren; error?: ApiError | null; children: ComponentChildren }) {
  return (
    <section class="panel" id={id} aria-labelledby={`${id}-title`}>
      <div class="panel-head">
        <h2 id={`${id}-title`}>{title}</h2>
        {note !== undefined ? <span class="panel-note">{note}</span> : null}
      </div>
      {error ? <p class="fetch-error" role="status">{describe(error)}</p> : null}
      {children}
    </section>
  );
}

/** describe says what a failed fetch means for the operator. */
export function describe(e: ApiError): string {
  if (e.status === 0) return 'The gateway cannot be reached; showing the last data received.';
  if (e.status === 404) return 'This gateway does not serve this part of the admin API.';
  return e.message;
}
