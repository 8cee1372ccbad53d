// spectral-norm: the largest eigenvalue of the infinite matrix A(i,j) = 1/((i+j)(i+j+1)/2+i+1)
// truncated to n x n, by ten power iterations of A^T A. Double arithmetic over static
// vectors; the matrix element is a separate, non-inlined function, so this program is the
// call-heavy one of the suite (n^2 calls per matrix-vector product): every call pays the
// function-entry charge.
//
// bench_run(n): n <= 4096; returns the norm scaled to an integer.

#define MAXN 4096

static double u[MAXN], v[MAXN], tmp[MAXN];

__attribute__((noinline)) static double eval_a(int i, int j) {
  return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1);
}

static void mul_av(int n, const double *x, double *y) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < n; j++) s += eval_a(i, j) * x[j];
    y[i] = s;
  }
}

static void mul_atv(int n, const double *x, double *y) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < n; j++) s += eval_a(j, i) * x[j];
    y[i] = s;
  }
}

static void mul_atav(int n, const double *x, double *y) {
  mul_av(n, x, tmp);
  mul_atv(n, tmp, y);
}

long long bench_run(int n) {
  if (n < 1 || n > MAXN) return -1;
  for (int i = 0; i < n; i++) u[i] = 1;
  for (int i = 0; i < 10; i++) {
    mul_atav(n, u, v);
    mul_atav(n, v, u);
  }
  double vbv = 0, vv = 0;
  for (int i = 0; i < n; i++) {
    vbv += u[i] * v[i];
    vv += v[i] * v[i];
  }
  return (long long)(__builtin_sqrt(vbv / vv) * 1e15);
}
