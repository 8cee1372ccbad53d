// What the hashing code knows of audit records (src/audit/record.ts): where a record's link to
// the record before sits, and the per-record checks of verification (check_records), run next
// to the digests so that verifying a block needs no JavaScript per record. link_at mirrors
// peekHeader in record.ts, which tells apart what went wrong once a record fails here.
// Included by sha256.c.

#ifndef AUDIT_RECORDS_H
#define AUDIT_RECORDS_H

#include <stdint.h>

// A version-2 record ends with the 64 hex digits of its link and `"}`.
#define CHAIN_TAIL 66

static const uint8_t HEX_DIGITS[16] = {'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

static const uint8_t PREFIX_V1[14] = "{\"v\":1,\"seq\":";
static const uint8_t PREFIX_V2[14] = "{\"v\":2,\"seq\":";
static const uint8_t PREV_MARK[14] = ",\"prevHash\":\"";
static const uint8_t TIMESTAMP_MARK[14] = ",\"timestamp\":";
#define MARK 13

static inline int same(const uint8_t *a, const uint8_t *b, uint32_t n) {
  uint8_t diff = 0;
  for (uint32_t i = 0; i < n; i++) diff |= a[i] ^ b[i];
  return diff == 0;
}

static inline int hex_is(const uint8_t *hex, const uint8_t *digest) {
  uint8_t diff = 0;
  for (int k = 0; k < 32; k++) diff |= (hex[2 * k] ^ HEX_DIGITS[digest[k] >> 4]) | (hex[2 * k + 1] ^ HEX_DIGITS[digest[k] & 15]);
  return diff == 0;
}

// Where a record's link and timestamp are in its JSON.
typedef struct {
  uint32_t link; // the first of the 64 hex digits of prevHash
  uint32_t ts;   // the first character of the timestamp's value
} Fields;

// Finds the fields of a record's JSON (j, jl bytes) if it starts (and, for version 2, ends) like
// a record of a known version with sequence number seq; returns 0 otherwise.
static int fields_of(const uint8_t *j, uint32_t jl, uint64_t seq, Fields *f) {
  if (jl < MARK + MARK + CHAIN_TAIL) return 0;
  int version = same(j, PREFIX_V2, MARK) ? 2 : same(j, PREFIX_V1, MARK) ? 1 : 0;
  if (!version) return 0;
  uint32_t i = MARK;
  uint64_t got = 0;
  while (i < jl && j[i] >= '0' && j[i] <= '9' && i - MARK < 16) got = got * 10 + (uint64_t)(j[i++] - '0');
  if (i == MARK || (j[MARK] == '0' && i - MARK > 1) || got != seq) return 0;
  if (version == 1) {
    // {"v":1,"seq":N,"prevHash":"<64 hex>","timestamp":T,…
    if (i + MARK > jl || !same(j + i, PREV_MARK, MARK)) return 0;
    f->link = i + MARK;
    if (f->link + 65 > jl || j[f->link + 64] != '"') return 0;
    f->ts = f->link + 65 + MARK;
    return f->ts <= jl && same(j + f->link + 65, TIMESTAMP_MARK, MARK);
  }
  // {"v":2,"seq":N,"timestamp":T,…,"prevHash":"<64 hex>"}
  f->link = jl - CHAIN_TAIL;
  f->ts = i + MARK;
  if (i + MARK > jl || !same(j + i, TIMESTAMP_MARK, MARK) || f->link < f->ts + MARK || !same(j + f->link - MARK, PREV_MARK, MARK)) return 0;
  return j[jl - 2] == '"' && j[jl - 1] == '}';
}

// Reads a timestamp written as -?[0-9]{1,16} and followed by a comma at j + k; 0 when it is not
// written so (JSON may hold other forms, 1e+21 say: the caller reads those some other way).
static int timestamp_at(const uint8_t *j, uint32_t k, uint32_t jl, double *ts) {
  int neg = k < jl && j[k] == '-';
  k += neg;
  uint32_t from = k;
  int64_t v = 0;
  while (k < jl && j[k] >= '0' && j[k] <= '9' && k - from < 16) v = v * 10 + (j[k++] - '0');
  if (k == from || k >= jl || j[k] != ',') return 0;
  *ts = neg ? -(double)v : (double)v;
  return 1;
}

/**
 * Checks n hashed leaf inputs (0x00 || record JSON) at data + offsets[i], of lengths[i] bytes,
 * whose digests are at digests + 32 * i: record i must be of a known version with sequence
 * number first_seq + i, match its stored hash at data + stored[i] (when stored is not null),
 * and name the digest of record i - 1 (of the 32 bytes at prev for record 0, when prev is not
 * null). Returns the index of the first record that fails, or n.
 *
 * range receives the smallest and the largest timestamp of the records checked, and the number
 * of records whose timestamp is not a plain integer (not counted in the range).
 */
__attribute__((export_name("check_records"))) uint32_t check_records(const uint8_t *data, const uint32_t *offsets, const uint32_t *lengths,
                                                                     uint32_t n, const uint8_t *digests, const uint32_t *stored,
                                                                     const uint8_t *prev, double first_seq, double *range) {
  uint64_t seq = (uint64_t)first_seq;
  double lo = __builtin_inf(), hi = -__builtin_inf(), odd = 0;
  uint32_t i = 0;
  for (; i < n; i++) {
    const uint8_t *m = data + offsets[i];
    Fields f;
    if (lengths[i] < 1 || !fields_of(m + 1, lengths[i] - 1, seq + i, &f)) break;
    if (stored && !same(data + stored[i], digests + 32 * i, 32)) break;
    const uint8_t *p = i == 0 ? prev : digests + 32 * (i - 1);
    if (p && !hex_is(m + 1 + f.link, p)) break;
    double ts;
    if (timestamp_at(m + 1, f.ts, lengths[i] - 1, &ts)) {
      if (ts < lo) lo = ts;
      if (ts > hi) hi = ts;
    } else {
      odd++;
    }
  }
  range[0] = lo, range[1] = hi, range[2] = odd;
  return i;
}

#endif
