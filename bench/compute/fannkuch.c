// fannkuch-redux: for every permutation of 1..n (generated in place), count the prefix
// reversals ("pancake flips") until 1 comes first. Integer work on tiny arrays with
// short, data-dependent inner loops and many branches: a loop-header-heavy profile.
//
// bench_run(n): n items (n! permutations, n <= 12); returns checksum * 1000 + max flips.

#define MAXN 16

long long bench_run(int n) {
  int perm[MAXN], perm1[MAXN], count[MAXN];
  if (n < 3 || n > 12) return -1;
  for (int i = 0; i < n; i++) perm1[i] = i;
  int r = n, max_flips = 0, permutation = 0;
  long long checksum = 0;
  for (;;) {
    while (r != 1) {
      count[r - 1] = r;
      r--;
    }
    for (int i = 0; i < n; i++) perm[i] = perm1[i];
    int flips = 0;
    for (int k = perm[0]; k != 0; k = perm[0]) {
      // Reverse the first k + 1 items.
      for (int i = 0, j = k; i < j; i++, j--) {
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
      }
      flips++;
    }
    if (flips > max_flips) max_flips = flips;
    checksum += (permutation % 2 == 0) ? flips : -flips;
    // The next permutation (rotate the first r items, counting rotations per level).
    for (;;) {
      if (r == n) return checksum * 1000 + max_flips;
      int first = perm1[0];
      for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
      perm1[r] = first;
      if (--count[r] > 0) break;
      r++;
    }
    permutation++;
  }
}
