/**
 * `gatehouse keys`: make and hash credentials for the config, which stores only hashes.
 *   keys new [--prefix gh_live_] [--json]   a fresh API key (shown once) and its `sha256:` hash
 *   keys hash KEY | -                       the hash of an existing key (`-`: read it from stdin)
 *   keys hash-password                      an scrypt hash of a password read from stdin, for `basic.password`
 * Keys and passwords are never taken from the command line where avoidable (shell history, `ps`): `hash -`
 * and `hash-password` read stdin, and on a terminal the password is not echoed.
 */
import { DEFAULT_KEY_PREFIX, hashApiKey, isGatehouseKey, newApiKey, validKeyPrefix } from '../identity/api-key/key-format.js';
import { hashPassword } from '../identity/basic/password-hash.js';

/** KEYS_HELP is the usage of `gatehouse keys`. */
export const KEYS_HELP = `Usage:
  gatehouse keys new [--prefix gh_live_] [--json]  print a fresh API key (once) and its hash for consumers.<id>.keys
  gatehouse keys hash KEY                           print the sha256: hash of a key (KEY "-": read it from stdin)
  gatehouse keys hash-password                      read a password from stdin, print an scrypt hash for basic.password
Docs: docs/api-keys.md, docs/basic-auth.md`;

/** KeysOptions are the flags `gatehouse` parsed that `keys` uses. */
export interface KeysOptions {
  readonly prefix?: string | undefined;
  readonly json?: boolean | undefined;
}

/** runKeys runs `gatehouse keys <args>`; resolves to an exit code (0 done, 1 failed, 2 usage). */
export async function runKeys(args: readonly string[], opts: KeysOptions = {}): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'new': {
      if (rest.length > 0) return usage(`unexpected argument "${rest[0]}"`);
      const prefix = opts.prefix ?? DEFAULT_KEY_PREFIX;
      if (!validKeyPrefix(prefix)) return fail(`invalid --prefix "${prefix}": use 2 to 24 characters of a-z, 0-9 and _, starting with a letter and ending with _ (e.g. gh_live_, acme_test_)`);
      const key = newApiKey(prefix);
      const hash = hashApiKey(key);
      if (opts.json === true) process.stdout.write(`${JSON.stringify({ key, hash })}\n`);
      else {
        process.stdout.write(`key:  ${key}\nhash: ${hash}\n`);
        process.stderr.write('Give the key to the consumer now: it is not stored anywhere and cannot be shown again.\nPut the hash in consumers.<id>.keys.\n');
      }
      return 0;
    }
    case 'hash': {
      if (rest.length !== 1) return usage('give one key, or - to read it from stdin');
      const key = rest[0] === '-' ? stripNewline(await readStdin()) : rest[0]!;
      if (key === '') return fail('the key is empty');
      if (!isGatehouseKey(key)) process.stderr.write('note: this is not a key made by `gatehouse keys new` (prefix, 49 base62 characters, checksum); routes accept it only from an apiKey method with `format: any`\n');
      process.stdout.write(`${hashApiKey(key)}\n`);
      return 0;
    }
    case 'hash-password': {
      if (rest.length > 0) return usage('the password is read from stdin, not from the command line');
      const password = await readPassword();
      if (password === '') return fail('the password is empty');
      process.stdout.write(`${await hashPassword(password)}\n`);
      return 0;
    }
    case undefined:
      return usage('');
    default:
      return usage(`unknown keys command "${sub}"`);
  }
}

function usage(message: string): number {
  process.stderr.write(`${message === '' ? '' : `gatehouse keys: ${message}\n\n`}${KEYS_HELP}\n`);
  return 2;
}

function fail(message: string): number {
  process.stderr.write(`gatehouse keys: ${message}\n`);
  return 1;
}

/** stripNewline drops one trailing line end (what `echo` and a terminal add), nothing else. */
function stripNewline(s: string): string {
  return s.endsWith('\r\n') ? s.slice(0, -2) : s.endsWith('\n') ? s.slice(0, -1) : s;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** readPassword reads a line from a terminal without echo, or all of stdin when it is a pipe. */
async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return stripNewline(await readStdin());
  process.stderr.write('Password: ');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  try {
    let line = '';
    for await (const chunk of stdin) {
      for (const ch of chunk as string) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return line;
        if (ch === '\u0003') { process.stderr.write('\n'); process.exit(130); }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else line += ch;
      }
    }
    return line;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
