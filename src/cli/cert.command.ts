/**
 * `mb cert verify FILE`: would the broker accept this certificate? Chain (issued by our
 * CA, signature), validity window, client-auth usage, the CRL, and the registration in
 * the database — the questions the handshake and the identity lookup ask. Exit 0 only
 * when every answer is yes.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { BrokerError } from '../errors.js';
import { commandGroup, printJson, runCommand } from './cli-support.js';

export function registerCertCommands(program: Command): void {
  const cert = commandGroup(program, 'cert').description('Inspect certificates');

  cert
    .command('verify <file>')
    .description(
      'Check a client certificate (PEM) against the CA, the CRL and the registry; exits 1 when it would be refused',
    )
    .option('--json', 'print the verdict as JSON')
    .action((file: string, options: { json?: boolean }, command: Command) =>
      runCommand(command, async (ctx) => {
        const { authority } = await ctx.ca();
        let pem: string;
        try {
          pem = readFileSync(file, 'utf8');
        } catch (error) {
          throw new BrokerError(
            'BAD_REQUEST',
            `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
        const { verdict, registration, problems } = await authority.verify(pem);
        const valid = problems.length === 0;
        if (options.json) {
          printJson({
            ...verdict,
            valid,
            problems,
            notBefore: verdict.notBefore.toISOString(),
            notAfter: verdict.notAfter.toISOString(),
            registration,
          });
        } else {
          const has = (p: string) => problems.includes(p);
          const daysLeft = Math.floor((verdict.notAfter.getTime() - Date.now()) / 86_400_000);
          const lines = [
            `certificate   ${verdict.commonName ?? verdict.subject}  serial ${verdict.serialHex}`,
            `fingerprint   ${verdict.fingerprint256}`,
            `chain         ${has('not issued by this CA') ? 'NOT issued by this CA' : 'issued by this CA'}`,
            `validity      ${verdict.notBefore.toISOString()} → ${verdict.notAfter.toISOString()} (${has('expired') ? 'EXPIRED' : has('not yet valid') ? 'NOT YET VALID' : `${daysLeft} days left`})`,
            `usage         ${has('not for client authentication') ? 'NOT for client authentication' : 'client authentication'}`,
            `revocation    ${has('revoked') ? 'REVOKED' : has('crl expired') || has('crl not issued by this CA') ? 'unknown (CRL unusable)' : 'not revoked'}`,
            `registration  ${registration ? `${registration.status} (client ${registration.client}, domain ${registration.domain})` : 'NOT registered'}`,
            valid ? 'VALID' : `NOT VALID: ${problems.join(', ')}`,
          ];
          process.stdout.write(`${lines.join('\n')}\n`);
        }
        return valid ? 0 : 1;
      }),
    );
}
