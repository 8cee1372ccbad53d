// One-message SHA-256 compression (FIPS 180-4 §6.2.2) on plain 32-bit words, for the blocks
// that cannot go four at a time: the chained tails of hash_chained, where each record's last
// blocks need the digest of the record before. Wasm has a rotate instruction for i32 (V8
// emits ror), so a scalar round is about a third of the operations of a SIMD one.
// Included by sha256.c.

#ifndef SHA256_SCALAR_H
#define SHA256_SCALAR_H

#include <stdint.h>

#define SROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline uint32_t load_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t x) {
  p[0] = (uint8_t)(x >> 24), p[1] = (uint8_t)(x >> 16), p[2] = (uint8_t)(x >> 8), p[3] = (uint8_t)x;
}

// Compresses one 64-byte block into the state s (K is the table of sha256-simd.h).
static void compress_scalar(uint32_t s[8], const uint8_t *block) {
  uint32_t w[64];
#pragma clang loop unroll(full)
  for (int t = 0; t < 16; t++) w[t] = load_be32(block + 4 * t);
#pragma clang loop unroll(disable)
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = SROTR(w[t - 15], 7) ^ SROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = SROTR(w[t - 2], 17) ^ SROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma clang loop unroll(disable)
  for (int t = 0; t < 64; t++) {
    uint32_t t1 = h + (SROTR(e, 6) ^ SROTR(e, 11) ^ SROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
    uint32_t t2 = (SROTR(a, 2) ^ SROTR(a, 13) ^ SROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  s[0] += a, s[1] += b, s[2] += c, s[3] += d, s[4] += e, s[5] += f, s[6] += g, s[7] += h;
}

#endif
