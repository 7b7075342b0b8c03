/**
 * Where Deputy may fetch a trusted issuer's JWKS from (review item 13). The refusals must happen
 * before any connection: every refused case asserts that no socket connected, and no test here
 * ever connects anywhere but 127.0.0.1.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { LookupAddress } from 'node:dns';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createJwksFetch, JwksTargetRefused, MAX_JWKS_BYTES } from '../../src/trust/jwks-fetch.js';
import { classifyAddress, jwksUriRefusal } from '../../src/trust/network-target.js';

let server: Server;
let port: number;
const seen: Array<{ url: string; host: string }> = [];
let answer: (req: IncomingMessage, res: import('node:http').ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  seen.length = 0;
  jest.restoreAllMocks();
});

const JWKS = '{"keys":[]}';
const ok = (_req: IncomingMessage, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JWKS);
};

const init = () => ({ headers: new Headers({ accept: 'application/json' }), signal: AbortSignal.timeout(2000) });

/** A resolver answering from a table, counting calls; never touches DNS. */
function fakeResolver(table: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: net.isIP(address) }));
  };
  return { resolve, calls };
}

/**
 * Runs `attempt` with every outgoing connection intercepted: a socket asked to connect runs its
 * `lookup` (as node does before connecting) and, if that succeeds, is destroyed instead of
 * connecting and the address recorded. So nothing leaves the machine even if the code under
 * test were wrong, and the test sees whether a connection would have been made.
 */
async function expectRefusedWithoutConnecting(attempt: () => Promise<unknown>): Promise<void> {
  const wouldConnect: string[] = [];
  jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function intercept(this: net.Socket, ...args: unknown[]) {
    const options = (Array.isArray(args[0]) ? args[0][0] : args[0]) as net.TcpNetConnectOpts;
    const stop = (error: Error) => process.nextTick(() => this.destroy(error));
    const host = options.host ?? 'localhost';
    if (options.lookup && net.isIP(host) === 0) {
      options.lookup(host, { all: true }, (error: Error | null, address: unknown) => {
        if (error) return stop(error);
        wouldConnect.push(JSON.stringify(address));
        stop(new Error('connection intercepted by the test'));
      });
    } else {
      wouldConnect.push(host);
      stop(new Error('connection intercepted by the test'));
    }
    return this;
  });
  await expect(attempt()).rejects.toBeInstanceOf(JwksTargetRefused);
  expect(wouldConnect).toEqual([]);
}

