/*
 * The world's `run: func(task: string) -> result<string, string>` over one compute program of
 * bench/compute/ (linked with it by bench/lib/compute-components.mjs): the task is N in
 * decimal, the answer is bench_run(N) in decimal. Canonical ABI by hand, as in
 * test/fixtures/agents/fsprobe.c, but without libc or any import: the host lifts the task into
 * a static bump heap through cabi_realloc, `run` returns a pointer to the result record
 * (tag at +0, string pointer at +4, length at +8), cabi_post_run resets the heap.
 */
#include <stddef.h>
#include <stdint.h>

long long bench_run(int n);

static unsigned char heap[64 * 1024];
static size_t heap_used;
static uint32_t result[3];
static char digits[32];

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  size_t at = (heap_used + align - 1) & ~(align - 1);
  if (at + new_size > sizeof heap) __builtin_trap();
  unsigned char *p = heap + at;
  for (size_t i = 0; i < old_size && i < new_size; i++) p[i] = ((unsigned char *)old)[i];
  heap_used = at + new_size;
  return p;
}

__attribute__((export_name("run")))
uint32_t *run(const char *task, size_t len) {
  int n = 0;
  for (size_t i = 0; i < len && task[i] >= '0' && task[i] <= '9'; i++) n = n * 10 + (task[i] - '0');
  long long v = bench_run(n);
  int negative = v < 0;
  unsigned long long u = negative ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  char *end = digits + sizeof digits;
  char *p = end;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative) *--p = '-';
  result[0] = 0;
  result[1] = (uint32_t)(uintptr_t)p;
  result[2] = (uint32_t)(end - p);
  return result;
}

__attribute__((export_name("cabi_post_run")))
void cabi_post_run(uint32_t *ret) {
  (void)ret;
  heap_used = 0;
}
