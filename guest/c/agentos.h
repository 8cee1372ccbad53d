/*
 * agentos.h: the agent-os:sandbox `kv` and `messaging` interfaces for C agents, header-only.
 *
 * Declares the canonical-ABI imports (as a component of world `agent-os:sandbox/agent` sees
 * them once `agentos build x.c` has linked it) and wraps them in plain C: NUL-terminated,
 * malloc'd results the caller frees, and one error type. Include it in the one .c file of
 * the agent. It also defines `cabi_realloc`, which the host uses to hand strings and lists to
 * the guest (the task of `run` included); define AGENTOS_OWN_CABI_REALLOC before including it
 * when the agent has its own.
 *
 *   agentos_error err = {0};
 *   if (agentos_kv_set("progress/a", "done", 4, -1, &err)) fail(err.message);
 *   char *id = NULL;
 *   agentos_send("reviewer-1", "{\"review\":[]}", 13, &id, &err);
 *   agentos_message *m = NULL;
 *   if (agentos_receive(5000, &m, &err) == 0 && m) { ... agentos_message_free(m); }
 *
 * Every call passes the gate: the policy must grant `storage` (kv) or `messaging`, and its
 * dataPolicies (data id `kv/<key>`) and `messaging.peers` decide further. A refused or failed
 * call returns the error's kind (non-zero) and fills `err` when given (free it with
 * agentos_error_clear).
 *
 * Why the layouts below: lists and strings are (i32 pointer, i32 length); a result or option
 * is a u8 tag followed by its payload at the payload's alignment; records lay fields out in
 * order, each at its own alignment (the u64 timestamp of `message` at 8). A function whose
 * results flatten to more than one value returns them through a return area the caller passes
 * as the last argument. Host-allocated memory of length 0 is never allocated (only its
 * alignment is passed), so it must not be freed.
 */
#ifndef AGENTOS_H
#define AGENTOS_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ------------------------------------------------------------------------------ */

/* The cases of kv-error and messaging-error, as one set. */
enum {
  AGENTOS_OK = 0,
  AGENTOS_DENIED = 1,      /* the policy refused; the message says what would allow it */
  AGENTOS_NOT_FOUND = 2,   /* messaging: no agent of that id is reachable */
  AGENTOS_QUOTA = 3,       /* a size, count, rate or mailbox limit; nothing was done */
  AGENTOS_INVALID = 4,     /* unacceptable arguments (empty key, unknown message id, ...) */
  AGENTOS_UNAVAILABLE = 5, /* not configured, closed, broker unreachable, integrity failure */
};

typedef struct {
  int kind;      /* AGENTOS_OK or one of the cases above */
  char *message; /* malloc'd, NUL-terminated; NULL when kind is AGENTOS_OK */
} agentos_error;

static inline const char *agentos_error_name(int kind) {
  static const char *const names[] = {"ok", "denied", "not-found", "quota", "invalid", "unavailable"};
  return kind >= 0 && kind <= AGENTOS_UNAVAILABLE ? names[kind] : "unknown";
}

static inline void agentos_error_clear(agentos_error *err) {
  if (!err) return;
  free(err->message);
  err->message = NULL;
  err->kind = AGENTOS_OK;
}

/* ---- canonical ABI ----------------------------------------------------------------------- */

#ifndef AGENTOS_OWN_CABI_REALLOC
__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  if (new_size == 0) return (void *)align;
  void *p = realloc(old, new_size);
  if (!p) abort();
  return p;
}
#endif

#define AGENTOS_KV "agent-os:sandbox/kv@0.1.0"
#define AGENTOS_MSG "agent-os:sandbox/messaging@0.1.0"

/* kv-error and messaging-error: u8 case at +0, string at +4 (12 bytes, align 4). Each result
 * below puts its tag at +0 and its payload at +4 (+8 for receive), so an error's case is at
 * payload+0 and its message at payload+4/+8. */

