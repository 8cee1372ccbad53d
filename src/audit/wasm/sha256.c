// Multi-buffer SHA-256 (FIPS 180-4) for WebAssembly SIMD128: four independent messages are
// hashed at once, one per 32-bit lane of each v128 value. Node's crypto.hash costs ~1.5 µs per
// call, nearly all of it call overhead; hashing many small messages in one call amortizes that.
//
// Built by scripts/build-sha256-wasm.mjs (freestanding: no libc, no stack use to speak of).
// Memory above __heap_base belongs to the caller (src/audit/batch-hash.ts), which grows it.

#include "sha256-simd.h"
#include "sha256-scalar.h"
#include "audit-records.h"

// Where one lane of hash_many stands.
typedef struct {
  const uint8_t *msg; // the message being hashed
  uint32_t len;       // its length in bytes
  uint32_t pos;       // bytes of it already compressed
  uint32_t index;     // its index, for the output position
  uint32_t tail;      // blocks left in pad (0 while whole blocks come straight from msg)
} Lane;

// Each lane's final one or two blocks: the data left over, 0x80, zeros, the bit length.
static uint8_t pad[4][128] __attribute__((aligned(16)));
#define BYTE_INDEX wasm_i8x16_const(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

// Builds the padded tail of a message whose unprocessed rest (rem < 64 bytes) starts at src.
// Reads 64 bytes from src whatever rem is: the caller leaves 64 bytes of slack after messages.
static void build_tail(uint8_t *dst, const uint8_t *src, uint32_t rem, uint32_t len) {
  V r = wasm_i8x16_splat((int8_t)rem);
  V marker = wasm_i8x16_splat((int8_t)0x80);
#pragma clang loop unroll(full)
  for (int k = 0; k < 4; k++) {
    V idx = wasm_i8x16_add(BYTE_INDEX, wasm_i8x16_splat((int8_t)(16 * k)));
    V keep = wasm_i8x16_lt(idx, r); // indices < 64, so the signed compare is fine
    V data = wasm_v128_and(wasm_v128_load(src + 16 * k), keep);
    wasm_v128_store(dst + 16 * k, wasm_v128_or(data, wasm_v128_and(wasm_i8x16_eq(idx, r), marker)));
  }
  // With rem >= 56 there is no room for the 8-byte length: a second block follows.
  uint32_t end = rem < 56 ? 64 : 128;
  if (end == 128) {
#pragma clang loop unroll(full)
    for (int k = 4; k < 8; k++) wasm_v128_store(dst + 16 * k, wasm_i64x2_const(0, 0));
  }
  uint64_t bits = (uint64_t)len << 3;
  *(uint64_t *)(dst + end - 8) = __builtin_bswap64(bits);
}

// Puts message `index` into lane l and returns the pointer to its first block.
static const uint8_t *lane_start(Lane *lane, int l, const uint8_t *msg, uint32_t len, uint32_t index) {
  lane->msg = msg, lane->len = len, lane->pos = 0, lane->index = index, lane->tail = 0;
  if (len >= 64) return msg;
  build_tail(pad[l], msg, len, len);
  lane->tail = len < 56 ? 1 : 2;
  return pad[l];
}

// Advances a lane past the block just compressed: returns the pointer to its next block, or 0
// when the message is done.
static const uint8_t *lane_next(Lane *lane, int l) {
  if (lane->tail) {
    // Inside the padded tail: the second tail block, if any, follows the first in pad.
    return --lane->tail ? pad[l] + 64 : 0;
  }
  lane->pos += 64;
  uint32_t rem = lane->len - lane->pos;
  if (rem >= 64) return lane->msg + lane->pos;
  build_tail(pad[l], lane->msg + lane->pos, rem, lane->len);
  lane->tail = rem < 56 ? 1 : 2;
  return pad[l];
}

// Scratch for reading single lanes out of the state.
static uint32_t lanes[8][4] __attribute__((aligned(16)));

/**
 * SHA-256 of n messages: message i is data[offsets[i], offsets[i] + lengths[i]), its digest
 * goes to out + 32 * i. Up to 64 bytes past the end of every message must be readable (they
 * are loaded and masked off, never used).
 *
 * Lanes are refilled independently: when one lane's message ends, its digest is written and
 * the next message starts in that lane while the others carry on, so messages of different
 * lengths waste no lane time (only the last few blocks of the batch run with idle lanes).
 */
