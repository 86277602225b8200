/** Every chaos scenario, in the order `npm run chaos` runs them. */
import type { Scenario } from '../scenario-support.js';
import { actorCrash } from './actor-crash.js';
import { brokerKill } from './broker-kill.js';
import { mariadbOutage } from './mariadb-outage.js';
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
  actorCrash,
  scaleOutKill,
  webhookFlap,
  redisBlackhole,
  sentinelFailover('kill'),
  sentinelFailover('freeze'),
];
