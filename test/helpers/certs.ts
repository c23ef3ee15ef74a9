/**
 * Test certificates made at test time with the `openssl` CLI: a throwaway CA and leaf certificates it
 * signs (server and client), written to a temp folder. No private key is committed; each test run has its
 * own. EC P-256 keys keep generation fast (a few ms each).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, X509Certificate } from 'node:crypto';

/** CertFiles are the paths of a certificate and its key, with the PEM text and SHA-256 fingerprint. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Lower-case hex, no colons. */
  readonly fingerprint: string;
}

/** hasOpenssl says whether the `openssl` CLI is there (tests skip with a message otherwise). */
export function hasOpenssl(): boolean {
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** CertMaker makes a CA and the certificates it signs, in one temp folder. */
export class CertMaker {
  readonly dir: string;
  readonly ca: CertFiles;
  private n: number;

  constructor(caName = 'Gatehouse Test CA', dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-certs-'));
    this.n = 0;
    const base = join(this.dir, slug(caName));
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.pem`,
      '-days', '2', '-subj', `/CN=${caName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    this.ca = files(`${base}.pem`, `${base}.key`);
  }

  /**
   * leaf makes a certificate signed by this CA: `cn` as the subject, `dns`/`ip`/`uri` as subjectAltNames,
   * usable for servers and clients. `file` names it (default: the CN and a counter).
   */
  leaf(cn: string, opts: { dns?: string[]; ip?: string[]; uri?: string[]; file?: string } = {}): CertFiles {
    const base = join(this.dir, opts.file ?? `${slug(cn)}-${++this.n}`);
    const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.ip ?? []).map((i) => `IP:${i}`), ...(opts.uri ?? []).map((u) => `URI:${u}`)];
    writeFileSync(`${base}.ext`, `${san.length > 0 ? `subjectAltName=${san.join(',')}\n` : ''}extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', this.ca.cert, '-CAkey', this.ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`]);
    return files(`${base}.pem`, `${base}.key`);
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(cert: string, key: string): CertFiles {
  const certPem = readFileSync(cert, 'utf8');
  return { cert, key, certPem, keyPem: readFileSync(key, 'utf8'), fingerprint: new X509Certificate(certPem).fingerprint256.replaceAll(':', '').toLowerCase() };
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}
