/**
 * Free page hinting rounds end to end (VIRTIO balloon "Free Page Hinting"; Linux
 * virtio_balloon.c send_cmd_id_start / get_free_page_and_send / return_free_pages_to_mm; QEMU
 * virtio-balloon.c get_free_page_hints):
 * - the host's command ids start at 2 and are fresh; the driver sends one output buffer per id,
 *   hints only inside a round, and sends STOP when the id changes under it;
 * - the device keeps a hint only if its id is the current one when it takes the buffer;
 * - the device drops only pages unchanged since the hint (a page the guest reused after the
 *   shrinker gave its block back stays), a 2 MiB host page only whole, and records each change
 *   with the ids that allowed it;
 * - DONE makes the device forget every hint and the driver free every hinted block; settle ends
 *   a round the same way and takes nothing more from the queue.
 */
import { machine, stepper, type Stepper } from '../../fuzz/testing/scenario';
import { FRAMES_PER_2M, MAX_PAGE_ORDER } from '../constants';
import { ZERO } from '../content';
import { peekGuestPhysical } from '../mmu/peek';
import { Runner } from '../../fuzz/run';
import { FEATURES_OPTION, PRESENT_OPTION, VIRTIO_BALLOON_F_FREE_PAGE_HINT, VIRTIO_BALLOON_FEATURES_ALL } from '../balloon/virtio-balloon';
import {
  HINT_BLOCK_FRAMES, hintingOf, hintMark, settleHinting, VIRTIO_BALLOON_CMD_ID_DONE, VIRTIO_BALLOON_CMD_ID_STOP, VIRTIO_BALLOON_HINT_BLOCK_ORDER, type FreePageHinting,
} from './free-page-hinting';

const G = { guest: 0 };

function spawned(faults: string[] = [], huge = false): Stepper & { h: FreePageHinting } {
  const s = stepper(machine({}, faults, 1, huge));
  s.apply('guest.spawn', G);
  s.results.length = 0;
  return { ...s, h: hintingOf(s.world.guests[0]!)! };
}

function doneCount(s: Stepper): number {
  return s.world.transitions.get('free-page-hinting')?.get('requested->done') ?? 0;
}

test('without VIRTIO_BALLOON_F_FREE_PAGE_HINT the guest has no hinting state and the host cannot start a round', () => {
  const s = stepper(machine({ [FEATURES_OPTION]: VIRTIO_BALLOON_FEATURES_ALL & ~(1 << VIRTIO_BALLOON_F_FREE_PAGE_HINT) }));
  s.apply('guest.spawn', G);
  expect(hintingOf(s.world.guests[0]!)).toBeUndefined();
  expect(s.apply('fph.host.start', G)).toEqual({ ok: false, error: 'invalid' });
  // With every feature offered, the same guest has it.
  const t = stepper(machine({ [FEATURES_OPTION]: VIRTIO_BALLOON_FEATURES_ALL }));
  t.apply('guest.spawn', G);
  expect(hintingOf(t.world.guests[0]!)).toMatchObject({ cmdId: VIRTIO_BALLOON_CMD_ID_STOP, stopped: true });
  // Without a balloon device at all, neither.
  const u = stepper(machine({ [PRESENT_OPTION]: false }));
  u.apply('guest.spawn', G);
  expect(hintingOf(u.world.guests[0]!)).toBeUndefined();
});

