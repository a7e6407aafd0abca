/**
 * Whether `e`, or an error in its `cause` chain, passes `test`. Bounded to 8 links: a cause chain
 * is a list, but a hostile or buggy one could loop.
 * @example
 * causeChainHas(e, (x) => (x as { engineUnreachable?: unknown }).engineUnreachable === true);
 */
export function causeChainHas(e: unknown, test: (error: Error) => boolean): boolean {
  for (let i = 0; i < 8 && e instanceof Error; i++, e = e.cause) {
    if (test(e)) return true;
  }
  return false;
}
