/**
 * `mb client issue|renew|revoke|disable|enable|callback|list`: onboard a client, rotate its
 * certificate, cut it off, suspend it, see who expires when. Revocation and disable/enable
 * are announced to every running broker that shares the Redis (no restart); when Redis
 * cannot be reached the change still stands in the database (and crl.pem), and the command
 * exits 2 so scripts notice.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import type { IssuedBundle, RenewedBundle } from '../ca/ca.types.js';
import { assertClientName } from '../ca/client-name.js';
import { BrokerError } from '../errors.js';
import { callbackHost, callbackUrlProblem } from '../events/callback-url.js';
import { REVOCATION_REASONS, type RevocationReason } from '../pki/pki.types.js';
import {
  commandGroup,
  ensurePrivateDir,
  EXIT_NOT_ANNOUNCED,
  parsePositiveInt,
  printJson,
  printTable,
  removeIfEmpty,
  requireConfiguredDomain,
  resolveClient,
  runCommand,
  writeFileWithMode,
} from './cli-support.js';

interface IssueOptions {
  domain?: string;
  days?: number;
  out?: string;
  p12?: boolean;
  json?: boolean;
}

export function registerClientCommands(program: Command): void {
  const client = commandGroup(program, 'client').description(
    'Client certificates: issue, renew, revoke, list; disable or enable a client',
  );

  const issueLike = (name: 'issue' | 'renew', description: string) =>
    client
      .command(`${name} <name>`)
      .description(description)
      .option(
        '--domain <domain>',
        "the client's domain (or give NAME as name.domain; default: the only configured domain)",
      )
      .option('--days <n>', 'validity in days (default: pki.client_days, 365)', parsePositiveInt)
      .option(
        '--out <dir>',
        'where to write client.key (0600), client.crt and ca.crt (default: <pki.dir>/clients/<name.domain>)',
      )
      .option('--p12', 'also write client.p12, protected by a generated password printed once')
      .option('--json', 'print the result as JSON (the private key is not included)');

  const issueOrRenew = (verb: 'issue' | 'renew') => (name: string, options: IssueOptions, command: Command) =>
    runCommand(command, async (ctx) => {
      const { store, authority } = await ctx.ca();
      const { name: client, domain } = resolveClient(ctx.config, name, options.domain);
      requireConfiguredDomain(ctx.config, domain); // before its bundle directory is made
      assertClientName(client, domain); // the CA's refusal, before the directory's own
      const dir = options.out === undefined ? store.clientBundleDir(`${client}.${domain}`) : resolve(options.out);
      const created = ensurePrivateDir(dir); // before signing: a key that cannot be written is a key lost
      refuseOtherBundle(dir, `${client}.${domain}`);
      const order = { name: client, domain, actor: ctx.actor, ...(options.days ? { days: options.days } : {}) };
      let bundle: IssuedBundle;
      let renewal: RenewedBundle | undefined;
      try {
        if (verb === 'issue') bundle = await authority.issue(order);
        else bundle = renewal = await authority.renew(order);
      } catch (error) {
        // Refused (a bad name, an existing or unknown client): leave no empty directory behind.
        if (created) removeIfEmpty(dir);
        throw error;
      }
      await deliver(bundle, dir, options, verb === 'issue' ? 'issued' : 'renewed');
      if (renewal) return reportRenewal(renewal, options.json === true);
    });

  issueLike(
    'issue',
    'Issue the first certificate of a new client (CN name.domain); an existing name is refused: renew it',
  ).action(issueOrRenew('issue'));
  issueLike(
    'renew',
    'Issue a new key and certificate for an existing client; the previous one stays valid until it expires or is revoked (overlap), older active ones are revoked as superseded',
  ).action(issueOrRenew('renew'));

  client
    .command('revoke [name]')
    .description(
      'Revoke one certificate (--serial) or every active certificate of a client; takes effect at once on every running broker',
    )
    .option('--serial <serial>', 'the certificate to revoke (hex, as `mb client list` prints it)')
    .option('--domain <domain>', "the client's domain (or give NAME as name.domain)")
    .addOption(
      new Option('--reason <reason>', 'RFC 5280 revocation reason').choices(REVOCATION_REASONS).default('unspecified'),
    )
    .option('--json', 'print the result as JSON')
    .action(
      (
        name: string | undefined,
        options: { serial?: string; domain?: string; reason: RevocationReason; json?: boolean },
        command: Command,
      ) => {
        if ((name === undefined) === (options.serial === undefined))
          command.error('error: give either a client NAME or --serial (not both)');
        return runCommand(command, async (ctx) => {
          const { authority } = await ctx.ca();
          const target =
            options.serial !== undefined
              ? { serial: options.serial }
              : resolveClient(ctx.config, name!, options.domain);
          const outcome = await authority.revoke({ ...target, reason: options.reason, actor: ctx.actor });
          if (options.json) printJson(outcome);
          else {
            for (const r of outcome.revoked)
              process.stdout.write(`revoked ${r.serial} (fingerprint ${r.fingerprint})\n`);
            process.stdout.write(
              `CRL #${outcome.crl.crl_number} signed, ${outcome.crl.revoked_serials.length} revoked in total, next update ${outcome.crl.next_update}\n`,
            );
          }
          if (!outcome.announced) {
            process.stderr.write(
              'mb: WARNING: the running brokers could not be told (Redis unreachable): open connections stay up until they read the new CRL; run `mb crl rebuild` once Redis is back\n',
            );
            return EXIT_NOT_ANNOUNCED;
          }
        });
      },
    );

  for (const [verb, status, description] of [
    [
      'disable',
      'disabled',
      'Disable a client: every running broker refuses it at once (403 CLIENT_DISABLED), open connections included; its certificates stay valid',
    ],
    ['enable', 'active', 'Enable a disabled client again, on every running broker'],
  ] as const) {
    client
      .command(`${verb} <name>`)
      .description(description)
      .option('--domain <domain>', "the client's domain (or give NAME as name.domain)")
      .action((name: string, options: { domain?: string }, command: Command) =>
        runCommand(command, async (ctx) => {
          const target = resolveClient(ctx.config, name, options.domain);
          const { repositories } = await ctx.accounts();
          const row = await repositories.clients.findByNameAndDomain(target.name, target.domain);
          if (!row) throw new BrokerError('NOT_FOUND', `There is no client ${target.name}.${target.domain}`);
          const { announced } = await (await ctx.clientStatus()).set(row, status);
          await repositories.audit.record({
            actor: ctx.actor,
            action: `client.${verb}`,
            target_type: 'client',
            target_id: String(row.id),
            domain: row.domain,
            details: { name: row.name, announced },
          });
          process.stdout.write(`${verb}d ${row.name}.${row.domain}\n`);
          if (!announced) {
            process.stderr.write(
              `mb: WARNING: the running brokers could not be told (Redis unreachable): the client is ${status} in the database; the brokers apply it to new connections within server.identity_cache_ms and to the connections they hold only once those close; run this command again once Redis is back\n`,
            );
            return EXIT_NOT_ANNOUNCED;
          }
        }),
      );
  }

  client
    .command('callback <name> [url]')
    .description(
      "Set the HTTPS URL the client's status events are POSTed to (signed with the domain's status_callback.secret); --clear goes back to the domain default. Every broker picks it up within events.callback_refresh_ms",
    )
    .option('--domain <domain>', "the client's domain (or give NAME as name.domain)")
    .option('--clear', 'remove the client’s own URL')
    .action((name: string, url: string | undefined, options: { domain?: string; clear?: boolean }, command: Command) =>
      runCommand(command, async (ctx) => {
        const target = resolveClient(ctx.config, name, options.domain);
        if (options.clear === (url !== undefined))
          throw new BrokerError('INVALID_PAYLOAD', 'Give either a URL or --clear');
        const problem = url === undefined ? undefined : callbackUrlProblem(url);
        if (problem) throw new BrokerError('INVALID_PAYLOAD', `The callback URL ${problem}`);
        const domain = ctx.config.domains.find((d) => d.name === target.domain);
        if (url !== undefined && !domain?.status_callback.secret)
          throw new BrokerError(
            'INVALID_PAYLOAD',
            `Domain ${target.domain} has no status_callback.secret to sign callbacks with`,
          );
        const { repositories } = await ctx.accounts();
        const row = await repositories.clients.findByNameAndDomain(target.name, target.domain);
        if (!row) throw new BrokerError('NOT_FOUND', `There is no client ${target.name}.${target.domain}`);
        await repositories.clients.setStatusCallback(row.id, url ?? null);
        await repositories.audit.record({
          actor: ctx.actor,
          action: 'client.status_callback',
          target_type: 'client',
          target_id: String(row.id),
          domain: row.domain,
          details: { name: row.name, host: url === undefined ? null : callbackHost(url) },
        });
        process.stdout.write(
          url === undefined
            ? `${row.name}.${row.domain}: status callbacks go to the domain default (if any)\n`
            : `${row.name}.${row.domain}: status callbacks go to ${url}\n`,
        );
      }),
    );

  client
    .command('list')
    .description(
      'Every client certificate with its status, expiry and days left; those expiring within 30 days are flagged, and those of a disabled client (it cannot connect)',
    )
    .option('--domain <domain>', 'only this domain')
    .option('--expiring', 'only active certificates that expire within 30 days')
    .option('--json', 'print the list as JSON')
    .action((options: { domain?: string; expiring?: boolean; json?: boolean }, command: Command) =>
      runCommand(command, async (ctx) => {
        // A misspelt domain would list nothing and pass for "no certificates there".
        if (options.domain !== undefined) requireConfiguredDomain(ctx.config, options.domain);
        const { authority } = await ctx.ca();
        const all = await authority.list(options.domain === undefined ? {} : { domain: options.domain });
        const list = options.expiring ? all.filter((c) => c.expiring) : all;
        if (options.json) return printJson(list);
        printTable(
          ['CLIENT', 'SERIAL', 'STATUS', 'NOT AFTER', 'DAYS LEFT', ''],
          // The columns scripts read stay where they were; the client's own status is a note.
          list.map((c) => [
            c.common_name,
            c.serial,
            c.status,
            c.not_after.slice(0, 19).replace('T', ' '),
            String(c.days_left),
            [c.client_status === 'disabled' ? 'CLIENT DISABLED' : '', c.expiring ? 'EXPIRES SOON' : (c.reason ?? '')]
              .filter(Boolean)
              .join(', '),
          ]),
        );
      }),
    );
}

/**
 * Another certificate's bundle in `dir` (a reused --out) would be overwritten, and the CA
 * keeps no copy of its key: refused before anything is signed. The client's own earlier
 * bundle is replaced, as renew does.
 */
