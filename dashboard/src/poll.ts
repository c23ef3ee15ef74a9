/**
 * usePoll keeps one admin API document fresh: fetched at once, then every `everyMs` (0: only when `key`
 * changes), skipping ticks while the tab is hidden. The last good data stays on screen through a failed
 * fetch; the failure is reported beside it.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';

/** Polled is what usePoll returns: the last data, the last error (null once a fetch succeeds again). */
export interface Polled<T> {
  data: T | null;
  error: ApiError | null;
}

/** usePoll fetches `path` now and every `everyMs`, and again whenever `key` changes. */
export function usePoll<T>(path: string, everyMs: number, key: unknown = null): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: null, error: null });
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let loaded = false;
    const tick = async (): Promise<void> => {
      if (!document.hidden || !loaded) {
        try {
          const data = await api<T>(path);
          loaded = true;
          if (!stopped) setState({ data, error: null });
        } catch (err) {
          if (!stopped) setState((s) => ({ data: s.data, error: err instanceof ApiError ? err : new ApiError(0, String(err), null, []) }));
        }
      }
      if (!stopped && everyMs > 0) timer = setTimeout(() => { void tick(); }, everyMs);
    };
    void tick();
    return () => { stopped = true; clearTimeout(timer); };
  }, [path, everyMs, key]);
  return state;
}
