/**
 * The TLB against a reference written the obvious way: a list of entries in insertion order,
 * searched linearly. The Tlb keeps three indexes (per tag and size, per host frame, per guest
 * frame) so that lookups and invalidations are cheap; on any sequence of fills, lookups and
 * invalidations (SDM vol. 3C 29.4: INVLPG, INVVPID, INVEPT single-context and global, a PCID
 * flush), both must give the same answers, evict the same entries (oldest first at capacity)
 * and count the same statistics. The addresses are drawn from a few pages so that tags, sizes,
 * host frames and EPT roots collide often.
 */
import fc from 'fast-check';
import { FRAMES_PER_1G, FRAMES_PER_2M } from '../constants';
import { Journal } from '../journal';
import { Tlb, type TlbEntry } from './tlb';

const SIZES = [1, FRAMES_PER_2M, FRAMES_PER_1G] as const;

/** The reference: the same interface, no indexes. */
class ListTlb {
  entries: TlbEntry[] = [];
  readonly stats = { inserts: 0, evictions: 0, invlpg: 0, invvpid: 0, inveptSingle: 0, inveptGlobal: 0 };
  constructor(readonly capacity: number) {}

  private sameTag(e: TlbEntry, vpid: number, pcid: number): boolean {
    return e.vpid === vpid && e.pcid === pcid;
  }

  lookup(vpid: number, pcid: number, eptRoot: number, vpn: number): TlbEntry | undefined {
    for (const size of SIZES) {
      const e = this.entries.find((x) => this.sameTag(x, vpid, pcid) && x.frames === size && x.vpnBase === vpn - (vpn % size));
      if (e && e.eptRoot === eptRoot) return e;
    }
    return undefined;
  }

  overlapping(vpid: number, pcid: number, start: number, end: number): TlbEntry[] {
    return this.entries.filter((e) => this.sameTag(e, vpid, pcid) && e.vpnBase < end && e.vpnBase + e.frames > start);
  }

  coveringHost(hfn: number): TlbEntry[] {
    return this.entries.filter((e) => e.hfnBase === hfn - (hfn % e.frames));
  }

  coveringGuestFrame(vpid: number, gfn: number): TlbEntry[] {
    return this.entries.filter((e) => e.vpid === vpid && e.gfnBase === gfn - (gfn % e.frames));
  }

  insert(e: TlbEntry): void {
    this.entries = this.entries.filter((x) => !(this.sameTag(x, e.vpid, e.pcid) && x.frames === e.frames && x.vpnBase === e.vpnBase));
    if (this.entries.length >= this.capacity) {
      this.entries.shift();
      this.stats.evictions++;
    }
    this.entries.push(e);
    this.stats.inserts++;
  }

  private drop(p: (e: TlbEntry) => boolean): void {
    this.entries = this.entries.filter((e) => !p(e));
  }

  invlpg(vpid: number, pcid: number, vpn: number): void {
    this.stats.invlpg++;
    this.drop((e) => this.sameTag(e, vpid, pcid) && e.vpnBase <= vpn && vpn < e.vpnBase + e.frames);
  }

  flushPcid(vpid: number, pcid: number): void {
    this.drop((e) => this.sameTag(e, vpid, pcid));
  }

  invvpid(vpid: number): void {
    this.stats.invvpid++;
    this.drop((e) => e.vpid === vpid);
  }

  inveptSingle(root: number): void {
    this.stats.inveptSingle++;
    this.drop((e) => e.eptRoot === root);
  }

  inveptGlobal(): void {
    this.stats.inveptGlobal++;
    this.entries = [];
  }

  /** Distinct (size, host base) and (size, VPID, guest base) of the live entries. */
  indexKeys(): { host: number; guest: number } {
    const distinct = (key: (e: TlbEntry) => string) => new Set(this.entries.map(key)).size;
    return { host: distinct((e) => `${e.frames} ${e.hfnBase}`), guest: distinct((e) => `${e.frames} ${e.vpid} ${e.gfnBase}`) };
  }
}