/* get: result<option<list<u8>>, kv-error>, 16 bytes: ok: +4 option tag, +8 ptr, +12 len. */
__attribute__((import_module(AGENTOS_KV), import_name("get")))
extern void agentos__kv_get(const char *key, size_t key_len, void *ret);
/* set: (key, value, ttl: option<u64> as (i32 tag, i64)) -> result<_, kv-error>, 16 bytes. */
__attribute__((import_module(AGENTOS_KV), import_name("set")))
extern void agentos__kv_set(const char *key, size_t key_len, const void *value, size_t value_len, int32_t has_ttl, int64_t ttl_ms, void *ret);
/* delete: result<bool, kv-error>, 16 bytes: ok: +4 bool (u8). */
__attribute__((import_module(AGENTOS_KV), import_name("delete")))
extern void agentos__kv_delete(const char *key, size_t key_len, void *ret);
/* list-keys: result<list<string>, kv-error>, 16 bytes: ok: +4 ptr to (ptr, len) pairs, +8 count. */
__attribute__((import_module(AGENTOS_KV), import_name("list-keys")))
extern void agentos__kv_list_keys(const char *prefix, size_t prefix_len, void *ret);

/* peers: list<peer>: +0 ptr, +4 count; peer = { id: +0, agent-type: +8, roles: +16 } (24 bytes). */
__attribute__((import_module(AGENTOS_MSG), import_name("peers")))
extern void agentos__peers(void *ret);
/* send / reply: result<string, messaging-error>, 16 bytes: ok: +4 ptr, +8 len. */
__attribute__((import_module(AGENTOS_MSG), import_name("send")))
extern void agentos__send(const char *to, size_t to_len, const void *body, size_t body_len, void *ret);
__attribute__((import_module(AGENTOS_MSG), import_name("reply")))
extern void agentos__reply(const char *id, size_t id_len, const void *body, size_t body_len, void *ret);
/* publish: result<u32, messaging-error>, 16 bytes: ok: +4 u32. */
__attribute__((import_module(AGENTOS_MSG), import_name("publish")))
extern void agentos__publish(const char *topic, size_t topic_len, const void *body, size_t body_len, void *ret);
/* subscribe: result<_, messaging-error>, 16 bytes. unsubscribe returns nothing. */
__attribute__((import_module(AGENTOS_MSG), import_name("subscribe")))
extern void agentos__subscribe(const char *topic, size_t topic_len, void *ret);
__attribute__((import_module(AGENTOS_MSG), import_name("unsubscribe")))
extern void agentos__unsubscribe(const char *topic, size_t topic_len);
/* receive: result<option<message>, messaging-error>, 80 bytes, align 8 (the u64):
 *   +0 result tag; ok: +8 option tag, message at +16; err: +8 case, +12 ptr, +16 len.
 * message (64 bytes, align 8): id +0, sender +8, sender-type +16, topic: option<string> +24
 * (tag, then ptr +28, len +32), reply-to +36 (ptr +40, len +44), timestamp u64 +48, body +56. */
__attribute__((import_module(AGENTOS_MSG), import_name("receive")))
extern void agentos__receive(uint32_t timeout_ms, void *ret);

static inline uint32_t agentos__u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Take a host-allocated (ptr, len) and return it NUL-terminated (reallocated one byte longer). */
static inline char *agentos__own(const uint8_t *at) {
  char *ptr = (char *)(uintptr_t)agentos__u32(at);
  size_t len = agentos__u32(at + 4);
  char *s = len ? realloc(ptr, len + 1) : malloc(1);
  if (!s) abort();
  s[len] = 0;
  return s;
}

/* Fill `err` from a variant at `at` (u8 case, string at +4); returns the kind (case + 1). The
 * two error variants name their cases differently: map each to the shared set. */
