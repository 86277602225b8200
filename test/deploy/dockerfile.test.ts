/**
 * The Dockerfile, checked without Docker: multi-stage, the runtime stage holds only the
 * runtime files and runs as a user of its own, its health check and stop signal match
 * what the broker serves and handles, and everything the build stage copies exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../support/broker-harness.js';
import { execForm, type Instruction, parseDockerfile } from '../support/dockerfile.js';

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const build = dockerfile.stages.find((s) => s.name === 'build')!;
const runtime = dockerfile.stages.at(-1)!;
const all = (keyword: string, stage = runtime): Instruction[] =>
  stage.instructions.filter((i) => i.keyword === keyword);
const one = (keyword: string, stage = runtime): Instruction => {
  const found = all(keyword, stage);
  expect(found, keyword).toHaveLength(1);
  return found[0]!;
};

describe('Dockerfile', () => {
  it('builds in one stage and runs in another, both on a maintained Node line', () => {
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    for (const stage of dockerfile.stages) expect(stage.image).toMatch(/^node:(22|24)(\.[\d.]+)?-bookworm-slim$/);
    const nvmrc = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim();
    expect(runtime.image).toContain(`node:${nvmrc}`);
  });

  it('runs as an unprivileged user', () => {
    const user = one('USER').args;
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(all('RUN').some((i) => i.args.includes(`useradd --system`))).toBe(true);
  });

  it('puts only the runtime files in the runtime stage: dist/ from the build, drizzle/, the manifests', () => {
    const copies = all('COPY').map((i) => i.args);
    expect(copies).toEqual([
      'package.json package-lock.json ./',
      '--from=build /build/dist/ dist/',
      'drizzle/ drizzle/',
    ]);
    expect(all('ADD')).toEqual([]);
    expect(all('RUN').some((i) => /npm ci --omit=dev/.test(i.args))).toBe(true);
  });

  it('copies into the build stage only files that exist, and what `npm run build` reads', () => {
    const sources = all('COPY', build).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const file of pkg.scripts.build!.match(/[\w./-]+\.(json|mjs)/g) ?? []) expect(sources).toContain(file);
    expect(sources).toContain('src/');
  });

  // test/app/release-layout.test.ts runs this very command against a live broker.
  it('checks liveness on /healthz, a route the broker serves without a client certificate', () => {
    const check = one('HEALTHCHECK').args;
    expect(check).toMatch(/--start-period=\d+s/);
    expect(check).toMatch(/\sCMD \["node", "-e"/);
    expect(execForm(check).join(' ')).toContain("path:'/healthz'");
    expect(readFileSync(join(ROOT, 'src/http/health.routes.ts'), 'utf8')).toContain("'/healthz'");
  });

  it('stops with SIGTERM, the signal the supervisor drains on', () => {
    expect(one('STOPSIGNAL').args).toBe('SIGTERM');
    expect(readFileSync(join(ROOT, 'src/supervisor.ts'), 'utf8')).toMatch(/\['SIGTERM', 'SIGINT'\]/);
  });

  it('starts the broker entry and exposes its port', () => {
    expect(execForm(one('ENTRYPOINT').args)).toEqual(['node', '/opt/message-broker/dist/supervisor.js']);
    expect(one('EXPOSE').args).toBe('8443');
  });

  it('declares the volumes compose.yaml mounts, under the working directory', () => {
    const workdir = all('WORKDIR').at(-1)!.args;
    const volumes = execForm(one('VOLUME').args);
    expect(volumes).toEqual(['certs', 'data', 'logs'].map((d) => `${workdir}/${d}`));
    const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as {
      services: { broker: { volumes: string[]; stop_signal: string } };
    };
    expect(compose.services.broker.volumes.map((v) => v.split(':')[1])).toEqual(volumes);
    expect(compose.services.broker.stop_signal).toBe('SIGTERM');
  });

  it('keeps the build context small (.dockerignore leaves out node_modules, dist and local state)', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', 'data', 'certs', 'logs', '.git']) expect(ignored).toContain(entry);
  });
});
