/**
 * The portal of a running broker (child process, real TLS), as a cookie-keeping form
 * client: sign in with the first admin's password (from the file the broker names), GET pages, post forms with the
 * CSRF token of the last page. For e2e checks that need the supervisor's actors (breakers,
 * reload); page behaviour itself is tested with inject (portal-client.ts) and Chromium.
 */
import { request, type Agent } from 'undici';
import { firstAdminCredentials } from './broker-harness.js';

export interface PortalPage {
  statusCode: number;
  location: string | undefined;
  body: string;
}

export class HttpsPortalClient {
  private readonly cookies = new Map<string, string>();
  private csrf = '';

  constructor(
    private readonly baseUrl: string,
    /** An agent that trusts the broker's CA; no client certificate is needed for the portal. */
    private readonly agent: Agent,
  ) {}

  /** The first superadmin's email and password as the broker printed them on first start. */
  static async signedInAsFirstAdmin(baseUrl: string, agent: Agent, brokerOutput: string): Promise<HttpsPortalClient> {
    const { email, password } = firstAdminCredentials(brokerOutput) ?? {};
    if (!email || !password) throw new Error(`no first admin in the broker output:\n${brokerOutput.slice(0, 2000)}`);
    return HttpsPortalClient.signedIn(baseUrl, agent, email, password);
  }

  static async signedIn(baseUrl: string, agent: Agent, email: string, password: string): Promise<HttpsPortalClient> {
    const client = new HttpsPortalClient(baseUrl, agent);
    await client.get('/portal/login');
    const signIn = await client.post('/portal/login', { email, password });
    if (signIn.statusCode !== 303)
      throw new Error(`sign-in of ${email} failed: ${signIn.statusCode} ${signIn.body.slice(0, 300)}`);
    return client;
  }

  /** The session's cookies as a Cookie header (for a WebSocket of the portal). */
  get cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  get(path: string): Promise<PortalPage> {
    return this.send('GET', path);
  }

  /** Posts a form with the CSRF token of the last page fetched. */
  post(path: string, form: Record<string, string>): Promise<PortalPage> {
    return this.send('POST', path, new URLSearchParams({ ...form, _csrf: this.csrf }).toString());
  }

  /** A JSON call to the admin API (`/api/v1/admin/*`) with this session's cookie. */
  async json(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
  ): Promise<{ statusCode: number; body: Record<string, unknown> }> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await request(`${this.baseUrl}${path}`, {
      method,
      dispatcher: this.agent,
      headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { statusCode: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string): Promise<PortalPage> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await request(`${this.baseUrl}${path}`, {
      method,
      dispatcher: this.agent,
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.body.text();
    const setCookie = response.headers['set-cookie'];
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const token = /name="_csrf" value="([^"]+)"/.exec(text);
    if (token) this.csrf = token[1]!;
    const location = response.headers.location;
    return { statusCode: response.statusCode, location: Array.isArray(location) ? location[0] : location, body: text };
  }
}
