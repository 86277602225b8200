import { describe, expect, it } from 'vitest';
import { notAnswering } from './embedded-services.js';

describe('a service that does not answer at start', () => {
  it('names the setting to fix and why the broker did not start one of its own', () => {
    expect(notAnswering('Redis', '127.0.0.1', 6380, { key: 'redis', embedded: 'never', binary: undefined })).toBe(
      'Redis at 127.0.0.1:6380 does not answer: start it there or point redis.url (MB_REDIS_URL) at one (not started by the broker: redis.embedded is never)',
    );
    expect(
      notAnswering('MySQL/MariaDB', 'db.internal', 3306, { key: 'database', embedded: 'auto', binary: undefined }),
    ).toMatch(
      /point database\.url \(MB_DATABASE_URL\) at one \(not started by the broker: an embedded one is started only for a URL on this host\)$/,
    );
    expect(
      notAnswering('MySQL/MariaDB', 'localhost', 3306, {
        key: 'database',
        embedded: 'auto',
        binary: 'mariadbd is not installed (apt-get install mariadb-server)',
      }),
    ).toMatch(/\(not started by the broker: mariadbd is not installed \(apt-get install mariadb-server\)\)$/);
  });
});
