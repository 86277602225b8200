/**
 * The release is dist/ + node_modules/ + drizzle/ + package.json, and nothing from src/:
 * copied into a directory of its own (node_modules linked), the broker's entry and `mb`
 * answer, `mb config check` judges configs, and the broker started from there serves the
 * portal (Eta views and assets) and accepts a message (the Lua scripts) against the real
 * Redis and MariaDB.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerProcess,
  createWorkspace,
  demoBundle,
  mtlsAgent,
  postJson,
  ROOT,
  type Workspace,
} from '../support/broker-harness.js';
import { execForm, parseDockerfile } from '../support/dockerfile.js';

let release: string;

function run(args: string[], cwd = release): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.MB_CONFIG;
    execFile(process.execPath, args, { cwd, env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

beforeAll(() => {
  release = mkdtempSync(join(tmpdir(), 'mb-release-'));
  cpSync(join(ROOT, 'dist'), join(release, 'dist'), { recursive: true, filter: (p) => !p.endsWith('.map') });
  cpSync(join(ROOT, 'drizzle'), join(release, 'drizzle'), { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(release, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(release, 'node_modules'), 'dir');
});
afterAll(() => rmSync(release, { recursive: true, force: true }));

describe('a release without src/', () => {
  it('holds no source tree', () => {
    expect(existsSync(join(release, 'src'))).toBe(false);
    for (const file of ['dist/queue/lua/enqueue-n.lua', 'dist/views/layout.eta', 'dist/portal/assets/portal.css'])
      expect(existsSync(join(release, file)), file).toBe(true);
  });

  it('answers node dist/supervisor.js --version and mb --help', async () => {
    const { version } = (await import(join(ROOT, 'package.json'), { with: { type: 'json' } })).default as {
      version: string;
    };
    expect(await run(['dist/supervisor.js', '--version'])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const help = await run(['dist/cli.js', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/config\s+The broker configuration/);
  });

  it('checks a valid and an invalid config with mb config check', async () => {
    writeFileSync(join(release, 'good.yaml'), 'server:\n  port: 9443\n');
    const good = await run(['dist/cli.js', 'config', 'check', '--config', 'good.yaml']);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('OK: good.yaml is valid');
    writeFileSync(join(release, 'bad.yaml'), 'server:\n  port: nine\n');
    const bad = await run(['dist/cli.js', 'config', 'check', '--config', 'bad.yaml']);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('server.port');
  });

  describe('the broker started from it', () => {
    let workspace: Workspace;
    let broker: BrokerProcess;
    let url: string;

    beforeAll(async () => {
      workspace = await createWorkspace();
      broker = new BrokerProcess(workspace, {}, [], join(release, 'dist/supervisor.js'));
      url = await broker.start();
    });
    afterAll(async () => {
      await broker?.kill('SIGTERM');
      await workspace?.cleanup();
    });

    it('serves the portal: a page from the Eta views and its assets', async () => {
      const ca = demoBundle(workspace).ca;
      const agent = mtlsAgent({ ca });
      try {
        const page = await request(`${url}/portal/login`, { dispatcher: agent });
        expect(page.statusCode).toBe(200);
        expect(await page.body.text()).toMatch(/<form[^>]+action="\/portal\/login"/);
        for (const asset of ['portal.css', 'portal.js', 'css/bootstrap.min.css']) {
          const response = await request(`${url}/portal/assets/${asset}`, { dispatcher: agent });
          expect(response.statusCode, asset).toBe(200);
          await response.body.dump();
        }
      } finally {
        await agent.close();
      }
    });

    it("passes the Dockerfile's HEALTHCHECK command", async () => {
      const healthcheck = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
        .stages.at(-1)!
        .instructions.find((i) => i.keyword === 'HEALTHCHECK')!;
      const [node, ...args] = execForm(healthcheck.args);
      expect(node).toBe('node');
      const port = new URL(url).port;
      const probe = await new Promise<number | null>((resolve) => {
        execFile(process.execPath, args, { env: { ...process.env, MB_SERVER_PORT: port }, timeout: 20_000 }, (error) =>
          resolve(error ? (typeof error.code === 'number' ? error.code : null) : 0),
        );
      });
      expect(probe).toBe(0);
    });

    it('accepts a message (202): the Lua scripts are read from dist/', async () => {
      const agent = mtlsAgent(demoBundle(workspace));
      try {
        const response = await postJson(agent, url, { sender_number: '+14155550123', message_body: 'from a release' });
        expect(response.status).toBe(202);
        expect(response.body.status).toBe('queued');
      } finally {
        await agent.close();
      }
    });
  });
});
