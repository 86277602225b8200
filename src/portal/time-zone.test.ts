import { describe, expect, it } from 'vitest';
import { knownTimeZone, startOfDay } from './time-zone.js';

describe('startOfDay', () => {
  it.each([
    ['2026-12-09', '', '2026-12-09T00:00:00.000Z'],
    ['2026-12-09', 'UTC', '2026-12-09T00:00:00.000Z'],
    ['2026-12-09', 'Asia/Tokyo', '2026-12-08T15:00:00.000Z'],
    ['2026-12-09', 'America/New_York', '2026-12-09T05:00:00.000Z'],
    ['2026-07-09', 'America/New_York', '2026-07-09T04:00:00.000Z'],
    ['2026-12-09', 'Asia/Kolkata', '2026-12-08T18:30:00.000Z'],
    // The days of a DST change, on both sides of it.
    ['2026-03-29', 'Europe/Berlin', '2026-03-28T23:00:00.000Z'],
    ['2026-03-30', 'Europe/Berlin', '2026-03-29T22:00:00.000Z'],
    ['2026-10-25', 'Europe/Berlin', '2026-10-24T22:00:00.000Z'],
    ['2026-10-26', 'Europe/Berlin', '2026-10-25T23:00:00.000Z'],
    ['2026-12-09', 'Pacific/Kiritimati', '2026-12-08T10:00:00.000Z'],
  ])('%s in %s begins at %s', (day, zone, instant) => {
    expect(startOfDay(day, zone).toISOString()).toBe(instant);
  });

  it('reads an unknown zone as UTC', () => {
    expect(startOfDay('2026-12-09', 'Mars/Olympus').toISOString()).toBe('2026-12-09T00:00:00.000Z');
    expect(startOfDay('2026-12-09', '../../etc').toISOString()).toBe('2026-12-09T00:00:00.000Z');
  });
});

describe('knownTimeZone', () => {
  it('knows IANA names, not made-up or hostile ones', () => {
    expect(knownTimeZone('Europe/Berlin')).toBe(true);
    expect(knownTimeZone('UTC')).toBe(true);
    expect(knownTimeZone('Mars/Olympus')).toBe(false);
    expect(knownTimeZone('<script>')).toBe(false);
    expect(knownTimeZone('x'.repeat(65))).toBe(false);
  });
});