__attribute__((export_name("hash_many"))) void hash_many(const uint8_t *data, const uint32_t *offsets,
                                                         const uint32_t *lengths, uint32_t n, uint8_t *out) {
  Lane lane[4];
  const uint8_t *p[4];
  V s[8];
  uint32_t next = 0;
  int active = 0;
  for (int l = 0; l < 4; l++) {
    if (next < n) {
      p[l] = lane_start(&lane[l], l, data + offsets[next], lengths[next], next);
      next++, active++;
    } else {
      p[l] = pad[l]; // an idle lane hashes whatever is in its pad; the result is dropped
      lane[l].index = UINT32_MAX;
    }
  }
  for (int k = 0; k < 8; k++) s[k] = wasm_u32x4_splat(H0[k]);
  while (active) {
    load_blocks(p);
    compress(s);
    uint32_t restart[4] = {0, 0, 0, 0};
    int finished = 0;
    for (int l = 0; l < 4; l++) {
      if (lane[l].index == UINT32_MAX) continue;
      p[l] = lane_next(&lane[l], l);
      if (p[l]) continue;
      if (!finished++)
        for (int k = 0; k < 8; k++) wasm_v128_store(lanes[k], s[k]);
      uint32_t *o = (uint32_t *)(out + 32 * lane[l].index);
      for (int k = 0; k < 8; k++) o[k] = __builtin_bswap32(lanes[k][l]);
      restart[l] = UINT32_MAX;
      if (next < n) {
        p[l] = lane_start(&lane[l], l, data + offsets[next], lengths[next], next);
        next++;
      } else {
        p[l] = pad[l];
        lane[l].index = UINT32_MAX;
        active--;
      }
    }
    if (finished) {
      // Lanes that just took a new message start over from the initial hash value.
      V m = wasm_v128_load(restart);
      for (int k = 0; k < 8; k++) s[k] = wasm_v128_bitselect(wasm_u32x4_splat(H0[k]), s[k], m);
    }
  }
}

/**
 * Inner Merkle nodes (RFC 6962): out + 32 * i receives SHA-256(0x01 || pairs[64i, 64i + 64)).
 * The 65-byte input is two blocks: 0x01 and the first 63 bytes, then the last byte, 0x80,
 * zeros and the bit length 520. All but the first word of the second block are constants.
 * A final group of fewer than four runs with copies of the last pair in the spare lanes.
 */
