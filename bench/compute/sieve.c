// Sieve of Eratosthenes over a 4 MiB static byte array, repeated: byte stores with a
// stride (the inner marking loop) and a sequential scan. Memory-bound integer work.
//
// bench_run(n): sieve the numbers below 4,194,304 n times; returns the sum of the prime
// counts plus the largest prime found (so every pass must really run).

#define LIMIT (1 << 22)

static unsigned char composite[LIMIT];

static long long sieve_once(void) {
  for (int i = 0; i < LIMIT; i++) composite[i] = 0;
  for (int i = 2; (long long)i * i < LIMIT; i++) {
    if (composite[i]) continue;
    for (int j = i * i; j < LIMIT; j += i) composite[j] = 1;
  }
  long long count = 0, last = 0;
  for (int i = 2; i < LIMIT; i++) {
    if (!composite[i]) {
      count++;
      last = i;
    }
  }
  return count * 10000000 + last;
}

long long bench_run(int n) {
  long long total = 0;
  for (int r = 0; r < n; r++) total += sieve_once();
  return total;
}
