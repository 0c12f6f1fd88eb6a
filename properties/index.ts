/**
 * The registry of properties: every named predicate the model must keep. Mechanisms add
 * theirs here.
 */
import { buddyInvariants } from './core/buddy-invariants';
import { noCrossTenantLeak } from './core/cross-tenant';
import { eptCoherence } from './core/ept-coherence';
import { invalidationCompletes, teardownFreesEverything } from './core/liveness';
import { oracleAgreement } from './core/oracle-agreement';
import { ownershipPartition } from './core/ownership';
import { pageTableWellFormed } from './core/page-table-well-formed';
import { readReturnsLastWrite } from './core/read-last-write';
import { tlbCoherence } from './core/tlb-coherence';
import { walkCost } from './core/walk-cost';
import { compactionFindsBlock } from './compaction/finds-block';
import { migrationFlushBeforeCopy, migrationNoStaleMapping, migrationOnlyMovable, migrationPreservesContents } from './compaction/migration';
import { balloonDeflateRules } from './devices/balloon-deflate-rules';
import { balloonActual, balloonConverges } from './devices/balloon-liveness';
import { balloonCount } from './devices/balloon-count';
import { balloonPageUse } from './devices/balloon-page-use';
import { balloonStatsTruth } from './devices/balloon-stats';
import { deviceDiscardsOnlyDonated } from './devices/device-discards';
import { hintingDeviceRules } from './devices/hinting';
import { memctlConfined, memctlMlockRespected, memctlProtectionRespected, memctlZeroedOnce } from './devices/memctl';
import { freePagePoisonIntact } from './devices/poison-intact';
import { reportedMarks, reportingIsolation, reportingReturnsIdle } from './devices/reporting';
import { vmwBalloonAccounting } from './devices/vmw-accounting';
import { daxOnlyGrantedPages, daxPrivateIsolation, daxRevocationComplete, sharedSavingsExact } from './dax/dax';
import type { OracleEffect } from './oracle';
import { dirtyPageNeverDropped } from './pagecache/dirty-never-dropped';
import { doubleCachingExact } from './pagecache/double-caching';
import { fileReadReturnsLastWrite } from './pagecache/read-last-write';
import { unmappedControlSafe } from './pagecache/unmapped-control';
import { kswapdWatermarks, reclaimMakesProgress, reclaimNeverDropsDirty, reclaimUnmapsFirst } from './reclaim/reclaim';
import { oomKillJustified, oomNeverKillsUnkillable } from './reclaim/oom';
import { swapFrameHeldDuringWriteback, swappedDataReturns, swapSlotExclusive } from './swap/swap';
import { cleancacheCoherent, cleancachePrivateIsolation, frontswapPersistent } from './tmem/tmem';
import { pressureOracleEffects } from './pressure-effects';
import { thpOracleEffects } from './thp/effects';
import { ksmOracleEffects } from './ksm/effects';
import { ksmCowIsolation, ksmMergedReadOnly, ksmOptIn } from './ksm/ksm';
import { virtioMemConverges, virtioMemFramesReturned, virtioMemPluggedWithinRequested, virtioMemUnplugNoDataLoss, virtioMemUnpluggedInaccessible } from './virtio-mem/virtio-mem';
import { compactionOracleEffects } from './compaction/effects';
import { thpCollapseStaysInBounds, thpTranslationEquivalent, thpWalkCost, thpZeroPageIntact } from './thp/thp';
import type { Property } from './property';

export const properties: readonly Property[] = [
  ownershipPartition,
  noCrossTenantLeak,
  readReturnsLastWrite,
  tlbCoherence,
  eptCoherence,
  walkCost,
  buddyInvariants,
  pageTableWellFormed,
  oracleAgreement,
  invalidationCompletes,
  teardownFreesEverything,
  migrationFlushBeforeCopy,
  migrationNoStaleMapping,
  migrationPreservesContents,
  migrationOnlyMovable,
  compactionFindsBlock,
  thpTranslationEquivalent,
  thpCollapseStaysInBounds,
  thpWalkCost,
  thpZeroPageIntact,
  ksmCowIsolation,
  ksmMergedReadOnly,
  ksmOptIn,
  virtioMemPluggedWithinRequested,
  virtioMemUnpluggedInaccessible,
  virtioMemUnplugNoDataLoss,
  virtioMemFramesReturned,
  virtioMemConverges,
  balloonPageUse,
  balloonDeflateRules,
  balloonActual,
  balloonConverges,
  balloonStatsTruth,
  deviceDiscardsOnlyDonated,
  freePagePoisonIntact,
  balloonCount,
  vmwBalloonAccounting,
  reportingIsolation,
  reportedMarks,
  reportingReturnsIdle,
  hintingDeviceRules,
  memctlZeroedOnce,
  memctlConfined,
  memctlMlockRespected,
  memctlProtectionRespected,
  fileReadReturnsLastWrite,
  dirtyPageNeverDropped,
  doubleCachingExact,
  unmappedControlSafe,
  daxOnlyGrantedPages,
  daxPrivateIsolation,
  daxRevocationComplete,
  sharedSavingsExact,
  cleancacheCoherent,
  cleancachePrivateIsolation,
  frontswapPersistent,
  swapSlotExclusive,
  swappedDataReturns,
  swapFrameHeldDuringWriteback,
  reclaimNeverDropsDirty,
  reclaimUnmapsFirst,
  reclaimMakesProgress,
  kswapdWatermarks,
  oomKillJustified,
  oomNeverKillsUnkillable,
];

/** How other mechanisms' operations change the abstract oracle; the core's are built in. */
export const oracleEffects: Readonly<Record<string, OracleEffect>> = {
  ...pressureOracleEffects,
  ...thpOracleEffects,
  ...compactionOracleEffects,
  ...ksmOracleEffects,
};

export function propertyNamed(name: string): Property | undefined {
  return properties.find((p) => p.name === name);
}
