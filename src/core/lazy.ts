/**
 * Optional dependencies loaded only when a config uses them. jose (JWT), Ajv (validation) and bcryptjs
 * (Basic auth) together cost ~12 MB of resident memory, which a gateway with none of those features should
 * not pay (idle RSS is a budget: under 80 MB). A feature that needs one declares `preload`, the loader awaits
 * it before the synchronous compile (src/config/preload.ts), and the feature reads the module with get().
 */

/** LazyModule holds one dynamically imported module. */
export class LazyModule<T> {
  readonly name: string;
  private readonly loader: () => Promise<T>;
  private value: T | null;
  private loading: Promise<T> | null;

  constructor(name: string, loader: () => Promise<T>) {
    this.name = name;
    this.loader = loader;
    this.value = null;
    this.loading = null;
  }

  /** load imports the module once; later calls return the same promise. */
  load(): Promise<T> {
    this.loading ??= this.loader().then((m) => { this.value = m; return m; });
    return this.loading;
  }

  /** get returns the loaded module; it throws if nothing preloaded it (a bug: a feature forgot `preload`). */
  get(): T {
    if (this.value === null) throw new Error(`${this.name} was used before it was loaded: its feature must declare preload`);
    return this.value;
  }
}
