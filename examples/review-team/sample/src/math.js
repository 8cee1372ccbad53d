// Small, clean helpers: nothing here for the reviewers to flag.
export function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

export function mean(values) {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}
