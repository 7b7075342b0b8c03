import { describe, expect, it } from '@jest/globals';
import { mayIntrospect } from '../../src/oauth/introspection-policy.js';

describe('mayIntrospect (RFC 7662 §4)', () => {
  const token = { clientId: 'app', audience: 'https://api.example/tickets' };
  const caller = (clientId: string, scopes: string[] = [], protectedResources: string[] = []) => ({ clientId, scopes, protectedResources });

  it('answers the token’s own client, a resource server of its audience and an admin', () => {
    expect(mayIntrospect(caller('app'), token)).toBe(true);
    expect(mayIntrospect(caller('rs', [], ['https://api.example/tickets']), token)).toBe(true);
    expect(mayIntrospect(caller('ops', ['deputy:admin']), token)).toBe(true);
    expect(mayIntrospect(caller('rs', [], ['https://api.example/billing', 'https://api.example/tickets']), { ...token, audience: ['https://api.example/tickets'] })).toBe(true);
  });

  it('refuses everyone else', () => {
    expect(mayIntrospect(caller('other'), token)).toBe(false);
    expect(mayIntrospect(caller('rs', [], ['https://api.example/billing']), token)).toBe(false);
    expect(mayIntrospect(caller('rs', ['deputy:admins', 'admin']), token)).toBe(false);
    expect(mayIntrospect(caller('rs', [], ['https://api.example']), token)).toBe(false); // no prefix matching
    expect(mayIntrospect(caller('app'), { clientId: null, audience: null })).toBe(false);
  });
});
