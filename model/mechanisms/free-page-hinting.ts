/**
 * free-page-hinting (issue 3): the balloon's free_page_vq (model/reporting/free-page-hinting.ts).
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { int, type OperationDef } from '../ops/operation';
import { ok, refuse } from '../result';
import {
  deviceDiscard, deviceProcess, driverConfig, driverHint, hintingOf, hostDone, hostStart, hostStop, registerHinting, releaseBlocks, settleHinting,
} from '../reporting/free-page-hinting';
import { GFN, GUEST, withDevice } from './device-args';
import { hex } from '../../properties/violation';

const M = 'free-page-hinting';

const operations: readonly OperationDef[] = [
  {
    name: 'fph.host.start', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => { const x = withDevice(w, a, hintingOf, 'free page hinting'); return 'ok' in x ? x : ok(hostStart(w, x.d)); },
  },
  {
    name: 'fph.host.stop', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => { const x = withDevice(w, a, hintingOf, 'free page hinting'); if ('ok' in x) return x; hostStop(w, x.d); return ok(); },
  },
  {
    name: 'fph.host.done', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => { const x = withDevice(w, a, hintingOf, 'free page hinting'); if ('ok' in x) return x; hostDone(w, x.d); return ok(); },
  },
  {
    name: 'fph.driver.config', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, hintingOf, 'free page hinting');
      if ('ok' in x) return x;
      const r = driverConfig(w, x.g, x.d);
      return r === 'nothing' ? refuse('invalid', `g${x.g.id}: command id ${x.d.cmdId} needs nothing`) : ok();
    },
  },
  {
    name: 'fph.driver.hint', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, hintingOf, 'free page hinting');
      if ('ok' in x) return x;
      return driverHint(w, x.g, x.d) === 'idle' ? refuse('invalid', `g${x.g.id}: not hinting`) : ok();
    },
  },
  {
    name: 'fph.driver.release', mechanism: M, args: { guest: GUEST, blocks: int(1, 64) },
    apply: (w, a) => {
      const x = withDevice(w, a, hintingOf, 'free page hinting');
      if ('ok' in x) return x;
      const n = releaseBlocks(w, x.g, x.d, a.blocks as number);
      return n > 0 ? ok(n) : refuse('invalid', `g${x.g.id}: no hinted block`);
    },
  },
  {
    name: 'fph.device.process', mechanism: M, args: { guest: GUEST },
    apply: (w, a) => {
      const x = withDevice(w, a, hintingOf, 'free page hinting');
      if ('ok' in x) return x;
      return deviceProcess(w, x.g, x.d) ? ok() : refuse('invalid', `g${x.g.id}: free_page_vq is empty`);
    },
  },
  {
    name: 'fph.device.discard', mechanism: M, args: { guest: GUEST, gfn: GFN },
    apply: (w, a) => {
      const x = withDevice(w, a, hintingOf, 'free page hinting');
      if ('ok' in x) return x;
      if (!x.d.deviceHints.has(a.gfn as number)) return refuse('invalid', `g${x.g.id} gfn ${hex(a.gfn as number)} is not a hint the device holds`);
      return ok(deviceDiscard(w, x.g, x.d, a.gfn as number));
    },
  },
];

const faults: readonly FaultDef[] = [
  {
    name: 'fph-device-modifies-after-done', mechanism: M, scenario: 'model/devices/device-faults.test.ts', breaks: ['hinting-device-rules'],
    reproduces: 'VIRTIO free page hinting: "The device MUST NOT modify the content of a previously hinted page after free_page_hint_cmd_id is set to VIRTIO_BALLOON_CMD_ID_DONE" (the driver frees every hinted page on DONE)',
  },
];

export const freePageHintingMechanism: MechanismModel = {
  name: 'free-page-hinting',
  operations,
  faults,
  transitions: { [M]: ['stopped->requested', 'requested->stopped', 'requested->done', 'requested->hinting', 'hinting->stopped', 'free->hinted', 'hinted->free'] },
  init(w) {
    for (const g of w.guests) registerHinting(g);
  },
  settle(w) {
    for (const g of w.guests) {
      const h = hintingOf(g);
      if (h) settleHinting(w, g, h);
    }
  },
};
