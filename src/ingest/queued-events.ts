/** The `queued` status events of an ingest batch: one per message the enqueue script appended. */
import type { StatusEventInput } from '../events/status-event.js';
import type { EnqueueRequest, EnqueueResult } from './ingest.types.js';

export function queuedEvents(
  requests: readonly EnqueueRequest[],
  results: readonly EnqueueResult[],
): StatusEventInput[] {
  const events: StatusEventInput[] = [];
  requests.forEach((request, i) => {
    const result = results[i];
    if (!result?.ok || result.kind !== 'done') return;
    request.messages.forEach((message, m) => {
      // ≤ 0: refused by the rate limit or the quota, never appended.
      if ((result.positions[m] ?? 0) <= 0) return;
      events.push({
        type: 'queued',
        message_id: message.message_id,
        client: request.client_id,
        client_id: request.common_name,
        domain: request.domain,
        attempt: 0,
        at: message.queued_at,
      });
    });
  });
  return events;
}
