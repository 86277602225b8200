import { describe, expect, it } from 'vitest';
import { callbackHost, callbackUrlProblem, tenantCallbackHostProblem } from './callback-url.js';

describe('callbackUrlProblem', () => {
  it('accepts an https URL with a host, port, path and query', () => {
    expect(callbackUrlProblem('https://hooks.example.com:8443/mb/status?token=abc')).toBeUndefined();
    expect(callbackUrlProblem('https://[::1]:9000/x')).toBeUndefined();
  });

  it.each([
    ['https://%zz', 'is not a valid URL'],
    ['https://[', 'is not a valid URL'],
    ['https://a:b@[::1', 'is not a valid URL'],
    ['http://hooks.example.com/x', 'must be an https:// URL'],
    ['https://user:secret@hooks.example.com/x', 'must not carry a user name or password'],
    ['https://hooks.example.com/a b', 'must not contain spaces'],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, 'must be at most 2048 characters'],
  ])('refuses %s', (url, problem) => {
    expect(callbackUrlProblem(url)).toContain(problem);
  });
});

describe('callbackHost', () => {
  it('is the host of a URL and never throws', () => {
    expect(callbackHost('https://hooks.example.com:8443/x?token=1')).toBe('hooks.example.com:8443');
    expect(callbackHost('https://%zz')).toBe('https://%zz');
  });
});

describe('tenantCallbackHostProblem', () => {
  const domain = {
    url: 'https://hooks.alpha.example/mb',
    allowed_hosts: ['cb.alpha.example', 'edge.alpha.example:8443'],
  };

  it.each([
    'https://hooks.alpha.example/other',
    'https://hooks.alpha.example:9443/other',
    'https://CB.alpha.example/in?x=1',
    'https://edge.alpha.example:8443/in',
  ])('lets a domain admin name %s, a host the domain names', (url) => {
    expect(tenantCallbackHostProblem(domain, url)).toBeUndefined();
  });

  it.each([
    'https://169.254.169.254/latest/meta-data/',
    'https://127.0.0.1:3306/',
    'https://localhost/admin',
    'https://edge.alpha.example:9443/in',
    'https://cb.alpha.example.evil.test/in',
    'https://[::1]/',
  ])('refuses %s, naming what the domain allows', (url) => {
    expect(tenantCallbackHostProblem(domain, url)).toMatch(
      /is not one the domain's status_callback names \(cb\.alpha\.example, edge\.alpha\.example:8443, hooks\.alpha\.example\)/,
    );
  });

  it('refuses every host in a domain that names none', () => {
    expect(tenantCallbackHostProblem({ url: '', allowed_hosts: [] }, 'https://cb.example/')).toContain('(none)');
  });
});
