/**
 * A violation is data, never a bare `false`: what broke, where, and the two sides of the
 * disagreement (style: Linux free_pages_check's `bad_reason`, VM_BUG_ON_PAGE's dump).
 *
 * `kind` is the violation's shape within its property (e.g. "stale-tlb-entry",
 * "merged-across-isolation"); campaigns fold failures by (property, operation kind at the
 * failing step, kind).
 */
export interface Violation {
  readonly property: string;
  readonly kind: string;
  /**
   * Index of the operation after which the violation was seen; the number of operations when
   * it was seen by the end-of-run full check or the settle phase's liveness checks.
   */
  readonly step: number;
  /** What the violation is about: "hfn 0x1a3", "g1 pid 2 va 0x7f0000001000", ... */
  readonly subject: string;
  readonly message: string;
  readonly expected: string;
  readonly actual: string;
}

/** Collects violations while a check runs; checks call `report` and keep going. */
export interface Reporter {
  readonly step: number;
  report(v: Omit<Violation, 'step'>): void;
}

/** A reporter that keeps every violation (tests and the full checker). */
export class ViolationList implements Reporter {
  readonly violations: Violation[] = [];
  constructor(public step: number) {}

  report(v: Omit<Violation, 'step'>): void {
    this.violations.push({ ...v, step: this.step });
  }
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}
