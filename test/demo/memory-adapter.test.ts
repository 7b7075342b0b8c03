/**
 * The demo identity provider's in-memory storage: entries expire, a consumed code stays
 * consumed, a grant's entries go with it, and unauthenticated traffic cannot grow it past
 * MAX_ENTRIES (the oldest writes go first).
 */
import { describe, expect, it, jest } from '@jest/globals';
import { MAX_ENTRIES, memoryAdapter } from '../../src/demo/identity-provider.js';

describe('the demo identity provider’s memory adapter', () => {
  it('finds what it stored until it expires, by id and by uid, per model', async () => {
    const Adapter = memoryAdapter();
    const interactions = new Adapter('Interaction');
    const sessions = new Adapter('Session');
    await interactions.upsert('i1', { uid: 'u1', kind: 'Interaction' }, 60);
    expect(await interactions.find('i1')).toMatchObject({ uid: 'u1' });
    expect(await interactions.findByUid!('u1')).toMatchObject({ uid: 'u1' });
    expect(await sessions.find('i1')).toBeUndefined();
    expect(await sessions.findByUid!('u1')).toBeUndefined();
    jest.useFakeTimers({ now: Date.now() + 61_000, doNotFake: ['nextTick', 'setImmediate'] });
    try {
      expect(await interactions.find('i1')).toBeUndefined();
      expect(await interactions.findByUid!('u1')).toBeUndefined();
    } finally {
      jest.useRealTimers();
    }
  });

  it('consume marks the entry; destroy and revokeByGrantId remove it', async () => {
    const Adapter = memoryAdapter();
    const codes = new Adapter('AuthorizationCode');
    await codes.upsert('c1', { grantId: 'g1' }, 60);
    await codes.upsert('c2', { grantId: 'g2' }, 60);
    await codes.consume('c1');
    expect((await codes.find('c1'))?.consumed).toEqual(expect.any(Number));
    await codes.revokeByGrantId('g1');
    expect(await codes.find('c1')).toBeUndefined();
    await codes.destroy('c2');
    expect(await codes.find('c2')).toBeUndefined();
  });

  it('holds at most MAX_ENTRIES, dropping the oldest writes first', async () => {
    const Adapter = memoryAdapter();
    const interactions = new Adapter('Interaction');
    for (let i = 0; i < MAX_ENTRIES + 5; i++) await interactions.upsert(`i${i}`, { uid: `u${i}` }, 600);
    for (let i = 0; i < 5; i++) expect(await interactions.find(`i${i}`)).toBeUndefined();
    expect(await interactions.find('i5')).toBeDefined();
    expect(await interactions.find(`i${MAX_ENTRIES + 4}`)).toBeDefined();
    // Writing an entry again makes it the newest.
    await interactions.upsert('i5', { uid: 'u5' }, 600);
    await interactions.upsert('extra', { uid: 'extra' }, 600);
    expect(await interactions.find('i5')).toBeDefined();
    expect(await interactions.find('i6')).toBeUndefined();
  });
});
