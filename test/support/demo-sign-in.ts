/**
 * The approval pages' sign-in at the demo identity provider, by HTTP alone (a cookie jar and
 * manual redirects): /approve/sign-in → the IdP's password form → its POST → back through
 * Deputy's callback. Returns where it ended and that page.
 */
import { expect } from '@jest/globals';

export interface SignInOutcome {
  status: number;
  url: string;
  body: string;
}

export async function signInAtDemoIdentityProvider(deputyIssuer: string, user: string, password: string): Promise<SignInOutcome> {
  const jar = new Map<string, string>();
  const cookie = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  async function follow(first: Response, from: string): Promise<{ response: Response; url: string }> {
    let response = first;
    let url = from;
    for (let hops = 0; ; hops++) {
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(';')[0]!;
        jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      if (response.status < 300 || response.status >= 400 || hops > 10) return { response, url };
      url = new URL(response.headers.get('location')!, url).href;
      response = await fetch(url, { headers: { cookie: cookie() }, redirect: 'manual' });
    }
  }
  const start = `${deputyIssuer}/approve/sign-in`;
  const atForm = await follow(await fetch(start, { redirect: 'manual' }), start);
  expect(atForm.url).toMatch(new RegExp(`^${deputyIssuer}/demo-idp/interaction/`));
  expect(await atForm.response.text()).toContain('name="password"');
  const posted = await fetch(atForm.url, {
    method: 'POST',
    headers: { cookie: cookie(), origin: deputyIssuer, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login: user, password }).toString(),
    redirect: 'manual',
  });
  const done = await follow(posted, atForm.url);
  return { status: done.response.status, url: done.url, body: await done.response.text() };
}
