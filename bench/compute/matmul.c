// Dense matrix multiply, 200 x 200 doubles, naive i-k-j triple loop over static arrays:
// the innermost loop is a long, regular, vectorizable stream of loads, multiplies and adds.
//
// bench_run(n): n products C = A * B (A and B rebuilt deterministically, B perturbed by the
// round), returns a checksum of the last C.

#define N 200

static double a[N][N], b[N][N], c[N][N];

long long bench_run(int n) {
  double checksum = 0;
  for (int r = 0; r < n; r++) {
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < N; j++) {
        a[i][j] = (double)((i * 31 + j * 17) % 101) / 101.0;
        b[i][j] = (double)((i * 7 + j * 13 + r) % 97) / 97.0;
        c[i][j] = 0;
      }
    }
    for (int i = 0; i < N; i++) {
      for (int k = 0; k < N; k++) {
        double aik = a[i][k];
        for (int j = 0; j < N; j++) c[i][j] += aik * b[k][j];
      }
    }
    checksum += c[r % N][(r * 3) % N];
  }
  for (int i = 0; i < N; i++) checksum += c[i][i];
  return (long long)(checksum * 1e6);
}
