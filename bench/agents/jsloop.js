// jsloop: a JavaScript agent (StarlingMonkey) whose task is a pure CPU loop, for the fuel
// benchmark (bench/fuel.mjs). No imports, no host calls: run(task) fills a typed array and
// sums it `task` times, so the time goes into SpiderMonkey's interpreter running inside the
// metered core module.
//
// Task: the number of passes over the array (default 1). Returns a line with the checksum.

const SIZE = 4096;

export function run(task) {
  const passes = Math.max(1, Number.parseInt(task, 10) || 1);
  const data = new Int32Array(SIZE);
  for (let i = 0; i < SIZE; i++) data[i] = (Math.imul(i, 2654435761) >>> 20) & 1023;
  let sum = 0;
  for (let p = 0; p < passes; p++) {
    for (let i = 0; i < SIZE; i++) sum = (sum + data[i] * (p + 1)) | 0;
  }
  return `jsloop: ${passes} passes over ${SIZE} ints, checksum ${sum}`;
}
