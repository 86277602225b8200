/**
 * A browser stand-in for `inject()`: keeps cookies, picks up the CSRF token from the last
 * HTML page, and posts urlencoded forms. Cookies are sent regardless of Secure (inject is
 * not TLS); a real browser's view of them is covered by the Chromium tests.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { PASSWORD } from './portal-harness.js';

export interface PostOptions {
  /** Send the CSRF token (default true). */
  csrf?: boolean;
  remoteAddress?: string;
}

export class PortalClient {
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(
    private readonly app: FastifyInstance,
    private readonly remoteAddress = '127.0.0.1',
  ) {}

  /** Signs in (GET the form for the CSRF cookie, then POST it); throws unless it worked. */
  static async signedIn(
    app: FastifyInstance,
    email: string,
    password = PASSWORD,
    remoteAddress?: string,
  ): Promise<PortalClient> {
    const client = new PortalClient(app, remoteAddress);
    const response = await client.login(email, password);
    if (response.statusCode !== 303)
      throw new Error(`sign-in of ${email} failed: ${response.statusCode} ${response.body.slice(0, 300)}`);
    return client;
  }

  /** `domain`: the sign-in form's optional domain (for an email with accounts in several). */
  async login(email: string, password: string, domain?: string): Promise<LightMyRequestResponse> {
    await this.get('/portal/login');
    return this.post('/portal/login', { email, password, ...(domain === undefined ? {} : { domain }) });
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    const response = await this.app.inject({
      method: 'GET',
      url,
      cookies: Object.fromEntries(this.cookies),
      remoteAddress: this.remoteAddress,
    });
    this.absorb(response);
    return response;
  }

  async post(url: string, form: Record<string, string>, options: PostOptions = {}): Promise<LightMyRequestResponse> {
    const body = new URLSearchParams({ ...form, ...(options.csrf === false ? {} : { _csrf: this.csrf }) }).toString();
    const response = await this.app.inject({
      method: 'POST',
      url,
      payload: body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      cookies: Object.fromEntries(this.cookies),
      remoteAddress: options.remoteAddress ?? this.remoteAddress,
    });
    this.absorb(response);
    return response;
  }

  /** GETs a page first (for a fresh CSRF token), then posts. */
  async submit(pageUrl: string, actionUrl: string, form: Record<string, string>): Promise<LightMyRequestResponse> {
    await this.get(pageUrl);
    return this.post(actionUrl, form);
  }

  private absorb(response: LightMyRequestResponse): void {
    for (const cookie of response.cookies) {
      // A clearing Set-Cookie has an empty value or an expiry in the past.
      const expired =
        cookie.value === '' ||
        (cookie.expires !== undefined && cookie.expires.getTime() < Date.now()) ||
        cookie.maxAge === 0;
      if (expired) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(response.body);
    if (token) this.csrf = token[1]!;
  }
}

export type SeededTenant = 'alpha' | 'beta';

/** A seeded account signed in (see portal-harness.ts), for role × tenant matrices. */
export interface SignedInActor {
  label: string;
  role: 'user' | 'admin' | 'superadmin';
  tenant: SeededTenant | null;
  client: PortalClient;
}

/** Every seeded account, signed in: user and admin of alpha and of beta, and the superadmin. */
export async function signInSeededUsers(app: FastifyInstance): Promise<SignedInActor[]> {
  const sign = (email: string) => PortalClient.signedIn(app, email);
  return [
    { label: 'user@alpha', role: 'user', tenant: 'alpha', client: await sign('user@alpha.test') },
    { label: 'admin@alpha', role: 'admin', tenant: 'alpha', client: await sign('admin@alpha.test') },
    { label: 'user@beta', role: 'user', tenant: 'beta', client: await sign('user@beta.test') },
    { label: 'admin@beta', role: 'admin', tenant: 'beta', client: await sign('admin@beta.test') },
    { label: 'superadmin', role: 'superadmin', tenant: null, client: await sign('root@test') },
  ];
}