static inline int agentos__fail(const uint8_t *at, const int *kinds, agentos_error *err) {
  int kind = kinds[at[0]];
  char *message = agentos__own(at + 4);
  if (err) {
    free(err->message);
    err->kind = kind;
    err->message = message;
  } else {
    free(message);
  }
  return kind;
}

static const int agentos__kv_kinds[] = {AGENTOS_DENIED, AGENTOS_QUOTA, AGENTOS_INVALID, AGENTOS_UNAVAILABLE};
static const int agentos__msg_kinds[] = {AGENTOS_DENIED, AGENTOS_NOT_FOUND, AGENTOS_QUOTA, AGENTOS_INVALID, AGENTOS_UNAVAILABLE};

/* ---- kv ---------------------------------------------------------------------------------- */

/* The value under `key` into *value (malloc'd, NUL-terminated past *len) or NULL when none
 * (and on an error). */
static inline int agentos_kv_get(const char *key, char **value, size_t *len, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  *value = NULL;
  if (len) *len = 0;
  agentos__kv_get(key, strlen(key), ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__kv_kinds, err);
  *value = ret[4] ? agentos__own(ret + 8) : NULL;
  if (len) *len = ret[4] ? agentos__u32(ret + 12) : 0;
  return AGENTOS_OK;
}

/* Store `len` bytes under `key`; `ttl_ms` < 0: no expiry. */
static inline int agentos_kv_set(const char *key, const void *value, size_t len, int64_t ttl_ms, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  agentos__kv_set(key, strlen(key), value, len, ttl_ms >= 0, ttl_ms >= 0 ? ttl_ms : 0, ret);
  return ret[0] ? agentos__fail(ret + 4, agentos__kv_kinds, err) : AGENTOS_OK;
}

/* Delete `key`; *existed (when given) says whether there was a value. */
static inline int agentos_kv_delete(const char *key, int *existed, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  agentos__kv_delete(key, strlen(key), ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__kv_kinds, err);
  if (existed) *existed = ret[4] != 0;
  return AGENTOS_OK;
}

static inline void agentos_free_strings(char **list, size_t count) {
  for (size_t i = 0; i < count; i++) free(list[i]);
  free(list);
}

/* Turn a host list<string> at `at` (ptr, count) into malloc'd C strings. */
static inline char **agentos__strings(const uint8_t *at, size_t *count) {
  uint8_t *pairs = (uint8_t *)(uintptr_t)agentos__u32(at);
  size_t n = agentos__u32(at + 4);
  char **list = malloc((n ? n : 1) * sizeof *list);
  if (!list) abort();
  for (size_t i = 0; i < n; i++) list[i] = agentos__own(pairs + 8 * i);
  if (n) free(pairs);
  *count = n;
  return list;
}

/* The keys starting with `prefix` (free with agentos_free_strings). */
static inline int agentos_kv_list(const char *prefix, char ***keys, size_t *count, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  *keys = NULL;
  *count = 0;
  agentos__kv_list_keys(prefix, strlen(prefix), ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__kv_kinds, err);
  *keys = agentos__strings(ret + 4, count);
  return AGENTOS_OK;
}

/* ---- messaging --------------------------------------------------------------------------- */

typedef struct {
  char *id;
  char *agent_type;
  char **roles;
  size_t role_count;
} agentos_peer;

static inline void agentos_free_peers(agentos_peer *peers, size_t count) {
  for (size_t i = 0; i < count; i++) {
    free(peers[i].id);
    free(peers[i].agent_type);
    agentos_free_strings(peers[i].roles, peers[i].role_count);
  }
  free(peers);
}

