/**
 * The amqp-restart chaos scenario, short (the same code as `npm run chaos`): RabbitMQ, a
 * node of the test's own, killed and started again under load.
 */
import { describe, expect, it } from 'vitest';
import { amqpRestart } from '../../chaos/scenarios/amqp-restart.js';

describe('chaos (short): RabbitMQ restarted under load', () => {
  it('amqp-restart: nothing acknowledged lost, nothing unexpected, all of it in the queue', async () => {
    const result = await amqpRestart.run({ durationS: 6, outageS: 2, connections: 3 });
    console.log(
      `${result.name}: ${JSON.stringify({ ...result.counts, lostEntries: undefined })} ${result.notes.join('; ')}`,
    );
    expect(result.counts.acknowledged).toBeGreaterThan(0);
    expect(result.counts.lost).toBe(0);
    expect(result.counts.unexpected).toBe(0);
    expect(result.counts.delivery?.undelivered).toBe(0);
    expect(result.failures).toEqual([]);
  }, 300_000);
});
