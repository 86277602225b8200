/** Every chaos scenario, in the order `npm run chaos` runs them. */
import type { Scenario } from '../scenario-support.js';
import { actorCrash } from './actor-crash.js';
import { amqpRestart } from './amqp-restart.js';
import { aofDiskFull } from './aof-disk-full.js';
import { brokerKill } from './broker-kill.js';
import { keyMismatch } from './key-mismatch.js';
import { mariadbOutage } from './mariadb-outage.js';
import { mysqlLongOutage } from './mysql-long-outage.js';
import { redisEvicting } from './redis-evicting.js';
import { redisFull } from './redis-full.js';
import { redisBlackhole } from './redis-blackhole.js';
import { redisKill } from './redis-kill.js';
import { scaleOutKill } from './scale-out-kill.js';
import { sentinelFailover } from './sentinel-failover.js';
import { webhookFlap } from './webhook-flap.js';

export const SCENARIOS: readonly Scenario[] = [
  brokerKill,
  redisKill('always'),
  redisKill('everysec'),
  mariadbOutage,
  mysqlLongOutage,
  actorCrash,
  scaleOutKill,
  webhookFlap,
  amqpRestart,
  redisEvicting,
  redisFull,
  aofDiskFull,
  keyMismatch,
  redisBlackhole,
  sentinelFailover('kill'),
  sentinelFailover('freeze'),
];
