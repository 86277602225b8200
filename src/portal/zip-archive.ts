/**
 * A minimal ZIP writer (stored entries, no compression) for the certificate hand-off:
 * a few small PEM files that every OS can open without tools. PKZIP APPNOTE 6.3.10:
 * local file header + data per entry, then the central directory and its end record.
 */
import { crc32 } from 'node:zlib';

export interface ZipEntry {
  name: string;
  data: string | Buffer;
  /** Unix permission bits (e.g. 0o600 for a private key). */
  mode?: number;
}

const VERSION_MADE_BY_UNIX = (3 << 8) | 20;
const VERSION_NEEDED = 20;
const UTF8_NAMES = 1 << 11;

export function zipArchive(entries: readonly ZipEntry[], at = new Date()): Buffer {
  const { time, date } = dosDateTime(at);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data;
    const fields = { crc: crc32(data), size: data.length, nameLength: name.length, time, date };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeEntryFields(local, 4, fields);
    locals.push(local, name, data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
    writeEntryFields(central, 6, fields);
    // Extra field, comment, disk number, internal attributes: none.
    central.writeUInt32LE((0o100000 | (entry.mode ?? 0o644)) * 0x10000, 38); // regular file + mode, upper 16 bits
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * The run of fields a local header (at 4) and a central directory entry (at 6) share:
 * version needed, flags, method (stored), time, date, CRC-32, both sizes, name length.
 */
function writeEntryFields(
  buffer: Buffer,
  at: number,
  f: { crc: number; size: number; nameLength: number; time: number; date: number },
): void {
  buffer.writeUInt16LE(VERSION_NEEDED, at);
  buffer.writeUInt16LE(UTF8_NAMES, at + 2);
  buffer.writeUInt16LE(0, at + 4);
  buffer.writeUInt16LE(f.time, at + 6);
  buffer.writeUInt16LE(f.date, at + 8);
  buffer.writeUInt32LE(f.crc, at + 10);
  buffer.writeUInt32LE(f.size, at + 14);
  buffer.writeUInt32LE(f.size, at + 18);
  buffer.writeUInt16LE(f.nameLength, at + 22);
}

/** MS-DOS time and date fields (local wall time by convention; UTC here, 2-second steps). */
function dosDateTime(at: Date): { time: number; date: number } {
  const year = Math.max(at.getUTCFullYear(), 1980);
  return {
    time: (at.getUTCHours() << 11) | (at.getUTCMinutes() << 5) | Math.floor(at.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((at.getUTCMonth() + 1) << 5) | at.getUTCDate(),
  };
}
