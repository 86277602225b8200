/**
 * pino, one logger per thread, JSON to stdout. Log lines carry ids (message_id,
 * client_id, domain, tracking_id, actor), never a message body, a phone number, a key or
 * a password: redaction below is the safety net, not the plan.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  'message_body',
  '*.message_body',
  'sender_number',
  '*.sender_number',
  'password',
  '*.password',
  'key',
  '*.key',
  'keyPem',
  '*.keyPem',
  'token',
  '*.token',
  'req.headers.cookie',
  'req.headers.authorization',
];

export function createLogger(
  level: string,
  bindings: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
