/**
 * The consumer directory of one config generation: every credential indexed in a Map, so finding the
 * owner of a key, subject or user name is one lookup and never a loop of comparisons.
 */
import type { Consumer, ConsumerDirectory } from './types.js';
import type { ConsumerConfig } from './schema.js';

/** ConsumerIndex implements ConsumerDirectory over the `consumers:` section. */
export class ConsumerIndex implements ConsumerDirectory {
  private readonly ids: Map<string, Consumer>;
  private readonly keys: Map<string, { consumer: Consumer; expiresAt: number | null }>;
  private readonly subjects: Map<string, Consumer>;
  private readonly users: Map<string, { consumer: Consumer; passwordHash: string }>;
  /** Client certificates by `fingerprint:<hex>`, `san:<value>` or `cn:<value>`. */
  private readonly certificates: Map<string, Consumer>;

  /** Builds the index; throws with a message naming the duplicate when two consumers share a credential. */
  constructor(config: Readonly<Record<string, ConsumerConfig>>) {
    this.ids = new Map();
    this.keys = new Map();
    this.subjects = new Map();
    this.users = new Map();
    this.certificates = new Map();
    for (const [id, c] of Object.entries(config)) {
      const consumer: Consumer = Object.freeze({ id, groups: Object.freeze([...c.groups]), plan: c.plan ?? null, metadata: Object.freeze({ ...c.metadata }) });
      this.ids.set(id, consumer);
      for (const k of c.keys) {
        const hash = (typeof k === 'string' ? k : k.hash).slice('sha256:'.length);
        const expires = typeof k === 'string' || k.expires === undefined ? null : Date.parse(k.expires);
        this.keys.set(hash, { consumer, expiresAt: expires });
      }
      if (c.jwt) this.subjects.set(`${c.jwt.issuer ?? ''}\n${c.jwt.subject}`, consumer);
      if (c.basic) this.users.set(c.basic.username, { consumer, passwordHash: c.basic.password });
      for (const ref of c.certificates ?? []) this.certificates.set(certificateKey(ref), consumer);
    }
  }

  byId(id: string): Consumer | undefined { return this.ids.get(id); }

  byKeyHash(sha256Hex: string): { consumer: Consumer; expiresAt: number | null } | undefined { return this.keys.get(sha256Hex); }

  byJwtSubject(issuer: string, subject: string): Consumer | undefined {
    return this.subjects.get(`${issuer}\n${subject}`) ?? this.subjects.get(`\n${subject}`);
  }

  byBasicUser(username: string): { consumer: Consumer; passwordHash: string } | undefined { return this.users.get(username); }

  /** basicUsers lists every Basic credential, for checks at load (hash formats, the cost of the dummy hash). */
  basicUsers(): Iterable<readonly [string, { consumer: Consumer; passwordHash: string }]> { return this.users.entries(); }

  byCertificate(field: 'fingerprint' | 'san' | 'cn', value: string): Consumer | undefined { return this.certificates.get(`${field}:${value}`); }
}

/** certificateKey is the index key of a `certificates` entry: `fingerprint:<lower-case hex>`, `san:...`, `cn:...`. */
export function certificateKey(ref: NonNullable<ConsumerConfig['certificates']>[number]): string {
  if (typeof ref === 'string') return `fingerprint:${ref.slice('sha256:'.length).replaceAll(':', '').toLowerCase()}`;
  return 'cn' in ref ? `cn:${ref.cn}` : `san:${ref.san}`;
}

/** duplicateCredentials lists [key path, message] problems for credentials claimed by two consumers. */
export function duplicateCredentials(config: Readonly<Record<string, ConsumerConfig>>): [(string | number)[], string][] {
  const out: [(string | number)[], string][] = [];
  const keys = new Map<string, string>();
  const subjects = new Map<string, string>();
  const users = new Map<string, string>();
  const certificates = new Map<string, string>();
  for (const [id, c] of Object.entries(config)) {
    c.keys.forEach((k, i) => {
      const hash = typeof k === 'string' ? k : k.hash;
      const owner = keys.get(hash);
      if (owner !== undefined) out.push([['consumers', id, 'keys', i], `this key hash already belongs to consumer "${owner}"`]);
      else keys.set(hash, id);
    });
    if (c.jwt) {
      const s = `${c.jwt.issuer ?? ''}\n${c.jwt.subject}`;
      const owner = subjects.get(s);
      if (owner !== undefined) out.push([['consumers', id, 'jwt', 'subject'], `subject "${c.jwt.subject}" already maps to consumer "${owner}"`]);
      else subjects.set(s, id);
    }
    if (c.basic) {
      const owner = users.get(c.basic.username);
      if (owner !== undefined) out.push([['consumers', id, 'basic', 'username'], `user name "${c.basic.username}" already belongs to consumer "${owner}"`]);
      else users.set(c.basic.username, id);
    }
    (c.certificates ?? []).forEach((ref, i) => {
      const key = certificateKey(ref);
      const owner = certificates.get(key);
      if (owner !== undefined) out.push([['consumers', id, 'certificates', i], `this certificate already identifies consumer "${owner}"`]);
      else certificates.set(key, id);
    });
  }
  return out;
}
