/**
 * A minimal cookie-keeping HTTP client for the console's HTTP-level tests (the browser tests use
 * Chromium): follows no redirects, so each answer can be checked.
 */
export interface Page {
  status: number;
  headers: Headers;
  text: string;
}

export class ConsoleClient {
  cookie = '';
  constructor(readonly baseUrl: string) {}

  async get(path: string): Promise<Page> {
    return this.send(path, { method: 'GET' });
  }

  /** A form POST; `origin` defaults to the server's own. */
  async post(path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Page> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(name, v);
    return this.send(path, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.baseUrl, ...headers },
    });
  }

  async send(path: string, init: RequestInit): Promise<Page> {
    const headers = new Headers(init.headers);
    if (this.cookie) headers.set('cookie', this.cookie);
    const response = await fetch(`${this.baseUrl}${path}`, { ...init, headers, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) {
      const [pair] = setCookie.split(';');
      this.cookie = /Max-Age=0/i.test(setCookie) ? '' : pair!;
    }
    return { status: response.status, headers: response.headers, text: await response.text() };
  }

  /** Signs in; returns the sign-in answer. */
  signIn(secret: string, clientId = ''): Promise<Page> {
    return this.post('/console/sign-in', { client_id: clientId, secret });
  }

  /** The CSRF token of the page's forms. */
  static csrfOf(page: Page): string {
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
    if (!token) throw new Error(`no CSRF field on the page (status ${page.status})`);
    return token;
  }
}
