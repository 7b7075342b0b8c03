/**
 * The settings of key encryption, key rotation and audit checkpoints, validated at start. A bad
 * key is refused with a message naming the variable, never repeating the value.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config.js';

const key = randomBytes(32);

describe('key settings', () => {
  it('default: rotation every 90 days, a checkpoint every 300 s, keys from DEPUTY_HOME outside production', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ KEY_ROTATION_DAYS: 90, AUDIT_CHECKPOINT_INTERVAL_S: 300 });
    expect(config.KEY_ENCRYPTION_KEY).toBeUndefined();
    expect(config.AUDIT_CHECKPOINT_KEY).toBeUndefined();
  });

  it('accepts 32-byte keys in base64url or hex', () => {
    for (const value of [key.toString('base64url'), key.toString('hex')]) {
      expect(loadConfig({ KEY_ENCRYPTION_KEY: value, AUDIT_CHECKPOINT_KEY: value }).KEY_ENCRYPTION_KEY).toBe(value);
    }
  });

  it.each([
    ['KEY_ENCRYPTION_KEY', randomBytes(16).toString('hex')],
    ['KEY_ENCRYPTION_KEY', `${key.toString('base64url')}!`],
    ['AUDIT_CHECKPOINT_KEY', randomBytes(33).toString('base64url')],
    ['KEY_ROTATION_DAYS', '-1'],
    ['KEY_ROTATION_DAYS', 'monthly'],
    ['AUDIT_CHECKPOINT_INTERVAL_S', '-5'],
    ['AUDIT_CHECKPOINT_INTERVAL_S', '86401'],
  ])('refuses a bad %s, naming the variable and not the value', (name, value) => {
    let message = '';
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain(name);
    if (name.endsWith('_KEY')) expect(message).not.toContain(value);
  });

  it('requires KEY_ENCRYPTION_KEY when NODE_ENV=production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', ISSUER: 'https://deputy.example.com' })).toThrow(/KEY_ENCRYPTION_KEY: required when NODE_ENV=production/);
    expect(loadConfig({ NODE_ENV: 'production', ISSUER: 'https://deputy.example.com', KEY_ENCRYPTION_KEY: key.toString('hex') }).NODE_ENV).toBe('production');
  });
});
