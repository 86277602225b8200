/** What a newcomer sees once the broker listens: where it is and a curl that sends a first message. */
import { relative } from 'node:path';
import type { BootstrapResult } from '../ca/ca.types.js';
import type { BrokerConfig } from '../config/config.js';
import type { FirstAdmin } from '../portal/first-admin.js';

export function welcomeText(
  config: Readonly<BrokerConfig>,
  url: string,
  bootstrap: BootstrapResult,
  firstAdmin?: FirstAdmin,
): string {
  const lines = [`message broker listening on ${url} (mTLS API and portal)`];
  if (config.portal.enabled) lines.push(`portal: ${url}/portal/`);
  if (firstAdmin?.passwordFile) {
    // Not on a terminal (systemd, docker, a pipe): the password stays out of the log.
    lines.push(
      '',
      'created the first portal account; its password is in a file readable only by this user',
      '(sign in, change it under Account, then delete the file):',
      `  email:         ${firstAdmin.email}`,
      `  password file: ${firstAdmin.passwordFile}`,
    );
  } else if (firstAdmin) {
    lines.push(
      '',
      'created the first portal account (this password is shown only now; change it under Account):',
      `  email:    ${firstAdmin.email}`,
      `  password: ${firstAdmin.password}`,
    );
  }
  if (bootstrap.created_ca) lines.push(`created a development CA in ${shown(config.pki.dir)}`);
  const demo = bootstrap.demo;
  if (demo) {
    lines.push(
      '',
      `send a first message with the demo client certificate (${demo.common_name}):`,
      '',
      `  curl --cert ${shown(demo.cert_path)} --key ${shown(demo.key_path)} --cacert ${shown(demo.ca_path)} \\`,
      `    -H 'content-type: application/json' \\`,
      `    -d '{"sender_number":"+14155550123","message_body":"Hello from the broker"}' \\`,
      `    ${url}/api/v1/messages`,
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}

export function printWelcome(
  config: Readonly<BrokerConfig>,
  url: string,
  bootstrap: BootstrapResult,
  firstAdmin?: FirstAdmin,
): void {
  process.stdout.write(welcomeText(config, url, bootstrap, firstAdmin));
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}
