/**
 * The tmem backend's own rules (xen/common/tmem.c; Documentation/vm/cleancache.rst and
 * frontswap.rst): a fixed budget of host frames shared by every pool, the oldest ephemeral page
 * evicted to make room and never a persistent one, a re-put refreshing an ephemeral page's age,
 * gets destructive only for private ephemeral pools, and the host's own reclaim taking
 * ephemeral pages oldest first.
 */
import { machine, stepper } from '../../fuzz/testing/scenario';
import { poison, type Content } from '../content';
import type { World } from '../world';
import { createPool, tmemGet, tmemHolds, tmemHostReclaim, tmemPeek, tmemPut, tmemFlushPage, tmemUsed, type Pool, type PoolKind } from './backend';

function world(frames: number): World {
  return stepper(machine({ 'cleancache.enabled': false, 'frontswap.enabled': false, 'tmem.frames': frames })).world;
}

function pool(w: World, kind: PoolKind, shared = false): Pool {
  return createPool(w, { kind, shared, owner: shared ? -1 : 0, uuid: 0, members: [0], use: 'api', disk: 0 });
}

const page = (n: number): Content => poison(n);

test('the budget holds every pool: a put into a full budget evicts the oldest ephemeral page, and the count stays at the budget', () => {
  const w = world(3);
  const e = pool(w, 'ephemeral');
  for (const k of [0, 1, 2]) expect(tmemPut(w, e, k, page(k))).toBe(true);
  expect(tmemUsed(w)).toBe(3);
  expect(tmemPut(w, e, 3, page(3))).toBe(true);
  expect(tmemUsed(w)).toBe(3);
  expect([0, 1, 2, 3].map((k) => tmemPeek(w, e, k))).toEqual([undefined, page(1), page(2), page(3)]);
});

test('re-putting an ephemeral page refreshes its age: the next eviction takes the next oldest', () => {
  const w = world(3);
  const e = pool(w, 'ephemeral');
  for (const k of [0, 1, 2]) tmemPut(w, e, k, page(k));
  expect(tmemPut(w, e, 0, page(9))).toBe(true);
  expect(tmemUsed(w)).toBe(3);
  tmemPut(w, e, 3, page(3));
  expect([0, 1, 2, 3].map((k) => tmemPeek(w, e, k))).toEqual([page(9), undefined, page(2), page(3)]);
});

test('a persistent page is never evicted, even after it was overwritten; with only persistent pages the budget refuses', () => {
  const w = world(2);
  const p = pool(w, 'persistent');
  const e = pool(w, 'ephemeral');
  tmemPut(w, p, 0, page(1));
  expect(tmemPut(w, p, 0, page(2))).toBe(true);
  tmemPut(w, e, 0, page(3));
  expect(tmemPut(w, e, 1, page(4))).toBe(true);
  expect([tmemPeek(w, p, 0), tmemPeek(w, e, 0), tmemPeek(w, e, 1)]).toEqual([page(2), undefined, page(4)]);
  expect(tmemPut(w, p, 1, page(5))).toBe(true); // evicts the ephemeral page
  expect(tmemPut(w, p, 2, page(6))).toBe(false);
  expect([tmemUsed(w), tmemPeek(w, p, 2)]).toEqual([2, undefined]);
});

test('a flushed page leaves the eviction order too: the budget it freed is used, and the next eviction finds a real page', () => {
  const w = world(1);
  const e = pool(w, 'ephemeral');
  tmemPut(w, e, 0, page(0));
  tmemFlushPage(w, e, 0);
  expect(tmemUsed(w)).toBe(0);
  expect(tmemPut(w, e, 1, page(1))).toBe(true);
  expect(tmemPut(w, e, 2, page(2))).toBe(true);
  expect([tmemPeek(w, e, 1), tmemPeek(w, e, 2), tmemUsed(w)]).toEqual([undefined, page(2), 1]);
});

test('gets: destructive from a private ephemeral pool only; a persistent or shared page stays', () => {
  const w = world(8);
  const priv = pool(w, 'ephemeral');
  const shared = pool(w, 'ephemeral', true);
  const pers = pool(w, 'persistent');
  for (const x of [priv, shared, pers]) tmemPut(w, x, 7, page(x.id));
  expect([tmemGet(w, priv, 7), tmemGet(w, priv, 7)]).toEqual([page(priv.id), undefined]);
  expect([tmemGet(w, shared, 7), tmemGet(w, shared, 7)]).toEqual([page(shared.id), page(shared.id)]);
  expect([tmemGet(w, pers, 7), tmemGet(w, pers, 7)]).toEqual([page(pers.id), page(pers.id)]);
  expect(tmemUsed(w)).toBe(2);
});

test("the host's reclaim takes ephemeral pages oldest first, as many as asked, then stops before any persistent page", () => {
  const w = world(8);
  const e = pool(w, 'ephemeral');
  const p = pool(w, 'persistent');
  tmemPut(w, p, 0, page(100));
  for (const k of [0, 1, 2]) tmemPut(w, e, k, page(k));
  expect(tmemHostReclaim(w, 2)).toBe(2);
  expect([0, 1, 2].map((k) => tmemPeek(w, e, k))).toEqual([undefined, undefined, page(2)]);
  expect(tmemHostReclaim(w, 5)).toBe(1);
  expect([tmemPeek(w, e, 2), tmemPeek(w, p, 0), tmemUsed(w)]).toEqual([undefined, page(100), 1]);
});

test('tmemHolds (the ownership check): true only for the frame the pool keeps under that key', () => {
  const w = world(3);
  const e = pool(w, 'ephemeral');
  expect(tmemPut(w, e, 1, page(1))).toBe(true);
  const hfn = e.pages.get(1)!;
  expect(tmemHolds(w, e.id, 1, hfn)).toBe(true);
  expect([tmemHolds(w, e.id, 2, hfn), tmemHolds(w, e.id, 1, hfn + 1), tmemHolds(w, e.id + 1, 1, hfn)]).toEqual([false, false, false]);
});
