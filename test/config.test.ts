import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../src/config.js';

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

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'abc', TOKEN_TTL: 'x' })).toThrow(/PORT:.*TOKEN_TTL:/);
  });
});
