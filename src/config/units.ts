/**
 * Durations and sizes as users write them (`250ms`, `5s`, `1m`; `64kb`, `1mb`), and their schema types.
 * Parsed once at config load; the runtime only ever sees milliseconds and bytes.
 */
import { Type, type TString } from '@sinclair/typebox';

/** HEADER_NAME_PATTERN is what a header name may be in config (an RFC 9110 token without `_`: such headers are dropped). */
export const HEADER_NAME_PATTERN = '^[A-Za-z0-9!#$%&\'*+.^`|~-]+$';

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const SIZE_RE = /^(\d+(?:\.\d+)?)(b|kb|mb|gb)$/i;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// Sizes are binary (1kb = 1024 bytes), as in nginx and Kong: `64kb` means 65,536 bytes.
const SIZE_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** parseDuration turns `5s` into 5000 (milliseconds). The schema has already checked the form. */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Math.round(Number(m[1]) * DURATION_MS[m[2]!]!);
}

/** parseSize turns `64kb` into 65536 (bytes). The schema has already checked the form. */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  return Math.round(Number(m[1]) * SIZE_BYTES[m[2]!.toLowerCase()]!);
}

/** Duration is the schema of a duration string; `description` should state what it bounds and the default. */
export function Duration(description: string, defaultValue?: string): TString {
  return Type.String({
    pattern: DURATION_RE.source,
    description,
    errorMessage: 'must be a duration with a unit: ms, s, m, h or d (e.g. 250ms, 5s, 1m)',
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}

/** Size is the schema of a size string (binary units: 1kb = 1024 bytes). */
export function Size(description: string, defaultValue?: string): TString {
  return Type.String({
    pattern: SIZE_RE.source.replace('(b|kb|mb|gb)', '([bB]|[kK][bB]|[mM][bB]|[gG][bB])'),
    description,
    errorMessage: 'must be a size with a unit: b, kb, mb or gb (e.g. 64kb, 1mb)',
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}
