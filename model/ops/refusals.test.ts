/**
 * Operations refuse what their mechanism's state does not allow, with the error the guest or
 * host would see, and change nothing (every property still holds): one case per rule.
 */
import { kinds, machine, op, scenario } from '../../fuzz/testing/scenario';
import { FRAMES_PER_1G } from '../constants';

const errors = (r: ReturnType<typeof scenario>) => r.results.map((x) => (x.ok ? 'ok' : x.error));

test.each([
  ['a huge mmap not 2 MiB aligned', {}, [op('guest.spawn', { guest: 0 }), op('guest.mmap', { guest: 0, pid: 1, vpn: 512 + 8, pages: 512, write: true, exec: false, huge: true })], ['ok', 'misaligned']],
  ['a host reclaim of a gfn the host does not back', {}, [op('host.reclaim.begin', { guest: 0, gfn: 100 })], ['no-such-mapping']],
  ['a virtio-balloon fill with the balloon at its target', {}, [op('vballoon.fill', { guest: 0 })], ['invalid']],
  ['a virtio-balloon fill while the last inflate waits for its ack', {}, [op('vballoon.host.target', { guest: 0, pages: 64 }), op('vballoon.fill', { guest: 0 }), op('vballoon.fill', { guest: 0 })], ['ok', 'ok', 'busy']],
  ['a VMware inflate with the balloon at its target', { 'vmware-balloon.caps': 0x2 }, [op('vmw.inflate', { guest: 0, small: true })], ['invalid']],
  ['a VMware LOCK with no batch', { 'vmware-balloon.caps': 0x2 }, [op('vmw.lock', { guest: 0, refuse: 0 })], ['invalid']],
  ['a second revoke of a shared file (no grant left)', {}, [op('dax.revoke', { guest: 0, file: 1 }), op('dax.revoke', { guest: 0, file: 1 })], ['ok', 'no-such-mapping']],
  ['virtio-mem offlining of a block that is not plugged', { 'virtio-mem.blocks': 2 }, [op('virtio-mem.unplug.begin', { guest: 0, block: 0 })], ['invalid']],
  ['a memctl access or request outside the memctl region', { 'memctl.enabled': true }, [op('memctl.read', { guest: 0, gfn: 10 }), op('memctl.request', { guest: 0, func: 'DONTNEED', gfn: 10, pages: 1 })], ['invalid', 'invalid']],
  ['a memctl mmap for a process that does not exist', { 'memctl.enabled': true, 'memctl.region': 'giga' }, [op('memctl.mmap', { guest: 0, pid: 7, vpn: FRAMES_PER_1G, write: true })], ['no-such-process']],
])('%s', (_name, options, steps, expected) => {
  const r = scenario(machine(options), steps, true);
  expect(errors(r)).toEqual(expected);
  expect(kinds(r)).toEqual([]);
});