__attribute__((export_name("hash_nodes"))) void hash_nodes(const uint8_t *pairs, uint32_t n, uint8_t *out) {
  static uint8_t spare[128] __attribute__((aligned(16)));
  // Byte 15 is the 0x01 prefix, shifted in ahead of each lane's first 16 bytes.
  const V prefix = wasm_i8x16_make(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
  for (uint32_t i = 0; i < n; i += 4) {
    const uint8_t *p[4];
    for (int l = 0; l < 4; l++) p[l] = pairs + 64 * (i + l < n ? i + l : n - 1);
    V s[8];
#pragma clang loop unroll(full)
    for (int k = 0; k < 4; k++) {
      V r[4];
#pragma clang loop unroll(full)
      for (int l = 0; l < 4; l++) {
        // Block bytes 16k .. 16k+15 are pair bytes 16k-1 .. 16k+14 (byte -1 is the prefix);
        // one shuffle shifts by a byte and makes the words big-endian.
        V prev = k == 0 ? prefix : wasm_v128_load(p[l] + 16 * k - 16);
        V cur = wasm_v128_load(p[l] + 16 * k);
        r[l] = wasm_i8x16_shuffle(prev, cur, 18, 17, 16, 15, 22, 21, 20, 19, 26, 25, 24, 23, 30, 29, 28, 27);
      }
      transpose(&r[0], &r[1], &r[2], &r[3]);
      w[4 * k] = r[0], w[4 * k + 1] = r[1], w[4 * k + 2] = r[2], w[4 * k + 3] = r[3];
    }
    for (int k = 0; k < 8; k++) s[k] = wasm_u32x4_splat(H0[k]);
    compress(s);
    w[0] = wasm_u32x4_make(p[0][63] << 24 | 0x800000u, p[1][63] << 24 | 0x800000u,
                           p[2][63] << 24 | 0x800000u, p[3][63] << 24 | 0x800000u);
    for (int k = 1; k < 15; k++) w[k] = wasm_i64x2_const(0, 0);
    w[15] = wasm_u32x4_splat(65 * 8);
    compress(s);
    if (n - i >= 4) {
      store_digests(s, out + 32 * i);
    } else {
      store_digests(s, spare);
      for (uint32_t j = 0; j < 32 * (n - i); j++) out[32 * i + j] = spare[j];
    }
  }
}

// hash_chained: messages whose last CHAIN_TAIL bytes are the lower-case hex of the previous
// message's digest and `"}` (audit records of version 2, whose prevHash member comes last).

// Blocks of message i that come before its chained tail: they do not depend on any digest.
static inline uint32_t free_blocks(uint32_t len) {
  return (len - CHAIN_TAIL) / 64;
}

// The next message (from *next) with at least one free block; messages without one start their
// chained tail from the initial hash value, written to mid here. UINT32_MAX when none is left.
static uint32_t take_free(const uint32_t *lengths, uint32_t n, uint32_t *next, uint32_t *mid) {
  while (*next < n) {
    uint32_t i = (*next)++;
    if (free_blocks(lengths[i]) > 0) return i;
    for (int k = 0; k < 8; k++) mid[8 * i + k] = H0[k];
  }
  return UINT32_MAX;
}

// Where one lane of the free-block pass stands.
typedef struct {
  const uint8_t *p; // the next block
  uint32_t left;    // free blocks left, this one included
  uint32_t index;   // the message, or UINT32_MAX for an idle lane
} FreeLane;

/**
 * SHA-256 of n chained messages: message i is data[offsets[i], offsets[i] + lengths[i]) with
 * lengths[i] >= 66, and its last 66 bytes are 64 hex digits followed by 2 other bytes. The hex
 * digits are overwritten with the lower-case hex of the previous message's digest (of the 32
 * bytes at prev for message 0), then the message is hashed; its digest goes to out + 32 * i.
 * mid receives 32 bytes of working state per message.
 *
 * Everything before each message's chained tail is hashed first, four messages at a time as in
 * hash_many (it depends on no digest); then each message's last two or three blocks are
 * compressed in order, one message at a time, since each needs the digest before it.
 */
__attribute__((export_name("hash_chained"))) void hash_chained(uint8_t *data, const uint32_t *offsets, const uint32_t *lengths,
                                                               uint32_t n, const uint8_t *prev, uint8_t *out, uint32_t *mid) {
  FreeLane lane[4];
  const uint8_t *p[4];
  V s[8];
  uint32_t next = 0;
  int active = 0;
  for (int l = 0; l < 4; l++) {
    uint32_t i = take_free(lengths, n, &next, mid);
    lane[l].index = i;
    if (i == UINT32_MAX) {
      p[l] = pad[l]; // an idle lane hashes whatever is in its pad; the result is dropped
      continue;
    }
    lane[l].p = p[l] = data + offsets[i], lane[l].left = free_blocks(lengths[i]);
    active++;
  }
  for (int k = 0; k < 8; k++) s[k] = wasm_u32x4_splat(H0[k]);
  while (active) {
    load_blocks(p);
    compress(s);
    uint32_t restart[4] = {0, 0, 0, 0};
    int finished = 0;
    for (int l = 0; l < 4; l++) {
      if (lane[l].index == UINT32_MAX) continue;
      if (--lane[l].left) {
        p[l] = lane[l].p += 64;
        continue;
      }
      if (!finished++)
        for (int k = 0; k < 8; k++) wasm_v128_store(lanes[k], s[k]);
      for (int k = 0; k < 8; k++) mid[8 * lane[l].index + k] = lanes[k][l];
      restart[l] = UINT32_MAX;
      uint32_t i = take_free(lengths, n, &next, mid);
      lane[l].index = i;
      if (i == UINT32_MAX) {
        p[l] = pad[l];
        active--;
      } else {
        lane[l].p = p[l] = data + offsets[i], lane[l].left = free_blocks(lengths[i]);
      }
    }
    if (finished) {
      V m = wasm_v128_load(restart);
      for (int k = 0; k < 8; k++) s[k] = wasm_v128_bitselect(wasm_u32x4_splat(H0[k]), s[k], m);
    }
  }
  // The chained tails, in order.
  static uint8_t tail[192];
  const uint8_t *pv = prev;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *m = data + offsets[i];
    uint32_t len = lengths[i];
    uint8_t *hex = m + len - CHAIN_TAIL;
    for (int k = 0; k < 32; k++) hex[2 * k] = HEX_DIGITS[pv[k] >> 4], hex[2 * k + 1] = HEX_DIGITS[pv[k] & 15];
    uint32_t c = free_blocks(len);
    uint32_t st[8];
    for (int k = 0; k < 8; k++) st[k] = mid[8 * i + k];
    // The rest (66..129 bytes), 0x80, zeros and the bit length: two blocks, or three.
    uint32_t r = len - 64 * c;
    uint32_t end = r + 9 <= 128 ? 128 : 192;
    __builtin_memcpy(tail, m + 64 * c, r);
    tail[r] = 0x80;
    for (uint32_t k = r + 1; k < end - 8; k++) tail[k] = 0;
    uint64_t bits = (uint64_t)len << 3;
    store_be32(tail + end - 8, (uint32_t)(bits >> 32));
    store_be32(tail + end - 4, (uint32_t)bits);
    for (uint32_t b = 0; b < end; b += 64) compress_scalar(st, tail + b);
    uint8_t *o = out + 32 * i;
    for (int k = 0; k < 8; k++) store_be32(o + 4 * k, st[k]);
    pv = o;
  }
}

extern uint8_t __heap_base;

/** The first byte of memory that the module leaves to the caller. */
__attribute__((export_name("heap_base"))) uint32_t heap_base(void) {
  return (uint32_t)(uintptr_t)&__heap_base;
}
