/**
 * World.transition: the coverage counter of state-machine edges. In a world built by the
 * registry (createWorld) only the edges the mechanisms declare may be taken, so a misspelt
 * state or mechanism in the model is refused at once, not counted as coverage of an edge of no
 * state machine; a world with an injected fault may take a forbidden edge.
 */
import { machine } from '../fuzz/testing/scenario';
import { createWorld, declaredTransitions } from './registry';
import { isRefusal } from './result';
import type { World } from './world';

function world(faults: string[] = []): World {
  const w = createWorld(machine({}, faults));
  if (isRefusal(w)) throw new Error(w.detail);
  return w;
}

test('a declared edge is counted per mechanism', () => {
  const w = world();
  expect(w.declared).toBe(declaredTransitions);
  expect(declaredTransitions['virtio-balloon']).toContain('guest->inflating');
  w.transition('virtio-balloon', 'guest', 'inflating');
  w.transition('virtio-balloon', 'guest', 'inflating');
  expect(w.transitions.get('virtio-balloon')?.get('guest->inflating')).toBe(2);
});

test.each([
  ['virtio-balloon', 'inflating', 'deflating'],
  ['', 'guest', 'inflating'],
  ['virtio-balloon', '', 'inflating'],
  ['virtio-balloon', 'guest', ''],
])('fault-free, the undeclared edge %s %s->%s is refused and not counted', (mechanism, from, to) => {
  const w = world();
  expect(() => w.transition(mechanism, from, to)).toThrow(`transition ${mechanism} ${from}->${to} is not declared by any mechanism`);
  expect(w.transitions.get(mechanism)?.get(`${from}->${to}`)).toBeUndefined();
});

test('with a fault injected, a forbidden edge is taken and counted', () => {
  const w = world(['vballoon-deflate-before-inflate-ack']);
  w.transition('virtio-balloon', 'inflating', 'deflating');
  expect(w.transitions.get('virtio-balloon')?.get('inflating->deflating')).toBe(1);
});

test('the host allocator and swap device carry the names reports and journal marks use', () => {
  const w = world();
  expect(w.hostBuddy.name).toBe('host');
  expect(w.hostSwapDevice.markKey).toBe('swap:host');
});