test("each step that changes what hinting-device-rules checks marks the guest for the incremental check: the output buffer sent, each block hinted or given back, each page the device drops", () => {
  const marks: number[][] = [];
  const r = new Runner(machine({}), { check: 'incremental', onStep: () => marks.push([...(r.world.journal.marks.get(hintMark(r.world.guests[0]!)) ?? [])]) });
  r.apply({ kind: 'guest.spawn', args: G });
  const h = hintingOf(r.world.guests[0]!)!;
  marks.length = 0;
  const steps = ['fph.host.start', 'fph.driver.config', 'fph.driver.hint', 'fph.device.process', 'fph.device.process', 'fph.host.stop', 'fph.driver.hint'];
  for (const kind of steps) r.apply({ kind, args: G });
  const [head] = [...h.blocks.keys()];
  r.apply({ kind: 'fph.device.discard', args: { guest: 0, gfn: head! } });
  r.apply({ kind: 'fph.driver.release', args: { guest: 0, blocks: 1 } });
  expect(marks).toEqual([[], [-1], [head], [], [], [], [-1], Array.from({ length: HINT_BLOCK_FRAMES }, (_, i) => head! + i), [head]]);
  expect(r.violation).toBeNull();
});

test('the driver hints only inside a round, sends one output buffer per command id, and STOP when the host changes the id; ids start at 2 and are never reused', () => {
  const s = spawned();
  const { h } = s;
  const g = s.world.guests[0]!;
  // No round yet: nothing to send, nothing to hint.
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: false, error: 'invalid' });
  expect(s.apply('fph.driver.hint', G)).toEqual({ ok: false, error: 'invalid' });
  expect(h.vq).toEqual([]);
  expect(h.blocks.size).toBe(0);

  expect(s.apply('fph.host.start', G)).toEqual({ ok: true, value: 2 });
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: true });
  expect(h).toMatchObject({ cmdId: 2, active: 2, stopped: false, sentIds: [2] });
  expect(h.vq).toEqual([{ kind: 'cmd', id: 2 }]);
  // The same id again needs nothing: "MUST NOT provide more than one output buffer containing the current command ID".
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: false, error: 'invalid' });
  expect(h.sentIds).toEqual([2]);
  expect(h.vq.length).toBe(1);

  expect(s.apply('fph.driver.hint', G)).toEqual({ ok: true });
  const [head] = [...h.blocks.keys()];
  expect(h.blocks.get(head!)).toBe(2);
  expect(head! % HINT_BLOCK_FRAMES).toBe(0);
  expect(h.vq[1]).toMatchObject({ kind: 'page', head, id: 2 });
  const page = h.vq[1] as { seen: readonly unknown[] };
  expect(page.seen.length).toBe(HINT_BLOCK_FRAMES);
  // Every page of the block is the driver's, as one MAX_PAGE_ORDER block; the next gfn is not.
  for (const gfn of [head!, head! + 1, head! + HINT_BLOCK_FRAMES - 1]) expect(g.owners.get(gfn)).toEqual({ kind: 'hinting', order: MAX_PAGE_ORDER });
  expect(g.owners.get(head! + HINT_BLOCK_FRAMES)?.kind).not.toBe('hinting');

  // The host stops the round: the driver's next hint is its STOP, then it hints nothing.
  s.apply('fph.host.stop', G);
  expect(h.cmdId).toBe(VIRTIO_BALLOON_CMD_ID_STOP);
  expect(s.apply('fph.driver.hint', G)).toEqual({ ok: true });
  expect(h.stopped).toBe(true);
  expect(h.vq[h.vq.length - 1]).toEqual({ kind: 'cmd', id: VIRTIO_BALLOON_CMD_ID_STOP });
  expect(s.apply('fph.driver.hint', G)).toEqual({ ok: false, error: 'invalid' });
  expect(h.blocks.size).toBe(1);
  // STOP keeps the hinted block with the driver: nothing to release on STOP.
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: false, error: 'invalid' });

  expect(s.apply('fph.host.start', G)).toEqual({ ok: true, value: 3 });
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: true });
  expect(h.sentIds).toEqual([2, 3]);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('the device keeps a hint only while its command id is current: hints queued before a new id, or before STOP, are ignored', () => {
  const s = spawned();
  const { h } = s;
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  s.apply('fph.driver.hint', G);
  const [a, b] = [...h.blocks.keys()];
  expect(s.apply('fph.device.process', G)).toEqual({ ok: true }); // output buffer of id 2
  expect(h.deviceHints.size).toBe(0);
  expect(s.apply('fph.device.process', G)).toEqual({ ok: true });
  expect([...h.deviceHints.keys()]).toEqual([a]);
  expect(h.deviceHints.get(a!)?.id).toBe(2);
  // A new id before the device takes the second hint: that hint is stale.
  s.apply('fph.host.start', G);
  expect(s.apply('fph.device.process', G)).toEqual({ ok: true });
  expect([...h.deviceHints.keys()]).toEqual([a]);
  // The driver notices (STOP), starts id 3 and hints again: the device takes that one.
  s.apply('fph.driver.hint', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  const c = [...h.blocks.keys()].find((k) => k !== a && k !== b)!;
  expect(h.blocks.get(c)).toBe(3);
  for (let i = 0; i < 3; i++) expect(s.apply('fph.device.process', G)).toEqual({ ok: true });
  expect(h.vq).toEqual([]);
  expect(h.deviceHints.get(c)?.id).toBe(3);
  expect(h.deviceHints.has(b!)).toBe(false);
  expect(s.apply('fph.device.process', G)).toEqual({ ok: false, error: 'invalid' });
  // The host stops the round: a hint already queued under id 3 is ignored too.
  s.apply('fph.driver.hint', G);
  const d = [...h.blocks.keys()].find((k) => h.blocks.get(k) === 3 && k !== c)!;
  s.apply('fph.host.stop', G);
  s.apply('fph.device.process', G);
  expect(h.deviceHints.has(d)).toBe(false);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

/**
 * A hinted block whose first page holds old data; the device holds the hint. The shrinker then
 * gives the block back and the guest reuses it, writing its first page again.
 */
function hintedThenReused(huge: boolean): { s: ReturnType<typeof spawned>; head: number } {
  const s = spawned([], huge);
  const g = s.world.guests[0]!;
  expect(s.apply('guest.kalloc', { guest: 0, order: VIRTIO_BALLOON_HINT_BLOCK_ORDER, mt: 'MOVABLE' })).toEqual({ ok: true, value: 1 });
  const head = g.kernelAllocs.get(1)!.gfn;
  s.apply('guest.kwrite', { guest: 0, alloc: 1 });
  s.apply('guest.kfree', { guest: 0, alloc: 1 });
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  expect([...s.h.blocks.keys()]).toEqual([head]);
  s.apply('fph.device.process', G);
  s.apply('fph.device.process', G);
  expect(s.h.deviceHints.has(head)).toBe(true);
  expect(s.apply('fph.driver.release', { guest: 0, blocks: 5 })).toEqual({ ok: true, value: 1 });
  expect(g.owners.has(head)).toBe(false);
  // Nothing hinted is left to give back: refused, not a release of nothing.
  expect(s.apply('fph.driver.release', { guest: 0, blocks: 1 })).toEqual({ ok: false, error: 'invalid' });
  expect(s.apply('guest.kalloc', { guest: 0, order: VIRTIO_BALLOON_HINT_BLOCK_ORDER, mt: 'MOVABLE' })).toEqual({ ok: true, value: 2 });
  expect(g.kernelAllocs.get(2)!.gfn).toBe(head);
  s.apply('guest.kwrite', { guest: 0, alloc: 2 });
  return { s, head };
}

test('the device drops only the pages unchanged since the hint: the page the guest wrote again stays, the rest read zero; each change is recorded with its ids', () => {
  const { s, head } = hintedThenReused(false);
  const g = s.world.guests[0]!;
  const { h } = s;
  const written = peekGuestPhysical(s.world, g, head);
  expect(written.kind).toBe('data');
  // A second round started: the older hint, still unwritten, stays usable.
  s.apply('fph.host.start', G);
  const step = s.r.step;
  expect(s.apply('fph.device.discard', { guest: 0, gfn: head })).toEqual({ ok: true, value: HINT_BLOCK_FRAMES - 1 });
  expect(peekGuestPhysical(s.world, g, head)).toBe(written);
  expect(g.backing.has(head)).toBe(true);
  expect(peekGuestPhysical(s.world, g, head + 1)).toBe(ZERO);
  expect(h.modifications.length).toBe(HINT_BLOCK_FRAMES - 1);
  expect(h.modifications.map((m) => m.gfn)).toEqual(Array.from({ length: HINT_BLOCK_FRAMES - 1 }, (_, i) => head + 1 + i));
  expect(h.modifications[0]).toEqual({ gfn: head + 1, cmdIdAt: 3, hintId: 2, unchangedSinceHint: true, step });
  // The hint is used up.
  expect(h.deviceHints.has(head)).toBe(false);
  expect(s.apply('fph.device.discard', { guest: 0, gfn: head })).toEqual({ ok: false, error: 'invalid' });
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('a page written since the hint anywhere in the block stays: the guest reuses the second page of a given-back block, the device drops the other 1023', () => {
  const s = spawned();
  const g = s.world.guests[0]!;
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  const [head] = [...s.h.blocks.keys()];
  s.apply('fph.device.process', G);
  s.apply('fph.device.process', G);
  s.apply('fph.driver.release', { guest: 0, blocks: 1 });
  const ids = [0, 1].map(() => s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'MOVABLE' }).value!);
  expect(ids.map((id) => g.kernelAllocs.get(id)!.gfn)).toEqual([head, head! + 1]);
  s.apply('guest.kwrite', { guest: 0, alloc: ids[1]! });
  const written = peekGuestPhysical(s.world, g, head! + 1);
  expect(s.apply('fph.device.discard', { guest: 0, gfn: head! })).toEqual({ ok: true, value: HINT_BLOCK_FRAMES - 1 });
  expect(peekGuestPhysical(s.world, g, head! + 1)).toBe(written);
  expect(s.h.modifications.some((m) => m.gfn === head! + 1)).toBe(false);
  expect(s.h.modifications.some((m) => m.gfn === head)).toBe(true);
  expect(s.r.violation).toBeNull();
});

test('on 2 MiB host pages the device drops a host page only whole: the unit holding the rewritten page stays, the other goes', () => {
  const { s, head } = hintedThenReused(true);
  const g = s.world.guests[0]!;
  const first = head / FRAMES_PER_2M;
  expect(HINT_BLOCK_FRAMES).toBe(2 * FRAMES_PER_2M);
  expect(g.hugeBacked.has(first)).toBe(true);
  expect(g.hugeBacked.has(first + 1)).toBe(true);
  const kept = g.backing.get(head + 1);
  expect(s.apply('fph.device.discard', { guest: 0, gfn: head })).toEqual({ ok: true, value: FRAMES_PER_2M });
  expect(g.hugeBacked.has(first)).toBe(true);
  expect(g.backing.get(head + 1)).toBe(kept);
  expect(g.hugeBacked.has(first + 1)).toBe(false);
  expect(g.backing.has(head + FRAMES_PER_2M)).toBe(false);
  expect(s.h.modifications.map((m) => m.gfn)).toEqual(Array.from({ length: FRAMES_PER_2M }, (_, i) => head + FRAMES_PER_2M + i));
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('on 2 MiB host pages a unit whose pages hold different old data, none written since the hint, is dropped whole: the guest reads zero there', () => {
  const s = spawned([], true);
  const g = s.world.guests[0]!;
  // Three kernel pages written and freed: the old data the driver's hint then covers.
  const ids = [0, 1, 2].map(() => s.apply('guest.kalloc', { guest: 0, order: 0, mt: 'MOVABLE' }).value!);
  const gfns = ids.map((id) => g.kernelAllocs.get(id)!.gfn);
  for (const id of ids) s.apply('guest.kwrite', { guest: 0, alloc: id });
  for (const id of ids) s.apply('guest.kfree', { guest: 0, alloc: id });
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  const [head] = [...s.h.blocks.keys()];
  expect(gfns).toEqual([head, head! + 1, head! + 2]);
  const unit = head! / FRAMES_PER_2M;
  expect(g.hugeBacked.has(unit)).toBe(true);
  const contents = gfns.map((gfn) => peekGuestPhysical(s.world, g, gfn));
  expect(new Set(contents).size).toBe(3);
  for (const c of contents) expect(c.kind).toBe('data');
  s.apply('fph.device.process', G);
  s.apply('fph.device.process', G);
  expect(s.apply('fph.device.discard', { guest: 0, gfn: head! })).toEqual({ ok: true, value: HINT_BLOCK_FRAMES });
  expect(g.hugeBacked.has(unit)).toBe(false);
  for (const gfn of gfns) expect(peekGuestPhysical(s.world, g, gfn)).toBe(ZERO);
  expect(s.h.modifications.length).toBe(HINT_BLOCK_FRAMES);
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('DONE: the device forgets every hint and the driver frees every hinted block; with nothing held DONE needs nothing from the driver', () => {
  const s = spawned();
  const { h } = s;
  const g = s.world.guests[0]!;
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  s.apply('fph.driver.hint', G);
  for (let i = 0; i < 3; i++) s.apply('fph.device.process', G);
  const heads = [...h.blocks.keys()];
  expect([...h.deviceHints.keys()]).toEqual(heads);
  s.apply('fph.host.done', G);
  expect(h.cmdId).toBe(VIRTIO_BALLOON_CMD_ID_DONE);
  expect(h.deviceHints.size).toBe(0);
  expect(s.apply('fph.device.discard', { guest: 0, gfn: heads[0]! })).toEqual({ ok: false, error: 'invalid' });
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: true });
  expect(h.blocks.size).toBe(0);
  for (const head of heads) {
    expect(g.owners.has(head)).toBe(false);
    expect(g.owners.has(head + HINT_BLOCK_FRAMES - 1)).toBe(false);
    expect(g.buddy.freeBlockAt(head)?.order).toBe(MAX_PAGE_ORDER);
  }
  expect(s.apply('fph.driver.config', G)).toEqual({ ok: false, error: 'invalid' });
  expect(s.r.violation).toBeNull();
  expect(s.r.finish()).toBeNull();
});

test('settle ends a round: DONE once, the queue given back without a hint taken, every hinted block freed; a round already DONE is not ended again', () => {
  // With the device keeping its hints past DONE (the injected fault), what it holds after settle
  // shows what it took: only what it had taken before.
  const s = spawned(['fph-device-modifies-after-done']);
  const { h } = s;
  s.apply('fph.host.start', G);
  s.apply('fph.driver.config', G);
  s.apply('fph.driver.hint', G);
  s.apply('fph.device.process', G);
  s.apply('fph.device.process', G);
  s.apply('fph.driver.hint', G);
  s.apply('fph.driver.hint', G);
  const [taken] = [...h.deviceHints.keys()];
  expect(h.vq.length).toBe(2);
  expect(h.blocks.size).toBe(3);
  expect(doneCount(s)).toBe(0);
  settleHinting(s.world, s.world.guests[0]!, h);
  expect(h.cmdId).toBe(VIRTIO_BALLOON_CMD_ID_DONE);
  expect(doneCount(s)).toBe(1);
  expect(h.vq).toEqual([]);
  expect([...h.deviceHints.keys()]).toEqual([taken]);
  expect(h.blocks.size).toBe(0);

  const t = spawned();
  t.apply('fph.host.start', G);
  t.apply('fph.driver.config', G);
  t.apply('fph.driver.hint', G);
  t.apply('fph.host.done', G);
  expect(doneCount(t)).toBe(1);
  settleHinting(t.world, t.world.guests[0]!, t.h);
  expect(doneCount(t)).toBe(1);
  expect(t.h.blocks.size).toBe(0);
  expect(t.h.vq).toEqual([]);
  expect(t.r.violation).toBeNull();
  expect(t.r.finish()).toBeNull();
});
