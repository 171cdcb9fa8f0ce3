/**
 * Schema errors in words for people: "action must be one of device/reboot, …", "devices[0].deviceId
 * is missing", instead of the validator's "/action must NOT be valid; … must match a schema in
 * anyOf". The validator's own path of each error stays available to tools (ValidationError.paths,
 * the HTTP API's exception.properties). Parts of a path are the sender's keys: each is quoted as an
 * escaped excerpt, never whole.
 */
import type { ErrorObject } from 'ajv';
import { excerpt } from './bounds';
import { ACTIONS } from './messages';

/** what a field must be, where the schema's own words would be a combinator's ("must match a schema in anyOf") */
const FIELD_RULES: Record<string, string> = {
  '/action': `must be one of ${ACTIONS.join(', ')}, or a custom action written bundleId/actionId (letters, digits and _ . - on each side of the slash)`,
};

/** combinators only say that their branches failed: the branches (or FIELD_RULES) say what is wrong */
const COMBINATORS = new Set(['anyOf', 'oneOf', 'not', 'if', 'allOf']);

/** "/devices/0/deviceId" → "devices[0].deviceId"; the root is "the body" */
export function fieldName(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  if (!parts.length) return 'the body';
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : `${out ? '.' : ''}${excerpt(p, 40)}`;
  return excerpt(out, 120);
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a text',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

/** a pattern such as ^[A-Za-z0-9_.-]{1,36}$ in words */
function patternWords(pattern: string): string {
  const m = /^\^\[([^\]]+)\]\{(\d+),(\d+)\}\$$/.exec(pattern);
  if (!m) return 'does not have the expected form';
  const chars: string[] = [];
  let rest = m[1];
  if (rest.includes('A-Z') || rest.includes('a-z')) chars.push('letters');
  if (rest.includes('0-9')) chars.push('digits');
  rest = rest.replace(/A-Z|a-z|0-9/g, '').replace(/\\/g, '');
  if (rest) chars.push(rest.split('').join(' '));
  return `must be ${m[2]} to ${m[3]} characters: ${chars.join(', ')}`;
}

/** One schema error in words. */
export function errorText(e: ErrorObject): string {
  const field = fieldName(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${fieldName(e.instancePath, String(p.missingProperty))} is missing`;
    case 'additionalProperties':
      return `${field} has a field it does not take: "${excerpt(p.additionalProperty, 40)}"`;
    case 'type':
      return `${field} must be ${String(p.type)
        .split(',')
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(' or ')}`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `${field} must be ${JSON.stringify(p.allowedValue)}`;
    case 'minItems':
      return Number(p.limit) === 1 ? `${field} must list at least one item` : `${field} must list at least ${String(p.limit)} items`;
    case 'maxItems':
      return `${field} must list at most ${String(p.limit)} items`;
    case 'minLength':
      return Number(p.limit) === 1 ? `${field} must not be empty` : `${field} must be at least ${String(p.limit)} characters long`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters long`;
    case 'minimum':
      return `${field} must be at least ${String(p.limit)}`;
    case 'exclusiveMinimum':
      return `${field} must be more than ${String(p.limit)}`;
    case 'maximum':
      return `${field} must be at most ${String(p.limit)}`;
    case 'exclusiveMaximum':
      return `${field} must be less than ${String(p.limit)}`;
    case 'pattern':
      return `${field} ${patternWords(String(p.pattern))}`;
    case 'uniqueItems':
      return `${field} lists the same item twice (items ${String(p.j)} and ${String(p.i)})`;
    case 'minProperties':
      return `${field} must have at least ${String(p.limit)} field(s)`;
    case 'maxProperties':
      return `${field} must have at most ${String(p.limit)} fields`;
    default:
      return `${field} ${e.message ?? 'is not valid'}`;
  }
}

/**
 * The errors in words, at most `max` fields, one text per field: the field's rule when FIELD_RULES
 * has one, else its first error that is not a combinator's.
 */
export function errorsText(errors: ErrorObject[], max = 3): string {
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    const at = e.keyword === 'required' ? `${e.instancePath}/${String((e.params as { missingProperty?: string }).missingProperty)}` : e.instancePath;
    if (!byPath.has(at)) byPath.set(at, []);
    byPath.get(at)!.push(e);
  }
  const texts: string[] = [];
  for (const [path, list] of byPath) {
    if (texts.length >= max) break;
    const rule = list[0].keyword === 'required' ? undefined : FIELD_RULES[path];
    if (rule) texts.push(`${fieldName(path)} ${rule}`);
    else texts.push(errorText(list.find((e) => !COMBINATORS.has(e.keyword)) ?? list[0]));
  }
  return texts.join('; ');
}

/** The validator's path of each error (JSON pointers, "" for the body itself), for tools. */
export function errorPaths(errors: ErrorObject[], max = 10): string[] {
  const paths = errors.map((e) =>
    e.keyword === 'required' ? `${e.instancePath}/${String((e.params as { missingProperty?: string }).missingProperty)}` : e.instancePath,
  );
  return [...new Set(paths)].slice(0, max).map((p) => excerpt(p, 120));
}
