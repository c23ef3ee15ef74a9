/**
 * ChangeForm is a small form that creates one config element through the admin API. A 422 answer's
 * `errors` are shown next to the field their JSON pointer names (the first such field gets focus) and its
 * `detail` at the top; errors no field claims are listed at the top too. Success says which version the
 * change made, clears the form and tells the page to refresh.
 */
import { useRef, useState } from 'preact/hooks';
import { api, ApiError, type FieldError } from '../api.js';

/** FieldDef describes one field of a ChangeForm. */
export interface FieldDef {
  name: string;
  label: string;
  hint?: string;
  placeholder?: string;
  required?: boolean;
  /** A select with these options instead of a text input ('' first: none). */
  options?: string[];
  /** JSON pointers (relative to the submitted element) whose errors belong to this field; their children too. */
  pointers: string[];
}

/** ChangeFormProps are the props of ChangeForm. */
export interface ChangeFormProps {
  id: string;
  title: string;
  submitLabel: string;
  fields: FieldDef[];
  /** request turns the field values into the API call. */
  request: (values: Record<string, string>) => { path: string; body: unknown };
  /** done is told the created element's name and version once the API accepted it. */
  done: (name: string, version: number | undefined) => void;
  readonlyReason: string | null;
}

/** fieldFor is the field whose pointers claim `pointer`, or null. */
function fieldFor(fields: FieldDef[], pointer: string): string | null {
  for (const f of fields) {
    for (const p of f.pointers) if (pointer === p || pointer.startsWith(`${p}/`)) return f.name;
  }
  return null;
}

/** ChangeForm renders the form. */
export function ChangeForm(props: ChangeFormProps) {
  const { id, fields } = props;
  const empty = (): Record<string, string> => Object.fromEntries(fields.map((f) => [f.name, f.options ? (f.required ? f.options[0] ?? '' : '') : '']));
  const [values, setValues] = useState<Record<string, string>>(empty);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string[]>>({});
  const [top, setTop] = useState<{ detail: string; others: FieldError[] } | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const formRef = useRef<HTMLFormElement>(null);

  // A required select shows its first option before the operator touches it (or before its options loaded):
  // that is the value sent.
  const effective = (): Record<string, string> => {
    const v = { ...values };
    for (const f of fields) if (f.options && f.required && !f.options.includes(v[f.name] ?? '')) v[f.name] = f.options[0] ?? '';
    return v;
  };

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    if (busy) return;
    setBusy(true);
    setOk(null);
    const { path, body } = props.request(effective());
    try {
      const r = await api<{ version?: number; name?: string; id?: string }>(path, { method: 'POST', body });
      setFieldErrors({});
      setTop(null);
      const name = r?.name ?? r?.id ?? values[fields[0]!.name] ?? '';
      setOk(`Created ${name}${r?.version !== undefined ? ` (config version ${r.version})` : ''}.`);
      setValues(empty());
      props.done(name, r?.version);
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, String(e), null, []);
      const byField: Record<string, string[]> = {};
      const others: FieldError[] = [];
      for (const fe of err.errors) {
        const f = fieldFor(fields, fe.field ?? '');
        if (f === null) others.push(fe);
        else (byField[f] ??= []).push(fe.message);
      }
      setFieldErrors(byField);
      setTop({ detail: err.status === 0 ? 'The gateway cannot be reached.' : err.message, others });
      const first = fields.find((f) => byField[f.name] !== undefined);
      if (first) formRef.current?.querySelector<HTMLElement>(`[name="${first.name}"]`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  const set = (name: string, v: string): void => {
    setValues((all) => ({ ...all, [name]: v }));
    if (fieldErrors[name]) setFieldErrors((all) => { const next = { ...all }; delete next[name]; return next; });
  };

  const disabled = props.readonlyReason !== null;
  const shown = effective();
  return (
    <form ref={formRef} id={id} class="change-form" onSubmit={(e) => { void submit(e); }} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`}>{props.title}</h3>
      {disabled ? <p class="note">The configuration cannot be changed here: {props.readonlyReason}</p> : null}
      {top ? (
        <div class="form-error" role="alert" data-testid="form-error">
          <p>Not saved: {top.detail}</p>
          {top.others.length > 0 ? <ul>{top.others.map((o, i) => <li key={i}>{o.field ? <code>{o.field}</code> : null} {o.message}</li>)}</ul> : null}
        </div>
      ) : null}
      {ok ? <p class="form-ok" role="status">{ok}</p> : null}
      {fields.map((f) => {
        const fid = `${id}-${f.name}`;
        const errs = fieldErrors[f.name];
        const describedBy = [f.hint ? `${fid}-hint` : '', errs ? `${fid}-error` : ''].filter(Boolean).join(' ') || undefined;
        const common = {
          id: fid, name: f.name, value: shown[f.name] ?? '', disabled: disabled || busy,
          'aria-invalid': errs ? 'true' as const : undefined, 'aria-describedby': describedBy, required: f.required,
        };
        return (
          <div key={f.name} class={`field${errs ? ' invalid' : ''}`}>
            <label for={fid}>{f.label}{f.required ? null : <span class="muted"> (optional)</span>}</label>
            {f.options ? (
              <select {...common} onChange={(e) => set(f.name, (e.currentTarget as HTMLSelectElement).value)}>
                {f.required ? null : <option value="">none</option>}
                {f.options.map((o) => <option key={o} value={o}>{o}</option>)}
              </select>
            ) : (
              <input {...common} type="text" autoComplete="off" spellcheck={false} placeholder={f.placeholder} onInput={(e) => set(f.name, (e.currentTarget as HTMLInputElement).value)} />
            )}
            {f.hint ? <p class="hint" id={`${fid}-hint`}>{f.hint}</p> : null}
            {errs ? <p class="field-error" id={`${fid}-error`} data-field={f.name}>{errs.join('; ')}</p> : null}
          </div>
        );
      })}
      <button type="submit" disabled={disabled || busy}>{busy ? 'Saving…' : props.submitLabel}</button>
    </form>
  );
}

/** list splits "a, b c" into ["a", "b", "c"]. */
export function list(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '');
}
