import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../src/config.js';

/** Production needs a key-encryption key; the cases below are about other settings. */
const PRODUCTION = { NODE_ENV: 'production', KEY_ENCRYPTION_KEY: 'a'.repeat(64) } as const;

describe('loadConfig', () => {
  it('applies documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      ISSUER: 'http://localhost:3000',
      TOKEN_TTL: 300,
      MAX_DELEGATION_DEPTH: 3,
      SIGNING_ALG: 'ES256',
      DEMO_SEED: true,
      LOG_LEVEL: 'info',
      DEPUTY_HOME: './.deputy',
    });
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it('derives ISSUER from PORT and strips a trailing slash from an explicit one', () => {
    expect(loadConfig({ PORT: '8080' }).ISSUER).toBe('http://localhost:8080');
    expect(loadConfig({ ISSUER: 'https://deputy.example.com/' }).ISSUER).toBe('https://deputy.example.com');
  });

  it('keeps a console sign-in 8 hours by default, at most a day', () => {
    expect(loadConfig({}).CONSOLE_SESSION_TTL).toBe(28800);
    expect(loadConfig({ CONSOLE_SESSION_TTL: '86400' }).CONSOLE_SESSION_TTL).toBe(86400);
  });

  it('treats blank values as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).PORT).toBe(3000);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['TOKEN_TTL', '0'],
    ['TOKEN_TTL', '-5'],
    ['MAX_DELEGATION_DEPTH', '0'],
    ['ISSUER', 'not a url'],
    ['ISSUER', 'ftp://deputy.example.com'],
    ['ISSUER', 'javascript:alert(1)'],
    ['ISSUER', 'https://user:pass@deputy.example.com'],
    ['ISSUER', 'https://deputy.example.com?tenant=a'],
    ['ISSUER', 'https://deputy.example.com/?'],
    ['ISSUER', 'https://deputy.example.com#top'],
    ['DATABASE_URL', 'mysql://x'],
    ['DEPUTY_ADMIN_TOKEN', 'short'],
    ['SIGNING_ALG', 'HS256'],
    ['LOG_LEVEL', 'loud'],
    ['DEMO_SEED', 'yes'],
    ['CLOCK_SKEW', '1000'],
    ['CONSOLE_SESSION_TTL', '0'],
    ['CONSOLE_SESSION_TTL', '86401'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name}:`));
  });

  it('refuses an http ISSUER in production, except on loopback', () => {
    for (const issuer of ['http://deputy.example.com', 'http://10.0.0.5:3000', 'http://localhost.evil.example']) {
      expect(() => loadConfig({ ...PRODUCTION, ISSUER: issuer })).toThrow(ConfigError);
      expect(() => loadConfig({ ...PRODUCTION, ISSUER: issuer })).toThrow(/^invalid configuration: ISSUER:/);
    }
    for (const issuer of ['https://deputy.example.com', 'http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000']) {
      expect(loadConfig({ ...PRODUCTION, ISSUER: issuer }).ISSUER).toBe(issuer);
    }
    expect(loadConfig({ ...PRODUCTION }).ISSUER).toBe('http://localhost:3000');
    // Outside production a plain-http issuer stays possible (development on a LAN address).
    expect(loadConfig({ ISSUER: 'http://deputy.lan:3000' }).ISSUER).toBe('http://deputy.lan:3000');
  });

  it('seeds the demo world only for the embedded database outside production, unless DEMO_SEED says otherwise', () => {
    const url = 'postgresql://deputy@127.0.0.1:5432/deputy';
    expect(loadConfig({}).DEMO_SEED).toBe(true);
    expect(loadConfig({ DATABASE_URL: url }).DEMO_SEED).toBe(false);
    expect(loadConfig({ ...PRODUCTION }).DEMO_SEED).toBe(false);
    expect(loadConfig({ ...PRODUCTION, DATABASE_URL: url }).DEMO_SEED).toBe(false);
    expect(loadConfig({ DATABASE_URL: url, DEMO_SEED: 'true' }).DEMO_SEED).toBe(true);
    expect(loadConfig({ ...PRODUCTION, DEMO_SEED: 'true' }).DEMO_SEED).toBe(true);
    expect(loadConfig({ DEMO_SEED: 'false' }).DEMO_SEED).toBe(false);
  });

  it('allows no CORS origin by default, in production too, and parses CORS_ORIGINS as exact origins', () => {
    expect(loadConfig({}).CORS_ORIGINS).toEqual([]);
    expect(loadConfig({ ...PRODUCTION }).CORS_ORIGINS).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:8080' }).CORS_ORIGINS).toEqual(['https://app.example.com', 'http://localhost:8080']);
    for (const bad of ['*', 'null', 'https://app.example.com/', 'https://app.example.com/path', 'app.example.com', 'ftp://files.example.com']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad })).toThrow(/^invalid configuration: CORS_ORIGINS/);
    }
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'abc', TOKEN_TTL: 'x' })).toThrow(/PORT:.*TOKEN_TTL:/);
  });
});
