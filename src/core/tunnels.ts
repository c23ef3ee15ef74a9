/**
 * Connections that left HTTP behind (upgraded to WebSocket) and live on after their request: Node's server no
 * longer tracks them, so the gateway does, to close them politely on shutdown (WebSocket close 1001, "going
 * away") rather than cut them. A hot reload leaves them alone: each finishes on the config it started with.
 */

/** Tunnel is one upgraded connection. */
export interface Tunnel {
  /** goingAway starts a polite close (the server is shutting down); the tunnel removes itself once closed. */
  goingAway(): void;
  /** destroy cuts the connection now (the shutdown deadline passed). */
  destroy(): void;
}

/** TunnelObserver counts connections as they open and close (the `websocket_connections` gauge). MUST NOT throw. */
export interface TunnelObserver {
  websocketOpened(): void;
  websocketClosed(): void;
}

/** Tunnels is the set of live upgraded connections of one gateway. */
export class Tunnels {
  readonly live: Set<Tunnel>;
  /** Who counts connections (the metrics), or null. */
  observer: TunnelObserver | null;
  #emptied: (() => void) | null;

  constructor() {
    this.live = new Set();
    this.observer = null;
    this.#emptied = null;
  }

  add(t: Tunnel): void {
    this.live.add(t);
    this.observer?.websocketOpened();
  }

  delete(t: Tunnel): void {
    if (this.live.delete(t)) this.observer?.websocketClosed();
    if (this.live.size === 0 && this.#emptied !== null) this.#emptied();
  }

  /** closeAll asks every tunnel to go away and waits for them up to `deadlineMs`, then cuts the rest. */
  async closeAll(deadlineMs: number): Promise<void> {
    if (this.live.size === 0) return;
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadlineMs);
      this.#emptied = () => { clearTimeout(timer); resolve(); };
    });
    for (const t of [...this.live]) t.goingAway();
    await done;
    for (const t of [...this.live]) t.destroy();
    for (let i = this.live.size; i > 0; i--) this.observer?.websocketClosed();
    this.live.clear();
  }
}