function refuseOtherBundle(dir: string, commonName: string): void {
  if (!existsSync(join(dir, 'client.key'))) return;
  let holder: string | undefined;
  try {
    holder = /^CN=(.*)$/m.exec(new X509Certificate(readFileSync(join(dir, 'client.crt'))).subject)?.[1];
  } catch {
    // No readable client.crt beside the key: whose key it is cannot be told, so it is kept.
  }
  if (holder === commonName) return;
  throw new BrokerError(
    'CONFLICT',
    `${dir} already holds the private key of ${holder ?? 'another certificate'}; writing ${commonName} there would destroy it (the CA keeps no copy): choose another --out, or move that bundle away first`,
  );
}

/** Writes the bundle (and optionally a PKCS#12) and tells the operator where it is. */
/** Removes `path` if it is there; returns it when it was. */
function removeStaleFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  rmSync(path, { force: true });
  return path;
}

/** What a renewal did to the client's other certificates; exit 2 when the brokers were not told. */
function reportRenewal(renewal: RenewedBundle, json: boolean): number | undefined {
  if (!json) {
    const lines = [
      renewal.overlaps
        ? `the previous certificate ${renewal.overlaps.serial} stays valid until ${renewal.overlaps.not_after} (overlap): revoke it (mb client revoke --serial …) once the client uses the new one`
        : 'no previous certificate is active',
      ...renewal.superseded.map((c) => `revoked ${c.serial} (superseded; fingerprint ${c.fingerprint})`),
      ...(renewal.crl_number === null ? [] : [`CRL #${renewal.crl_number} signed`]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (renewal.announced) return undefined;
  process.stderr.write(
    'mb: WARNING: the superseded certificates are revoked in the registry, but the running brokers could not be told (Redis unreachable, or the CRL not re-signed): run `mb crl rebuild`\n',
  );
  return EXIT_NOT_ANNOUNCED;
}

async function deliver(bundle: IssuedBundle, dir: string, options: IssueOptions, verb: string): Promise<void> {
  const files = {
    key: join(dir, 'client.key'),
    cert: join(dir, 'client.crt'),
    ca: join(dir, 'ca.crt'),
    p12: undefined as string | undefined,
  };
  writeFileWithMode(files.key, bundle.key_pem, 0o600);
  writeFileWithMode(files.cert, bundle.cert_pem, 0o644);
  writeFileWithMode(files.ca, bundle.ca_pem, 0o644);
  let p12Password: string | undefined;
  if (options.p12) {
    p12Password = randomBytes(18).toString('base64url');
    files.p12 = join(dir, 'client.p12');
    const { toPkcs12 } = await import('../pki/pkcs12.js');
    const p12 = toPkcs12({
      certPem: bundle.cert_pem,
      keyPem: bundle.key_pem,
      caPem: bundle.ca_pem,
      password: p12Password,
      friendlyName: bundle.common_name,
    });
    writeFileWithMode(files.p12, p12, 0o600);
  }
  // A client.p12 left from an earlier --p12 holds the previous key and certificate: handed
  // out with the new bundle, the client would install those, and be cut off when they are revoked.
  const staleP12 = options.p12 ? undefined : removeStaleFile(join(dir, 'client.p12'));
  if (staleP12)
    process.stderr.write(
      `mb: removed ${staleP12}: it held the previous certificate (--p12 writes one for the new certificate)\n`,
    );
  const { key_pem: _key, ...described } = bundle;
  if (options.json) {
    printJson({ ...described, files, ...(p12Password ? { p12_password: p12Password } : {}) });
    return;
  }
  process.stdout.write(
    [
      `${verb} ${bundle.common_name}`,
      `  serial       ${bundle.serial}`,
      `  fingerprint  ${bundle.fingerprint}`,
      `  valid        ${bundle.not_before} → ${bundle.not_after}`,
      `  key          ${files.key} (0600: keep it secret, hand it to the client only)`,
      `  certificate  ${files.cert}`,
      `  CA           ${files.ca}`,
      ...(files.p12 ? [`  PKCS#12      ${files.p12}`, `  p12 password ${p12Password} (shown once, not stored)`] : []),
      '',
    ].join('\n'),
  );
}
