/**
 * An operation reads only the arguments its spec declares. The spec is what the swarm draws
 * from and what a counterexample file is validated against (checkArgs), so an argument read but
 * not declared would never be drawn by a campaign, and a file carrying it would be refused
 * before replay. Each operation is applied once to a fresh machine with the smallest value of
 * each declared argument, through a proxy that records every argument it reads.
 */
import { machine } from '../../fuzz/testing/scenario';
import { createWorld, operations } from '../registry';
import { isRefusal } from '../result';
import type { ArgSpec, Args, ArgValue } from './operation';

function smallest(spec: ArgSpec): ArgValue {
  switch (spec.type) {
    case 'int':
      return spec.min;
    case 'bool':
      return false;
    case 'enum':
      return spec.values[0]!;
  }
}

/** The arguments `apply` read that its spec does not declare. */
function undeclaredReads(kind: string): string[] {
  const def = operations.find((o) => o.name === kind)!;
  const world = createWorld(machine({}));
  if (isRefusal(world)) throw new Error(world.detail);
  const args: Record<string, ArgValue> = Object.fromEntries(Object.entries(def.args).map(([k, s]) => [k, smallest(s)]));
  const read = new Set<string>();
  const proxy = new Proxy(args, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
  }) as Args;
  def.apply(world, proxy);
  return [...read].filter((k) => !(k in def.args));
}

test('every operation reads only the arguments its spec declares', () => {
  const misfits = operations.flatMap((o) => undeclaredReads(o.name).map((k) => `${o.name} reads ${k}`));
  expect(misfits).toEqual([]);
});

test('the check finds a read the spec leaves out', () => {
  // Not vacuous: an operation whose spec lost its arguments still reads them.
  const def = operations.find((o) => o.name === 'bcomp.putback')!;
  const spec = def.args;
  Object.defineProperty(def, 'args', { value: {}, configurable: true });
  try {
    expect(undeclaredReads('bcomp.putback').sort()).toEqual(['guest']);
  } finally {
    Object.defineProperty(def, 'args', { value: spec, configurable: true });
  }
});
