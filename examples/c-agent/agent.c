/*
 * c-agent: `wc` for a mounted directory. Walks /data (or the directory or file named by the
 * task, e.g. `/data/notes`) with ordinary libc calls (opendir/readdir/stat/fopen), counts
 * lines, words and bytes of every regular file, and returns a table like `wc`:
 *
 *       3      12      80 /data/notes/todo.txt
 *      10      52     301 total
 *
 * Build: the sandbox's build helper (clang-22 --target=wasm32-wasi -mexec-model=reactor with
 * wasi-libc, then the WASI preview1 reactor adapter). The canonical ABI of
 * `run: func(task: string) -> result<string, string>` is written by hand below.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* agent-os:sandbox/log.emit(level: enum (trace=0 … error=4), message: string) */
__attribute__((import_module("agent-os:sandbox/log@0.1.0"), import_name("emit")))
extern void log_emit(int32_t level, const char *msg, size_t len);

static void logf_(int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) log_emit(level, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* ---- growable output ---- */
static char *out;
static size_t out_len, out_cap;

static void appendf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (out_len + (size_t)n + 1 > out_cap) {
    out_cap = (out_len + (size_t)n + 1) * 2;
    out = realloc(out, out_cap);
    if (!out) abort();
  }
  va_start(ap, fmt);
  vsnprintf(out + out_len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  out_len += (size_t)n;
}

struct counts { unsigned long long lines, words, bytes; };
static struct counts total;
static int files, failures;

static void count_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    logf_(3, "cannot open %s: %s", path, strerror(errno));
    appendf("wc: %s: %s\n", path, strerror(errno));
    failures++;
    return;
  }
  struct counts c = {0, 0, 0};
  int in_word = 0, ch;
  while ((ch = getc(f)) != EOF) {
    c.bytes++;
    if (ch == '\n') c.lines++;
    if (isspace(ch)) in_word = 0;
    else if (!in_word) { in_word = 1; c.words++; }
  }
  fclose(f);
  appendf("%8llu %7llu %7llu %s\n", c.lines, c.words, c.bytes, path);
  total.lines += c.lines;
  total.words += c.words;
  total.bytes += c.bytes;
  files++;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    appendf("wc: %s: %s\n", path, strerror(errno));
    failures++;
    return;
  }
  if (S_ISREG(st.st_mode)) { count_file(path); return; }
  if (!S_ISDIR(st.st_mode)) return;
  DIR *d = opendir(path);
  if (!d) {
    appendf("wc: %s: %s\n", path, strerror(errno));
    failures++;
    return;
  }
  logf_(1, "listing %s", path);
  char **names = NULL;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue; /* skip ., .. and hidden files */
    names = realloc(names, (n + 1) * sizeof *names);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(path) + strlen(names[i]) + 2;
    char *child = malloc(len);
    snprintf(child, len, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
    walk(child);
    free(child);
    free(names[i]);
  }
  free(names);
}

__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  if (new_size == 0) return (void *)align;
  void *p = realloc(old, new_size);
  if (!p) abort();
  return p;
}

static uint32_t ret_area[3]; /* result<string,string>: tag, ptr, len */

__attribute__((export_name("run")))
uint32_t *run(char *task, size_t task_len) {
  /* The task names what to count; empty means all of /data. Trim surrounding blanks. */
  while (task_len && isspace((unsigned char)task[task_len - 1])) task_len--;
  size_t skip = 0;
  while (skip < task_len && isspace((unsigned char)task[skip])) skip++;
  char *target = task_len > skip ? strndup(task + skip, task_len - skip) : strdup("/data");
  /* An empty string is not allocated through cabi_realloc (its pointer is just aligned). */
  if (task_len) free(task);

  out_len = 0;
  files = failures = 0;
  total = (struct counts){0, 0, 0};
  appendf("%s", "");
  logf_(2, "counting %s", target);
  walk(target);
  appendf("%8llu %7llu %7llu total (%d file%s)", total.lines, total.words, total.bytes, files, files == 1 ? "" : "s");
  logf_(2, "%d file(s), %d failure(s)", files, failures);
  free(target);

  ret_area[0] = (files == 0 && failures > 0) ? 1 : 0; /* err only when nothing could be read */
  ret_area[1] = (uint32_t)(uintptr_t)out;
  ret_area[2] = (uint32_t)out_len;
  return ret_area;
}

__attribute__((export_name("cabi_post_run")))
void cabi_post_run(uint32_t *ret) {
  (void)ret;
  free(out);
  out = NULL;
  out_len = out_cap = 0;
}