type Cmd =
  | { op: 'insert'; e: TlbEntry }
  | { op: 'lookup'; vpid: number; pcid: number; root: number; vpn: number }
  | { op: 'overlapping'; vpid: number; pcid: number; vpn: number; pages: number }
  | { op: 'coveringHost'; hfn: number }
  | { op: 'coveringGuestFrame'; vpid: number; gfn: number }
  | { op: 'invlpg'; vpid: number; pcid: number; vpn: number }
  | { op: 'flushPcid'; vpid: number; pcid: number }
  | { op: 'invvpid'; vpid: number }
  | { op: 'inveptSingle'; root: number }
  | { op: 'inveptGlobal' };

const vpid = fc.integer({ min: 0, max: 2 });
const pcid = fc.constantFrom(0, 1, 4095);
const root = fc.constantFrom(0x100, 0x200);
/** A page near one of a few 1 GiB-aligned bases, so every size overlaps the others. */
const page = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom(0, 1, 2, 511, 512, 513, 1023, 1024, 1500))
  .map(([g, off]) => g * FRAMES_PER_1G + off);

const entry: fc.Arbitrary<TlbEntry> = fc
  .record({
    vpid,
    pcid,
    eptRoot: root,
    s: fc.constantFrom(0, 0, 0, 1, 1, 2),
    vpn: page,
    hfn: page,
    gfn: page,
    writable: fc.boolean(),
    nx: fc.boolean(),
    dirty: fc.boolean(),
  })
  .map(({ s, vpn, hfn, gfn, ...rest }) => {
    const frames = SIZES[s]!;
    const align = (n: number) => n - (n % frames);
    return { ...rest, frames, vpnBase: align(vpn), hfnBase: align(hfn), gfnBase: align(gfn) };
  });

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: entry.map((e) => ({ op: 'insert' as const, e })) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('lookup' as const), vpid, pcid, root, vpn: page }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('overlapping' as const), vpid, pcid, vpn: page, pages: fc.constantFrom(1, 2, 600, FRAMES_PER_2M * 2, FRAMES_PER_1G * 2) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('coveringHost' as const), hfn: page }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('coveringGuestFrame' as const), vpid, gfn: page }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invlpg' as const), vpid, pcid, vpn: page }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('flushPcid' as const), vpid, pcid }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('invvpid' as const), vpid }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('inveptSingle' as const), root }) },
  { weight: 1, arbitrary: fc.constant({ op: 'inveptGlobal' as const }) },
);

/** Entries as comparable keys, in the order given. */
const keys = (es: Iterable<TlbEntry>) => [...es].map((e) => JSON.stringify(e));
const sortedKeys = (es: Iterable<TlbEntry>) => keys(es).sort();

function apply(t: Tlb | ListTlb, c: Cmd): unknown {
  switch (c.op) {
    case 'insert':
      return t.insert(c.e);
    case 'lookup':
      return t.lookup(c.vpid, c.pcid, c.root, c.vpn) ?? null;
    case 'overlapping':
      return sortedKeys(t.overlapping(c.vpid, c.pcid, c.vpn, c.vpn + c.pages));
    case 'coveringHost':
      return sortedKeys(t.coveringHost(c.hfn));
    case 'coveringGuestFrame':
      return sortedKeys(t.coveringGuestFrame(c.vpid, c.gfn));
    case 'invlpg':
      return t.invlpg(c.vpid, c.pcid, c.vpn);
    case 'flushPcid':
      return t.flushPcid(c.vpid, c.pcid);
    case 'invvpid':
      return t.invvpid(c.vpid);
    case 'inveptSingle':
      return t.inveptSingle(c.root);
    case 'inveptGlobal':
      return t.inveptGlobal();
  }
}

