/**
 * Page rendering: every page gets the signed-in user, a CSRF token for its forms, the
 * notice named in `?notice=` (from a fixed list: nothing from the URL is echoed as text),
 * and the formatting helpers below. Eta escapes every `<%= %>`; templates never use the
 * raw form except for the layout's body, which is itself rendered output.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ownValue } from '../util/own-value.js';
import { VERSION } from '../version.js';
import { isAdmin } from './tenant-scope.js';
import { OnceForms } from './once-forms.js';

/** Where the portal lives on the front. */
export const PORTAL_PREFIX = '/portal';

/** One-line confirmations after a POST → redirect. */
const NOTICES: Record<string, string> = {
  'signed-out': 'You are signed out.',
  'password-changed': 'Your password is changed. Other sessions of yours have ended.',
  'user-created': 'The user is created with the password you typed; pass it on over a channel you trust.',
  'user-updated': 'The user is updated.',
  'user-disabled': 'The user is disabled; their sessions have ended.',
  'user-enabled': 'The user is enabled.',
  'user-unlocked': 'The user is unlocked.',
  'client-disabled': 'The client is disabled; its connections were closed.',
  'client-enabled': 'The client is enabled.',
  'callback-saved': 'The status callback URL is saved; every broker uses it within seconds.',
  'certificate-revoked': 'The certificate is revoked. The client can no longer connect with it.',
  'retry-scheduled': 'One more delivery attempt is scheduled.',
  // A domain with several webhook targets redrives the one whose tab is open: "of the list", not "of the domain".
  'redrive-scheduled': 'Every dead letter of the list is queued again, with a fresh set of attempts.',
  'redrive-empty': 'There was nothing to redrive.',
  'config-reloaded': 'The config is reloaded; the audit log lists what changed.',
  'config-unchanged': 'The config file has no changes to apply.',
  'config-restart-needed':
    'The config is reloaded, but some changes (listed in the audit log) take effect only after a restart.',
  'session-expired': 'Your session has ended. Sign in again.',
  'account-locked': 'Too many wrong passwords: the account is locked for a while, and its sessions have ended.',
};

export interface PageData {
  title: string;
  /** Which navigation entry is active. */
  nav?: string;
  [key: string]: unknown;
}

export function noticeOf(request: FastifyRequest): string | undefined {
  const key = (request.query as Record<string, unknown> | undefined)?.['notice'];
  return typeof key === 'string' ? ownValue(NOTICES, key) : undefined;
}

export function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: PageData,
): FastifyReply {
  const user = request.portal?.user;
  return reply.type('text/html; charset=utf-8').view(template, {
    ...data,
    me: user
      ? {
          id: user.id,
          email: user.email,
          role: user.role,
          domain: user.domain,
          admin: isAdmin(user),
          superadmin: user.role === 'superadmin',
        }
      : undefined,
    csrf: reply.generateCsrf(),
    // The id of this page's one-time forms (once-forms.ts).
    once: OnceForms.newId(),
    notice: noticeOf(request),
    version: VERSION,
  });
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Helpers every template sees as `it.h`. */
export const viewHelpers = {
  /** `2025-03-01 14:05:09` (UTC; the browser script shows it in local time). */
  utc(date: Date | null | undefined): string {
    if (!date) return '';
    return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  },
  iso(date: Date | null | undefined): string {
    return date ? date.toISOString() : '';
  },
  /** `yyyy-mm-dd` for date inputs. */
  day(date: Date | null | undefined): string {
    return date ? date.toISOString().slice(0, 10) : '';
  },
  statusClass(status: string): string {
    return ownValue(STATUS_CLASSES, status) ?? 'text-bg-secondary';
  },
  daysLeft(date: Date): number {
    return Math.floor((date.getTime() - Date.now()) / 86_400_000);
  },
  number(n: number | undefined): string {
    return n === undefined ? '–' : n.toLocaleString('en-US');
  },
  /** Builds a query string from the non-empty values (values are URL-encoded; Eta escapes the result for HTML). */
  query(values: Record<string, string | number | undefined | null>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(values))
      if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
    const text = params.toString();
    return text ? `?${text}` : '';
  },
  /**
   * The first `max` UTF-16 units of a text and "…" when it is longer (a message body in the
   * list). Never cuts a surrogate pair in two: half an emoji is sent as "�".
   */
  preview(value: string, max: number): string {
    if (value.length <= max) return value;
    const last = value.charCodeAt(max - 1);
    return `${value.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max)}…`;
  },
  json(value: unknown): string {
    return value === null || value === undefined ? '' : JSON.stringify(value);
  },
};

const STATUS_CLASSES: Record<string, string> = {
  queued: 'text-bg-info',
  delivered: 'text-bg-success',
  failed: 'text-bg-danger',
  active: 'text-bg-success',
  revoked: 'text-bg-danger',
  expired: 'text-bg-secondary',
  disabled: 'text-bg-secondary',
  up: 'text-bg-success',
  degraded: 'text-bg-warning',
  down: 'text-bg-danger',
};
