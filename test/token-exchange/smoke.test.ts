import { describe, expect, it } from '@jest/globals';
import { OAuthError } from '../../src/errors.js';

describe('OAuthError', () => {
  it('maps codes to statuses', () => {
    expect(new OAuthError('invalid_client', 'x').status).toBe(401);
  });
});
