/**
 * Which route, and so which target, a message goes to — decided once, by the front, at
 * submit (where the request headers and the message are at hand), and recorded with the
 * message: a config reload changes routing for new messages only.
 *
 * The domain's routes are tried in the order of the file; the first that matches wins:
 *
 *   header          the request header (name compared case-insensitively) holds exactly one
 *                   of the route's allowed values (a repeated header: any of its values)
 *   sender_prefix   the sender number starts with the prefix AND no other prefix route of
 *                   the domain has a longer prefix the number starts with: among prefix
 *                   routes the longest prefix wins, wherever the routes stand; order then
 *                   decides only between that one route and the header, metadata and
 *                   default routes around it
 *   metadata        the message's metadata holds the key with that value (string, number or
 *                   boolean, compared as text)
 *   default ({})    every message
 *
 * No route matches → null: the front answers 422 NO_ROUTE and nothing is queued.
 */
import type { DomainConfig, RouteConfig, RouteMatch } from '../config/config.js';

export interface RouteChoice {
  route: string;
  target: string;
  /**
   * What the route matched, recorded with the message for an amqp routing key's `{match}`:
   * the header value sent, the sender prefix, the metadata value as text; '' for the default route.
   */
  match: string;
}

/** What a route may look at: the request's headers (Node lower-cases their names) and the message. */
export interface RoutedMessage {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  sender_number: string;
  metadata?: Readonly<Record<string, unknown>> | undefined;
}

export function chooseRoute(domain: Pick<DomainConfig, 'routes'>, message: RoutedMessage): RouteChoice | null {
  const longest = longestPrefix(domain.routes, message.sender_number);
  for (const route of domain.routes) {
    const match = matchOf(route.match, message, longest);
    if (match !== null) return { route: route.name, target: route.target, match };
  }
  return null;
}

/** The value the route matches in this message, or null when it does not match. */
function matchOf(match: RouteMatch, message: RoutedMessage, longest: string | undefined): string | null {
  if ('sender_prefix' in match) return match.sender_prefix === longest ? longest : null;
  if ('header' in match) {
    const value = message.headers[match.header.name];
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return values.map((v) => v.trim()).find((v) => match.header.values.includes(v)) ?? null;
  }
  if ('metadata' in match) {
    const value = message.metadata?.[match.metadata.key];
    return ['string', 'number', 'boolean'].includes(typeof value) && String(value) === match.metadata.value
      ? match.metadata.value
      : null;
  }
  return '';
}

/** The longest prefix of any prefix route that the number starts with. */
function longestPrefix(routes: readonly RouteConfig[], senderNumber: string): string | undefined {
  let best: string | undefined;
  for (const { match } of routes)
    if ('sender_prefix' in match && senderNumber.startsWith(match.sender_prefix))
      if (best === undefined || match.sender_prefix.length > best.length) best = match.sender_prefix;
  return best;
}
