/** A number from a node's dialog field: the default when the field is empty, negative or not a number. */
export function configNumber(v: string | number | undefined, dflt: number): number {
  const n = Number(v);
  return v === '' || v === undefined || !Number.isFinite(n) || n < 0 ? dflt : n;
}
