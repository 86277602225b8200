/**
 * The RabbitMQ side of the amqp target's tests: the operator's topology (a durable direct
 * exchange and a durable queue bound with a routing key; the broker declares nothing),
 * reading a queue empty, and a consumer that keeps consuming across RabbitMQ restarts.
 */
import { type ChannelModel, type ConsumeMessage, connect, type GetMessage, type RecoveringChannelModel } from 'amqplib';

/** TLS material for amqps:// (PEM texts). */
export interface AmqpSocketOptions {
  ca?: string[];
  cert?: string;
  key?: string;
}

export async function declareTopology(
  url: string,
  topology: { exchange: string; queue: string; routingKey: string },
  socket: AmqpSocketOptions = {},
): Promise<void> {
  const connection = await connect(url, socket);
  try {
    const channel = await connection.createChannel();
    await channel.assertExchange(topology.exchange, 'direct', { durable: true });
    await channel.assertQueue(topology.queue, { durable: true });
    await channel.bindQueue(topology.queue, topology.exchange, topology.routingKey);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Every message in `queue` now, taken off it (no-ack gets). */
export async function drainQueue(url: string, queue: string, socket: AmqpSocketOptions = {}): Promise<GetMessage[]> {
  const connection: ChannelModel = await connect(url, socket);
  try {
    const channel = await connection.createChannel();
    const messages: GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (!message) break;
      messages.push(message);
    }
    return messages;
  } finally {
    await connection.close();
  }
}

export interface QueueConsumer {
  /** Every message consumed, redeliveries after a restart included (acked after recording). */
  readonly received: ConsumeMessage[];
  close(): Promise<void>;
}

/** Consumes `queue` (manual acks) and resumes by itself when RabbitMQ comes back. */
export async function consumeQueue(url: string, queue: string, socket: AmqpSocketOptions = {}): Promise<QueueConsumer> {
  const received: ConsumeMessage[] = [];
  const model: RecoveringChannelModel = await connect(url, {
    ...socket,
    recovery: {
      initialDelay: 200,
      maxDelay: 2000,
      setup: async (connection: ChannelModel) => {
        const channel = await connection.createChannel();
        channel.on('error', () => {});
        await channel.prefetch(200);
        await channel.consume(queue, (message) => {
          if (!message) return;
          received.push(message);
          channel.ack(message);
        });
      },
    },
  });
  model.on('error', () => {});
  return { received, close: () => model.close().catch(() => {}) };
}
