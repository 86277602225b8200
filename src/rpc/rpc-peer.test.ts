import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../errors.js';
import { RpcPeer, type PortLike } from './rpc-peer.js';

type Calc = {
  'calc.add': { request: { a: number; b: number }; response: number };
  'calc.fail': { request: Record<string, never>; response: void };
  'calc.never': { request: Record<string, never>; response: void };
};

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

function pair(timeoutMs = 2000) {
  const channel = new MessageChannel();
  channels.push(channel);
  const caller = new RpcPeer<Calc>({ peerName: 'calc', timeoutMs }, channel.port1 as unknown as PortLike);
  const callee = new RpcPeer<Record<never, never>, Calc>({ peerName: 'caller' }, channel.port2 as unknown as PortLike);
  callee.handle({
    'calc.add': ({ a, b }) => a + b,
    'calc.fail': () => {
      throw new BrokerError('QUEUE_UNAVAILABLE', 'redis is down', { why: 'test' });
    },
    'calc.never': () => new Promise(() => {}),
  });
  return { caller, callee, channel };
}

describe('RpcPeer', () => {
  it('answers typed requests', async () => {
    const { caller } = pair();
    await expect(caller.call('calc.add', { a: 2, b: 3 })).resolves.toBe(5);
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => caller.call('calc.add', { a: i, b: 1 })));
    expect(many[99]).toBe(100);
  });

  it('carries errors across as data and rebuilds them with their code', async () => {
    const { caller } = pair();
    const error = await caller.call('calc.fail', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({
      code: 'QUEUE_UNAVAILABLE',
      status: 503,
      message: 'redis is down',
      details: { why: 'test' },
    });
  });

  it('times out a call nobody answers', async () => {
    const { caller } = pair(200);
    await expect(caller.call('calc.never', {})).rejects.toMatchObject({ code: 'ACTOR_TIMEOUT' });
  });

  it('fails pending and new calls at once when the far side goes away', async () => {
    const { caller, channel } = pair(10_000);
    const pending = caller.call('calc.never', {});
    channel.port2.close();
    await expect(pending).rejects.toMatchObject({ code: 'ACTOR_UNAVAILABLE' });
    const started = Date.now();
    await expect(caller.call('calc.add', { a: 1, b: 1 })).rejects.toMatchObject({ code: 'ACTOR_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(100);
  });

  it('works again once re-attached to a new port', async () => {
    const { caller } = pair();
    caller.detach('restarting');
    await expect(caller.call('calc.add', { a: 1, b: 1 })).rejects.toMatchObject({ code: 'ACTOR_UNAVAILABLE' });
    const fresh = new MessageChannel();
    channels.push(fresh);
    const callee = new RpcPeer<Record<never, never>, Calc>({ peerName: 'caller' }, fresh.port2 as unknown as PortLike);
    callee.handle({ 'calc.add': ({ a, b }) => a * b });
    caller.attach(fresh.port1 as unknown as PortLike);
    await expect(caller.call('calc.add', { a: 3, b: 4 })).resolves.toBe(12);
  });
});
