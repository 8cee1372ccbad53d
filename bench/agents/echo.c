/*
 * echo in C: run(task) returns ok(task), like agents/echo.wat, but built the way a C agent is
 * (clang-22 for wasm32-wasi with wasi-libc, reactor, then the WASI preview1 reactor adapter;
 * `buildAgent` in dist/build). For the languages section of the benchmark (bench/languages.mjs).
 *
 * Canonical ABI of `run: func(task: string) -> result<string, string>` by hand: the host lifts
 * the task into memory through cabi_realloc (malloc), `run` returns a pointer to the return
 * area (+0 tag, 0 = ok; +4 string pointer; +8 length) and the host calls cabi_post_run after
 * copying the result out, which frees the task.
 */
#include <stdint.h>
#include <stdlib.h>

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  /* Strings of length 0 are never allocated: their pointer is only aligned, never freed. */
  if (new_size == 0) return (void *)align;
  void *p = realloc(old, new_size);
  if (!p) abort();
  return p;
}

static uint32_t ret_area[3];

__attribute__((export_name("run")))
uint32_t *run(char *task, size_t task_len) {
  ret_area[0] = 0;
  ret_area[1] = (uint32_t)(uintptr_t)task;
  ret_area[2] = (uint32_t)task_len;
  return ret_area;
}

__attribute__((export_name("cabi_post_run")))
void cabi_post_run(uint32_t *ret) {
  if (ret[2]) free((void *)(uintptr_t)ret[1]);
}