/* The agents this one may message now; returns their number (free with agentos_free_peers). */
static inline size_t agentos_peers(agentos_peer **peers) {
  _Alignas(4) uint8_t ret[8];
  agentos__peers(ret);
  uint8_t *recs = (uint8_t *)(uintptr_t)agentos__u32(ret);
  size_t n = agentos__u32(ret + 4);
  agentos_peer *out = calloc(n ? n : 1, sizeof *out);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    const uint8_t *r = recs + 24 * i;
    out[i].id = agentos__own(r);
    out[i].agent_type = agentos__own(r + 8);
    out[i].roles = agentos__strings(r + 16, &out[i].role_count);
  }
  if (n) free(recs);
  *peers = out;
  return n;
}

/* Send `len` bytes to agent `to`; *message_id (when given) gets the id (malloc'd). */
static inline int agentos_send(const char *to, const void *body, size_t len, char **message_id, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  if (message_id) *message_id = NULL;
  agentos__send(to, strlen(to), body, len, ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__msg_kinds, err);
  char *id = agentos__own(ret + 4);
  if (message_id) *message_id = id;
  else free(id);
  return AGENTOS_OK;
}

/* Answer received message `message_id`; *reply_id (when given) gets the reply's id. */
static inline int agentos_reply(const char *message_id, const void *body, size_t len, char **reply_id, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  if (reply_id) *reply_id = NULL;
  agentos__reply(message_id, strlen(message_id), body, len, ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__msg_kinds, err);
  char *id = agentos__own(ret + 4);
  if (reply_id) *reply_id = id;
  else free(id);
  return AGENTOS_OK;
}

/* Publish on `topic`; *reached (when given) gets how many agents it reached. */
static inline int agentos_publish(const char *topic, const void *body, size_t len, uint32_t *reached, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  agentos__publish(topic, strlen(topic), body, len, ret);
  if (ret[0]) return agentos__fail(ret + 4, agentos__msg_kinds, err);
  if (reached) *reached = agentos__u32(ret + 4);
  return AGENTOS_OK;
}

static inline int agentos_subscribe(const char *topic, agentos_error *err) {
  _Alignas(4) uint8_t ret[16];
  agentos__subscribe(topic, strlen(topic), ret);
  return ret[0] ? agentos__fail(ret + 4, agentos__msg_kinds, err) : AGENTOS_OK;
}

static inline void agentos_unsubscribe(const char *topic) { agentos__unsubscribe(topic, strlen(topic)); }

/* A received message; every string is malloc'd and NUL-terminated, and so is `body`. */
typedef struct {
  char *id;
  char *sender;
  char *sender_type;
  char *topic;    /* NULL: sent to this agent, not published */
  char *reply_to; /* NULL: not a reply */
  uint64_t timestamp;
  char *body;
  size_t body_len;
} agentos_message;

static inline void agentos_message_free(agentos_message *m) {
  if (!m) return;
  free(m->id);
  free(m->sender);
  free(m->sender_type);
  free(m->topic);
  free(m->reply_to);
  free(m->body);
  free(m);
}

/* The next message, waiting up to `timeout_ms` (0: do not wait); *msg is NULL when none came.
 * Free it with agentos_message_free. */
static inline int agentos_receive(uint32_t timeout_ms, agentos_message **msg, agentos_error *err) {
  _Alignas(8) uint8_t ret[80];
  agentos__receive(timeout_ms, ret);
  *msg = NULL;
  if (ret[0]) return agentos__fail(ret + 8, agentos__msg_kinds, err);
  if (!ret[8]) return AGENTOS_OK;
  const uint8_t *r = ret + 16;
  agentos_message *m = calloc(1, sizeof *m);
  if (!m) abort();
  m->id = agentos__own(r);
  m->sender = agentos__own(r + 8);
  m->sender_type = agentos__own(r + 16);
  m->topic = r[24] ? agentos__own(r + 28) : NULL;
  m->reply_to = r[36] ? agentos__own(r + 40) : NULL;
  memcpy(&m->timestamp, r + 48, 8);
  m->body_len = agentos__u32(r + 60);
  m->body = agentos__own(r + 56);
  *msg = m;
  return AGENTOS_OK;
}

#endif /* AGENTOS_H */
