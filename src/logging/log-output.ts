/**
 * Where every log line of the process goes: stdout and the rotating log file.
 *
 *   main thread pino ───────────────────────────┐
 *   actor pino → worker stdout ──pipe (main)──▶ LogOutput ──▶ stdout (fd 1)
 *                                               └──────────▶ logs/broker.log (rotated daily)
 *
 * One writer for the file (the main thread), so actors never race on it or on its
 * rotation. Lines arrive whole: pino writes one line per call and a worker's stdout
 * chunks are never split, only sometimes joined. A reload that changes `log.file` or
 * `log.retention_days` is applied here (`reconfigure`), for every thread at once.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { BrokerConfig } from '../config/config.js';
import { RotatingLogFile } from './rotating-log-file.js';

export interface LogFileOptions {
  /** Absent or empty: stdout only. */
  file?: string;
  retentionDays: number;
}

export class LogOutput extends Writable {
  private file: RotatingLogFile | undefined;
  /** pino's own stdout destination (sonic-boom): synchronous, and it waits out EAGAIN on a full pipe. */
  private readonly stdout = pino.destination({ dest: 1, sync: true });

  constructor(options: LogFileOptions) {
    super({ decodeStrings: false });
    this.file = openFile(options);
  }

  static fromConfig(config: Readonly<BrokerConfig>): LogOutput {
    return new LogOutput(fileOptionsOf(config.log));
  }

  /**
   * Takes a reloaded `log` section. A new path is opened before the old file is closed:
   * if it cannot be opened this throws and the old file stays in use. The switch happens
   * between two writes (both run on the main thread), so no line is lost or split.
   */
  reconfigure(log: Readonly<BrokerConfig['log']>): void {
    const options = fileOptionsOf(log);
    if ((options.file ?? '') === (this.file?.path ?? '')) {
      this.file?.setRetentionDays(options.retentionDays);
      return;
    }
    const next = openFile(options);
    const previous = this.file;
    this.file = next;
    previous?.close();
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

function fileOptionsOf(log: Readonly<BrokerConfig['log']>): LogFileOptions {
  return { ...(log.file ? { file: log.file } : {}), retentionDays: log.retention_days };
}

function openFile(options: LogFileOptions): RotatingLogFile | undefined {
  if (!options.file) return undefined;
  const file = new RotatingLogFile({ path: options.file, retentionDays: options.retentionDays });
  file.open();
  return file;
}
