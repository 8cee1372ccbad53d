export function add(a: number, b: number): number {
  return a + b;
}

export function clamp(value: number, low: number, high: number): number {
  // TODO: swap low and high when they are given in the wrong order.
  return Math.min(Math.max(value, low), high);
}
