import { add, clamp } from './util/math.js';

// TODO: read the limits from configuration instead of hard-coding them.
const LOW = 0;
const HIGH = 100;

export function score(values: number[]): number {
  // TODO: reject NaN values before summing.
  return clamp(values.reduce(add, 0), LOW, HIGH);
}
