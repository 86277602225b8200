/**
 * `mb ca init|show`: create the certificate authority (RSA-4096, self-signed, 10 years by
 * default) or show the one in use. The key is written 0600 and read only by the CA actor
 * and by this CLI when it signs.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { BrokerError } from '../errors.js';
import { fingerprintOfDer } from '../pki/fingerprint.js';
import type { CliContext } from './cli-context.js';
import { commandGroup, parsePositiveInt, printJson, readConfig, reportFailure, runCommand } from './cli-support.js';

export function registerCaCommands(program: Command): void {
  const ca = commandGroup(program, 'ca').description('The certificate authority itself');

  ca.command('init')
    .description(
      'Create the CA key (RSA-4096, 0600) and self-signed certificate, and an empty CRL; refuses to replace an existing CA unless --force',
    )
    .option(
      '--force',
      'replace an existing CA: every certificate it issued stops working; refused while a broker of the installation runs',
    )
    .option('--days <n>', 'validity in days (default: pki.ca_days, 3650)', parsePositiveInt)
    .option('--cn <name>', 'subject common name (default: Message Broker CA)')
    .option('--json', 'print the result as JSON')
    .action((options: { force?: boolean; days?: number; cn?: string; json?: boolean }, command: Command) =>
      runCommand(
        command,
        async (ctx) => {
          // The keys as for every command; the CA only when it stays (--force replaces it).
          await ctx.verifySecrets({ ca: options.force !== true });
          const { store, lifecycle } = await ctx.ca();
          if (options.force && existsSync(store.paths.caCert)) await refuseWhileBrokersRun(ctx, store.paths.caCert);
          const record = await ctx.secretRecord();
          const { caFingerprint, refuseNewCa } = await import('../keys/secret-identity.js');
          if (!options.force && !existsSync(store.paths.caCert))
            await refuseNewCa(
              record,
              store.dir,
              " (--force would replace the installation's CA: every client certificate stops working and every broker must get the new one)",
            );
          const { initCa } = await import('../ca/ca-lifecycle.js');
          const result = await initCa(lifecycle, {
            overwrite: options.force === true,
            commonName: options.cn,
            days: options.days,
            actor: ctx.actor,
          });
          const made = caFingerprint(readFileSync(store.paths.caCert, 'utf8'));
          // A replacement is the installation's CA from now on; brokers with the old one refuse to start.
          if (result.replaced) await record.replace(made);
          else await record.recordFirstUse([made]);
          if (options.json) return printJson({ ...result, dir: store.dir });
          process.stdout.write(
            [
              `${result.replaced ? 'replaced the' : 'created a'} certificate authority in ${store.dir}`,
              `  certificate  ${store.paths.caCert}`,
              `  key          ${store.paths.caKey} (0600: never copy it off this host)`,
              `  fingerprint  ${result.fingerprint}`,
              `  valid until  ${result.not_after}`,
              ...(result.replaced
                ? ['', 'every certificate of the old CA is now useless: re-issue them, and restart the brokers']
                : []),
              '',
            ].join('\n'),
          );
        },
        { verifySecrets: false },
      ),
    );

  ca.command('show')
    .description('Show the CA certificate in use (subject, fingerprint, validity); does not read the key')
    .option('--json', 'print the result as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const path = join(readConfig(command).pki.dir, 'ca.crt');
      try {
        let cert: X509Certificate;
        try {
          cert = new X509Certificate(readFileSync(path));
        } catch (error) {
          throw new BrokerError(
            'CA_NOT_INITIALIZED',
            `No readable CA certificate at ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); run \`mb ca init\``,
          );
        }
        const shown = {
          subject: cert.subject.replaceAll('\n', ', '),
          fingerprint: fingerprintOfDer(cert.raw),
          not_before: new Date(cert.validFrom).toISOString(),
          not_after: new Date(cert.validTo).toISOString(),
          path,
        };
        if (options.json) printJson(shown);
        else for (const [key, value] of Object.entries(shown)) process.stdout.write(`${key.padEnd(12)} ${value}\n`);
      } catch (error) {
        reportFailure(error);
      }
    });
}

/**
 * A broker keeps the CA it started with in memory: replaced under it, it refuses every
 * certificate the new CA signs and ignores the CRLs it signs, revocations included.
 */
async function refuseWhileBrokersRun(ctx: CliContext, caCertPath: string): Promise<void> {
  const { runningBrokers } = await import('./running-brokers.js');
  const running = await runningBrokers(ctx, readFileSync(caCertPath, 'utf8'));
  if (running.length === 0) return;
  throw new BrokerError(
    'CA_IN_USE',
    `Refusing to replace the CA in ${dirname(caCertPath)} while ${running.length} broker(s) use it: ${running.join(', ')}. ` +
      'Stop every broker first (a stopped broker’s heartbeat is gone within three heartbeat intervals), run mb ca init --force again, then start them',
  );
}
