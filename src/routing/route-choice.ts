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
}

/** What a route may look at: the request's headers (Node lower-cases their names) and the message. */
export interface RoutedMessage {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  sender_number: string;
  metadata?: Readonly<Record<string, unknown>> | undefined;
}

export function chooseRoute(domain: Pick<DomainConfig, 'routes'>, message: RoutedMessage): RouteChoice | null {
  const longest = longestPrefix(domain.routes, message.sender_number);
  for (const route of domain.routes)
    if (matches(route.match, message, longest)) return { route: route.name, target: route.target };
  return null;
}

function matches(match: RouteMatch, message: RoutedMessage, longest: string | undefined): boolean {
  if ('sender_prefix' in match) return match.sender_prefix === longest;
  if ('header' in match) {
    const value = message.headers[match.header.name];
    const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return values.some((v) => match.header.values.includes(v.trim()));
  }
  if ('metadata' in match) {
    const value = message.metadata?.[match.metadata.key];
    return ['string', 'number', 'boolean'].includes(typeof value) && String(value) === match.metadata.value;
  }
  return true;
}

/** The longest prefix of any prefix route that the number starts with. */
function longestPrefix(routes: readonly RouteConfig[], senderNumber: string): string | undefined {
  let best: string | undefined;
  for (const { match } of routes)
    if ('sender_prefix' in match && senderNumber.startsWith(match.sender_prefix))
      if (best === undefined || match.sender_prefix.length > best.length) best = match.sender_prefix;
  return best;
}

/**
 * A route's `{match}` for an amqp routing key, known from the route alone: the prefix of a
 * sender_prefix route, the value of a metadata route, the value of a header route that
 * allows one (a header route with several values: empty, since the value a request sent is
 * not recorded), empty for the default route.
 */
export function routeMatchValue(route: Pick<RouteConfig, 'match'>): string {
  const { match } = route;
  if ('sender_prefix' in match) return match.sender_prefix;
  if ('metadata' in match) return match.metadata.value;
  if ('header' in match) return match.header.values.length === 1 ? match.header.values[0]! : '';
  return '';
}
