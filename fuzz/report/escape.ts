/**
 * HTML escaping for report.html. Every string that reaches the page goes through `esc`:
 * property names, operation kinds and violation messages come from the model and from
 * counterexample files, which may come from anyone.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A deterministic colour for a label (host frame owners), readable on white. */
export function colourOf(label: string): string {
  if (label === 'free') return '#e5e7eb';
  let h = 2166136261;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  return `hsl(${(h >>> 0) % 360}, 60%, 55%)`;
}
