/**
 * virtio-mem (issue: pages that move and merge): a memory device whose blocks the guest plugs
 * and unplugs on the host's request, offlining through isolation and migration.
 */
import type { FaultDef } from '../faults';
import type { MechanismModel } from '../mechanism';
import { refuse } from '../result';
import type { World } from '../world';
import { hex } from '../../properties/violation';
import { blockOf, DEVICE_BLOCKS_MAX, deviceOf, inUnpluggedBlock, virtioMemState } from '../virtio-mem/device';
import {
  createDevice, driverWork, FAULT_CONFIG_CHANGE_LOST, FAULT_DISCARD_LEAKS_FRAMES, FAULT_OFFLINE_SKIPS_UNMOVABLE,
  FAULT_PLUG_BEYOND_REQUESTED, FAULT_UNPLUG_KEEPS_BACKING,
} from '../virtio-mem/driver';
import { virtioMemOperations } from '../virtio-mem/ops';
import { memctlOf } from '../memctl/memctl';
import { reportingOf, settleReporting } from '../reporting/free-page-reporting';

export const virtioMemFaults: readonly FaultDef[] = [
  {
    name: FAULT_PLUG_BEYOND_REQUESTED,
    mechanism: 'virtio-mem',
    scenario: 'model/virtio-mem/virtio-mem.test.ts',
    breaks: ['virtio-mem-plugged-within-requested'],
    reproduces: 'VIRTIO 1.2 5.15 (Memory Device): once plugged_size reaches requested_size, PLUG requests are rejected (NACK: "It is impossible to plug more memory than requested", include/uapi/linux/virtio_mem.h)',
  },
  {
    name: FAULT_OFFLINE_SKIPS_UNMOVABLE,
    mechanism: 'virtio-mem',
    breaks: ['virtio-mem-unplug-no-data-loss'],
    reproduces: 'mm/page_isolation.c has_unmovable_pages / mm/memory_hotplug.c offline_pages: an unmovable page makes offlining fail with EBUSY; VIRTIO 1.2 5.15.6 (driver requirements): the driver MUST NOT request unplug of memory still in use',
    // Needs an unmovable page inside a plugged block: rare at random (the buddy hands the
    // freshly onlined block out last); the scenario places a kernel allocation there.
    scenario: 'model/virtio-mem/virtio-mem.test.ts',
  },
  {
    name: FAULT_UNPLUG_KEEPS_BACKING,
    mechanism: 'virtio-mem',
    scenario: 'model/virtio-mem/virtio-mem.test.ts',
    breaks: ['virtio-mem-unplugged-inaccessible'],
    reproduces: 'QEMU hw/virtio/virtio-mem.c virtio_mem_set_block_state -> ram_block_discard_range: an acknowledged UNPLUG discards the memory; left populated, the guest keeps a path to memory it gave back (VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)',
  },
  {
    name: FAULT_DISCARD_LEAKS_FRAMES,
    mechanism: 'virtio-mem',
    scenario: 'model/virtio-mem/virtio-mem.test.ts',
    breaks: ['virtio-mem-frames-returned', 'ownership-partition'],
    reproduces: 'the leak class mm/page_owner.c exists to find: the discard drops the mapping of an unplugged block but its host frames never return to the allocator',
  },
  {
    name: FAULT_CONFIG_CHANGE_LOST,
    mechanism: 'virtio-mem',
    scenario: 'model/virtio-mem/virtio-mem.test.ts',
    breaks: ['virtio-mem-converges'],
    reproduces: 'drivers/virtio/virtio_mem.c virtio_mem_config_changed -> virtio_mem_retry: a lost configuration-change notification leaves the driver never reacting to a new requested_size (VIRTIO 1.2 5.15.6: the driver SHOULD react to resize requests)',
  },
];

/** virtio-mem: a block's cycle (device.ts). */
export const virtioMemTransitions: Readonly<Record<string, readonly string[]>> = {
  'virtio-mem': ['unplugged->plugged', 'plugged->offlining', 'offlining->plugged', 'offlining->unplugged'],
};

function init(w: World): void {
  const blocks = Math.min(DEVICE_BLOCKS_MAX, w.option('virtio-mem.blocks', 0));
  for (const g of w.guests) {
    // memctl (initialised first) reserves the top of guest memory at boot: the device region
    // sits below it.
    const d = createDevice(g, blocks, memctlOf(g)?.mode === 'ram' ? memctlOf(g)!.region.gfn : g.config.frames);
    if (!d) continue;
    virtioMemState(w).devices.set(g.id, d);
    g.backingHooks.push({
      // VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE: the host backs no unplugged memory.
      guard: (world, guest, gfn) => (inUnpluggedBlock(world, guest, gfn) ? refuse('invalid', `g${guest.id} gfn ${hex(gfn)} is in an unplugged virtio-mem block`) : null),
      collapseBarrier: (world, guest, gfn) => {
        const dev = deviceOf(world, guest)!;
        const b = blockOf(dev, gfn);
        return b >= 0 && dev.state[b] !== 'plugged' ? `virtio-mem block ${b} is ${dev.state[b]}` : null;
      },
    });
  }
}

/**
 * The driver finishes what it started and follows requested_size (when it was told). Offlining
 * waits for free page reporting to hand back the blocks it holds isolated (offline_pages
 * retries until the range's free pages are back on the lists): with a device, the reports in
 * flight end first. Reporting settles again after this (onlined blocks are new free memory).
 */
function settle(w: World): void {
  for (const g of w.guests) {
    const f = deviceOf(w, g) ? reportingOf(g) : undefined;
    if (f) settleReporting(w, g, f);
    driverWork(w, g);
  }
}

export const virtioMemMechanism: MechanismModel = {
  name: 'virtio-mem',
  operations: virtioMemOperations,
  faults: virtioMemFaults,
  transitions: virtioMemTransitions,
  init,
  settle,
};
