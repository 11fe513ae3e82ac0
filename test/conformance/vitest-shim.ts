/**
 * `vitest` as the conformance suite sees it (test/conformance/groups.ts): the real one, except
 * that `describe` and `test` register only the groups and tests chosen in groups.ts.
 */
import * as v from "vitest";
import { EXCLUDED, INCLUDED } from "./groups.ts";

export * from "vitest";

/** The describe path whose factory is running (where a `describe`/`test` call registers). */
let current: string[] = [];

const isPrefix = (a: readonly string[], b: readonly string[]) => a.length <= b.length && a.every((x, i) => x === b[i]);
/** On the way to an included group, or inside one. */
const entered = (path: string[]) => INCLUDED.some((g) => isPrefix(path, g) || isPrefix(g, path));
const inside = (path: string[]) => INCLUDED.some((g) => isPrefix(g, path));

type Fn = (...a: unknown[]) => unknown;

/** The arguments with the factory wrapped so calls inside it register under `path`. */
function withPath(args: unknown[], path: string[]): unknown[] {
  return args.map((a) =>
    typeof a === "function"
      ? (...fa: unknown[]) => {
          const prev = current;
          current = path;
          try {
            return (a as Fn)(...fa);
          } finally {
            current = prev;
          }
        }
      : a,
  );
}

function filteredDescribe(name: string, ...rest: unknown[]): void {
  const path = [...current, name];
  if (!entered(path)) return;
  (v.describe as unknown as Fn)(name, ...withPath(rest, path));
}

export const describe = Object.assign(filteredDescribe, {
  runIf: (cond: unknown) => (cond ? filteredDescribe : () => {}),
});

function register(real: Fn) {
  return (name: string, ...rest: unknown[]): void => {
    if (!inside(current) || name in EXCLUDED) return;
    real(name, ...rest);
  };
}

export const test = Object.assign(register(v.test as unknown as Fn), {
  concurrent: register(v.test.concurrent as unknown as Fn),
});
export const it = test;