describe('address classes', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700::1111', 'public'],
    ['127.0.0.1', 'private'],
    ['127.1.2.3', 'private'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['::1', 'private'],
    ['fd00::1', 'private'],
    ['169.254.169.254', 'forbidden'],
    ['fe80::1', 'forbidden'],
    ['0.0.0.0', 'forbidden'],
    ['::', 'forbidden'],
    ['224.0.0.251', 'forbidden'],
    ['255.255.255.255', 'forbidden'],
    ['::ffff:127.0.0.1', 'forbidden'],
    ['::ffff:169.254.169.254', 'forbidden'],
    ['64:ff9b::a9fe:a9fe', 'forbidden'],
    ['2002:a9fe:a9fe::1', 'forbidden'],
    ['192.0.2.1', 'forbidden'],
    ['::127.0.0.1', 'forbidden'], // IPv4-compatible (::/96, reserved): connected to on 105bd02
    ['::a9fe:a9fe', 'forbidden'],
    ['::ffff:0:a9fe:a9fe', 'forbidden'], // IPv4-translated (SIIT)
    ['5f00::1', 'forbidden'], // outside 2000::/3: reserved
    ['3fff::1', 'forbidden'], // documentation
    ['not-an-ip', 'forbidden'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe('registration check of a jwks_uri', () => {
  it.each([
    'https://127.0.0.1/jwks',
    'https://10.0.0.1/jwks',
    'https://169.254.169.254/latest/meta-data/',
    'https://[fd00::1]/jwks',
    'https://[::1]/jwks',
    'https://[::ffff:10.0.0.1]/jwks',
    'https://localhost/jwks',
    'https://idp.localhost./jwks',
    'http://localhost:8080/jwks',
    'http://idp.example.com/jwks',
  ])('refuses %s by default', (uri) => {
    expect(jwksUriRefusal(uri, false)).toEqual(expect.any(String));
  });

  it('accepts a public https URL by default (its name is checked at fetch time)', () => {
    expect(jwksUriRefusal('https://idp.example.com/.well-known/jwks.json', false)).toBeNull();
    expect(jwksUriRefusal('https://8.8.8.8/jwks', false)).toBeNull();
  });

  it('with the opt-in accepts private networks and http to loopback, never link-local or http elsewhere', () => {
    for (const uri of ['https://10.0.0.1/jwks', 'https://[fd00::1]/jwks', 'https://localhost/jwks', 'http://127.0.0.1:8080/jwks', 'http://localhost:8080/jwks']) {
      expect(jwksUriRefusal(uri, true)).toBeNull();
    }
    for (const uri of ['https://169.254.169.254/latest/meta-data/', 'https://[fe80::1]/jwks', 'http://10.0.0.1/jwks', 'http://idp.example.com/jwks']) {
      expect(jwksUriRefusal(uri, true)).toEqual(expect.any(String));
    }
  });
});

describe('fetching a JWKS: refused targets (the default)', () => {
  const guarded = createJwksFetch({ allowPrivateNetwork: false });

  it.each([
    'https://127.0.0.1/jwks',
    'https://10.0.0.1/jwks',
    'https://169.254.169.254/latest/meta-data/',
    'https://[fd00::1]/jwks',
    'https://[::1]/jwks',
    'https://[::ffff:127.0.0.1]/jwks',
    'https://[::127.0.0.1]/jwks',
    'https://100.64.0.1/jwks',
    'https://0.0.0.0/jwks',
  ])('refuses %s before connecting', async (uri) => {
    await expectRefusedWithoutConnecting(() => guarded(uri, init()));
  });

  it('refuses localhost, and the loopback JWKS server that is really there', async () => {
    await expectRefusedWithoutConnecting(() => guarded(`https://localhost:${port}/jwks`, init()));
    await expectRefusedWithoutConnecting(() => guarded(`http://127.0.0.1:${port}/jwks`, init()));
    expect(seen).toEqual([]);
  });

  it.each([
    ['loopback', ['127.0.0.1']],
    ['a private network', ['10.0.0.1']],
    ['the metadata address', ['169.254.169.254']],
    ['a unique-local IPv6 address', ['fd00::1']],
    ['a public and a private address', ['93.184.216.34', '10.0.0.1']],
  ])('refuses a name resolving to %s, before connecting', async (_what, addresses) => {
    const { resolve, calls } = fakeResolver({ 'idp.example.test': addresses });
    const fetchVia = createJwksFetch({ allowPrivateNetwork: false, resolve });
    await expectRefusedWithoutConnecting(() => fetchVia('https://idp.example.test/jwks', init()));
    expect(calls).toEqual(['idp.example.test']);
  });

  it('refuses plain http to a public address before connecting (with or without the opt-in)', async () => {
    await expectRefusedWithoutConnecting(() => guarded('http://93.184.216.34/jwks', init()));
    await expectRefusedWithoutConnecting(() => createJwksFetch({ allowPrivateNetwork: true })('http://93.184.216.34/jwks', init()));
  });
});

describe('fetching a JWKS with JWKS_ALLOW_PRIVATE_NETWORK=true', () => {
  it('fetches from loopback', async () => {
    answer = ok;
    const response = await createJwksFetch({ allowPrivateNetwork: true })(`http://127.0.0.1:${port}/jwks`, init());
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(JWKS);
  });

  it('still refuses link-local and reserved targets before connecting', async () => {
    const allowing = createJwksFetch({ allowPrivateNetwork: true });
    await expectRefusedWithoutConnecting(() => allowing('https://169.254.169.254/latest/meta-data/', init()));
    await expectRefusedWithoutConnecting(() => allowing('https://[fe80::1]/jwks', init()));
    const { resolve } = fakeResolver({ 'metadata.example.test': ['169.254.169.254'] });
    await expectRefusedWithoutConnecting(() => createJwksFetch({ allowPrivateNetwork: true, resolve })('https://metadata.example.test/jwks', init()));
  });

  it('connects to the address it checked: one resolution per fetch, the name kept in Host', async () => {
    answer = ok;
    const { resolve, calls } = fakeResolver({ 'idp.pinned.test': ['127.0.0.1'] });
    const fetchVia = createJwksFetch({ allowPrivateNetwork: true, resolve });
    const response = await fetchVia(`http://idp.pinned.test:${port}/jwks`, init());
    expect(response.status).toBe(200);
    expect(calls).toEqual(['idp.pinned.test']);
    expect(seen).toEqual([{ url: '/jwks', host: `idp.pinned.test:${port}` }]);
  });

  it('a rebinding name: the second answer is checked again and refused before connecting', async () => {
    answer = ok;
    let answers = 0;
    const resolve = async (): Promise<LookupAddress[]> => (answers++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '169.254.169.254', family: 4 }]);
    const fetchVia = createJwksFetch({ allowPrivateNetwork: true, resolve });
    expect((await fetchVia(`http://rebind.test:${port}/jwks`, init())).status).toBe(200);
    await expectRefusedWithoutConnecting(() => fetchVia(`http://rebind.test:${port}/jwks`, init()));
    expect(seen).toHaveLength(1);
  });

  it('does not follow a redirect', async () => {
    answer = (req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: `http://127.0.0.1:${port}/jwks` });
        res.end();
      } else ok(req, res);
    };
    const response = await createJwksFetch({ allowPrivateNetwork: true })(`http://127.0.0.1:${port}/moved`, init());
    expect(response.status).toBe(302);
    expect(seen.map((request) => request.url)).toEqual(['/moved']);
  });

  it(`refuses a body over ${MAX_JWKS_BYTES} bytes, declared or streamed`, async () => {
    const big = 'A'.repeat(MAX_JWKS_BYTES + 1);
    const fetchAllowing = createJwksFetch({ allowPrivateNetwork: true });
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length) });
      res.end(big);
    };
    await expect(fetchAllowing(`http://127.0.0.1:${port}/jwks`, init())).rejects.toThrow(/larger than/);
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked, no length
      res.write(big.slice(0, 100_000));
      res.end(big.slice(100_000));
    };
    await expect(fetchAllowing(`http://127.0.0.1:${port}/jwks`, init())).rejects.toThrow(/larger than/);
  });
});
