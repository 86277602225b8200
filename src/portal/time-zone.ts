/**
 * The messages list's date filters are days in the reader's time zone (the browser's IANA
 * name, sent by the form): the list shows local times, and a day read as UTC left out the
 * first or last hours of the reader's own day (Tokyo's 00:00–09:00 were "yesterday").
 * Without a zone (no script, an old link) the days are UTC days, and the page says so.
 */

const ZONE_NAME = /^[A-Za-z0-9_+\-/]{1,64}$/;
const formats = new Map<string, Intl.DateTimeFormat>();

/** The zone's formatter, or undefined when this Node does not know the zone. */
function formatOf(zone: string): Intl.DateTimeFormat | undefined {
  const known = formats.get(zone);
  if (known) return known;
  if (!ZONE_NAME.test(zone)) return undefined;
  try {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    // Bounded by the zones ICU knows (a few hundred names and aliases).
    formats.set(zone, format);
    return format;
  } catch {
    return undefined;
  }
}

/** Whether `zone` is an IANA time zone name this Node knows. */
export function knownTimeZone(zone: string): boolean {
  return formatOf(zone) !== undefined;
}

/** How far `zone`'s wall clock is ahead of UTC at `instant`, in ms. */
function offsetAt(instant: number, format: Intl.DateTimeFormat): number {
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(instant)) part[type] = Number(value);
  const wall = Date.UTC(
    part['year']!,
    part['month']! - 1,
    part['day']!,
    part['hour']!,
    part['minute']!,
    part['second']!,
  );
  return wall - (instant - (instant % 1000));
}

/**
 * The instant `day` (yyyy-mm-dd) begins in `zone` ('' or unknown: UTC). A day whose
 * midnight a clock change skips begins when the clock starts it.
 */
export function startOfDay(day: string, zone: string): Date {
  const utcMidnight = Date.parse(`${day}T00:00:00Z`);
  const format = zone === '' ? undefined : formatOf(zone);
  if (!format) return new Date(utcMidnight);
  const guess = utcMidnight - offsetAt(utcMidnight, format);
  // The offset at local midnight may differ from the one at UTC midnight (a DST change between).
  const offset = offsetAt(guess, format);
  return new Date(utcMidnight - offset);
}
