/**
 * Reading urlencoded form bodies and query strings. Values arrive as strings, arrays
 * (a repeated field) or not at all; each reader returns one bounded, trimmed string so a
 * crafted form cannot smuggle an array or a megabyte into a query.
 */
import { BrokerError } from '../errors.js';
import { isEmailAddress } from '../util/email-address.js';

export type FormErrors = Record<string, string>;

export function text(source: unknown, name: string, max = 256): string {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  if (typeof value !== 'string') return '';
  return value.trim().slice(0, max);
}

/** Like `text`, but without trimming (passwords may start or end with a space). */
export function secret(source: unknown, name: string, max = 256): string {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value.slice(0, max + 1) : '';
}

/** One of `allowed`, or undefined for an empty value; anything else is a 400. */
export function choice<T extends string>(source: unknown, name: string, allowed: readonly T[]): T | undefined {
  const value = text(source, name);
  if (value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new BrokerError('BAD_REQUEST', `${name} is not one of the offered values`);
  return value as T;
}

/** A positive integer id from a route parameter; anything else is answered as not found. */
export function idParam(params: unknown, name = 'id'): number {
  const value = (params as Record<string, unknown>)[name];
  const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new BrokerError('NOT_FOUND');
  return n;
}

/** The shared rule (src/util/email-address.ts): no spaces, quotes, control or bidi characters. */
export function emailProblem(email: string): string | undefined {
  return isEmailAddress(email) ? undefined : 'Enter an email address like name@example.com';
}

/** `next` after sign-in: only a portal path, never another site (`//evil`) or the sign-in page itself. */
export function safeNext(value: string, prefix: string): string | undefined {
  if (!value.startsWith(`${prefix}/`) || value.startsWith(`${prefix}/login`) || value.length > 512) return undefined;
  return /^[A-Za-z0-9/_\-?=&%.,:+~]*$/.test(value) && !value.includes('//') ? value : undefined;
}

/** A form came back with problems: 422 and the same page again, with the messages next to the fields. */
export function hasErrors(errors: FormErrors): boolean {
  return Object.keys(errors).length > 0;
}