test('the indexed TLB answers, evicts and counts exactly as a plain list of entries', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(cmd, { minLength: 10, maxLength: 60, size: 'max' }), (capacity, cmds) => {
      const tlb = new Tlb(new Journal(), capacity);
      const ref = new ListTlb(capacity);
      for (const c of cmds) {
        expect(apply(tlb, c)).toEqual(apply(ref, c));
        expect(keys(tlb.entries())).toEqual(keys(ref.entries));
        expect(tlb.size).toBe(ref.entries.length);
        expect(tlb.indexKeys()).toEqual(ref.indexKeys());
      }
      expect(tlb.stats).toEqual(ref.stats);
    }),
    { seed: 29, numRuns: 150 },
  );
});

test('a range excludes its end on both search paths: probing each base and scanning the map', () => {
  const tlb = new Tlb(new Journal());
  const at = (vpnBase: number): TlbEntry => ({ vpid: 0, pcid: 0, eptRoot: 1, vpnBase, frames: 1, hfnBase: vpnBase, gfnBase: vpnBase, writable: true, nx: false, dirty: true });
  tlb.insert(at(1023));
  tlb.insert(at(1024));
  // 1024 bases in [0, 1024) against 2 entries: the map is scanned.
  expect(tlb.overlapping(0, 0, 0, 1024).map((e) => e.vpnBase)).toEqual([1023]);
  for (const v of [1020, 1021, 1022]) tlb.insert(at(v));
  // 3 bases in [1021, 1024) against 5 entries: each base is probed.
  expect(tlb.overlapping(0, 0, 1021, 1024).map((e) => e.vpnBase)).toEqual([1021, 1022, 1023]);
});

test('a lookup hits only an entry of its own VPID, PCID and EPT root', () => {
  const tlb = new Tlb(new Journal());
  const e: TlbEntry = { vpid: 1, pcid: 4095, eptRoot: 0x100, vpnBase: 512, frames: 512, hfnBase: 1024, gfnBase: 2048, writable: true, nx: false, dirty: true };
  tlb.insert(e);
  expect(tlb.lookup(1, 4095, 0x100, 700)).toBe(e);
  expect(tlb.lookup(1, 4095, 0x200, 700)).toBeUndefined();
  expect(tlb.lookup(2, 4095, 0x100, 700)).toBeUndefined();
  expect(tlb.lookup(1, 0, 0x100, 700)).toBeUndefined();
  expect(tlb.lookup(1, 4095, 0x100, 1024)).toBeUndefined();
});

test('an entry of a size the hardware does not have is refused', () => {
  const tlb = new Tlb(new Journal());
  const e: TlbEntry = { vpid: 0, pcid: 0, eptRoot: 1, vpnBase: 0, frames: 4, hfnBase: 0, gfnBase: 0, writable: false, nx: false, dirty: false };
  expect(() => tlb.insert(e)).toThrow(new RangeError('TLB entry of 4 frames'));
  expect(tlb.size).toBe(0);
});

test('each invalidation is written to the journal for replay, with its operands', () => {
  const journal = new Journal();
  journal.changes = [];
  const tlb = new Tlb(journal);
  const e: TlbEntry = { vpid: 3, pcid: 7, eptRoot: 0x2000, vpnBase: 0x10, frames: 1, hfnBase: 5, gfnBase: 6, writable: true, nx: true, dirty: false };
  tlb.insert(e);
  tlb.invlpg(3, 7, 0x10);
  tlb.insert(e);
  tlb.flushPcid(3, 7);
  tlb.invvpid(3);
  tlb.inveptSingle(0x2000);
  tlb.inveptGlobal();
  expect(journal.changes).toEqual([
    'TLB: INVLPG vpid 3 pcid 7 va 0x10000',
    'TLB: flush vpid 3 pcid 7',
    'TLB: INVVPID 3',
    'TLB: INVEPT single-context root 0x2000',
    'TLB: INVEPT global',
  ]);
});
