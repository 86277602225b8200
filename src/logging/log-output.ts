/**
 * Where every log line of the process goes: stdout and the rotating log file.
 *
 *   main thread pino ───────────────────────────┐
 *   actor pino → worker stdout ──pipe (main)──▶ LogOutput ──▶ stdout (fd 1)
 *                                               └──────────▶ logs/broker.log (rotated daily)
 *
 * One writer for the file (the main thread), so actors never race on it or on its
 * rotation. Lines arrive whole: pino writes one line per call and a worker's stdout
 * chunks are never split, only sometimes joined.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { BrokerConfig } from '../config/config.js';
import { RotatingLogFile } from './rotating-log-file.js';

export class LogOutput extends Writable {
  private readonly file: RotatingLogFile | undefined;
  /** pino's own stdout destination (sonic-boom): synchronous, and it waits out EAGAIN on a full pipe. */
  private readonly stdout = pino.destination({ dest: 1, sync: true });

  constructor(options: { file?: string; retentionDays: number }) {
    super({ decodeStrings: false });
    this.file = options.file
      ? new RotatingLogFile({ path: options.file, retentionDays: options.retentionDays })
      : undefined;
    this.file?.open();
  }

  static fromConfig(config: Readonly<BrokerConfig>): LogOutput {
    return new LogOutput({
      ...(config.log.file ? { file: config.log.file } : {}),
      retentionDays: config.log.retention_days,
    });
  }

  get filePath(): string | undefined {
    return this.file?.path;
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.stdout.write(text);
    this.file?.write(text);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.file?.close();
    this.stdout.flushSync();
    callback();
  }
}
