// The SIMD128 core of the multi-buffer SHA-256 (FIPS 180-4): four independent messages, one per
// 32-bit lane of each v128 value. Included by sha256.c (the build compiles that one file).

#ifndef SHA256_SIMD_H
#define SHA256_SIMD_H

#include <stdint.h>
#include <wasm_simd128.h>

typedef v128_t V;

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first
// 64 primes.
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// FIPS 180-4 §5.3.3: the initial hash value.
static const uint32_t H0[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

// SIMD128 has no rotate instruction (and V8 emits none), so rotr is two shifts and an or.
#define ROTR(x, n) wasm_v128_or(wasm_u32x4_shr((x), (n)), wasm_i32x4_shl((x), 32 - (n)))
#define ADD(x, y) wasm_i32x4_add((x), (y))
#define XOR3(x, y, z) wasm_v128_xor(wasm_v128_xor((x), (y)), (z))
#define BSIG0(x) XOR3(ROTR(x, 2), ROTR(x, 13), ROTR(x, 22))
#define BSIG1(x) XOR3(ROTR(x, 6), ROTR(x, 11), ROTR(x, 25))
#define SSIG0(x) XOR3(ROTR(x, 7), ROTR(x, 18), wasm_u32x4_shr((x), 3))
#define SSIG1(x) XOR3(ROTR(x, 17), ROTR(x, 19), wasm_u32x4_shr((x), 10))
// Ch picks f where e is 1 and g elsewhere: exactly bitselect. Maj is b where a and c differ,
// else a (= c): bitselect again, one xor instead of the spec's four operations.
#define CH(e, f, g) wasm_v128_bitselect((f), (g), (e))
#define MAJ(a, b, c) wasm_v128_bitselect((b), (a), wasm_v128_xor((a), (c)))

// The message schedule of the blocks being compressed: w[t] is word t of every lane's block.
// It lives in memory on purpose. Kept in locals (fully unrolled code, tried first), the 16-word
// ring plus the 8 state words overflow x64's 16 vector registers, and V8's spills and reloads
// cost more than these loads: the rolled version is ~25% faster and 5x smaller.
static V w[64];

// Expands w[0..15] to the full schedule (FIPS 180-4 §6.2.2 step 1).
static void schedule(void) {
#pragma clang loop unroll(disable)
  for (int t = 16; t < 64; t++) w[t] = ADD(ADD(w[t - 16], SSIG0(w[t - 15])), ADD(w[t - 7], SSIG1(w[t - 2])));
}

// One round. Only d and h change; the caller rotates the names instead of moving values.
#define ROUND(a, b, c, d, e, f, g, h, t)                                                     \
  do {                                                                                       \
    V t1 = ADD(ADD(h, BSIG1(e)), ADD(CH(e, f, g), ADD(wasm_v128_load32_splat(&K[t]), w[t]))); \
    V t2 = ADD(BSIG0(a), MAJ(a, b, c));                                                      \
    d = ADD(d, t1);                                                                          \
    h = ADD(t1, t2);                                                                         \
  } while (0)

// Compresses the block in w[0..15] of each lane into the state s (FIPS 180-4 §6.2.2).
// Eight rounds per iteration, not 64: the code stays small and V8 keeps the state in registers.
static void compress(V s[8]) {
  schedule();
  V a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
#pragma clang loop unroll(disable)
  for (int t = 0; t < 64; t += 8) {
    ROUND(a, b, c, d, e, f, g, h, t + 0);
    ROUND(h, a, b, c, d, e, f, g, t + 1);
    ROUND(g, h, a, b, c, d, e, f, t + 2);
    ROUND(f, g, h, a, b, c, d, e, t + 3);
    ROUND(e, f, g, h, a, b, c, d, t + 4);
    ROUND(d, e, f, g, h, a, b, c, t + 5);
    ROUND(c, d, e, f, g, h, a, b, t + 6);
    ROUND(b, c, d, e, f, g, h, a, t + 7);
  }
  s[0] = ADD(s[0], a), s[1] = ADD(s[1], b), s[2] = ADD(s[2], c), s[3] = ADD(s[3], d);
  s[4] = ADD(s[4], e), s[5] = ADD(s[5], f), s[6] = ADD(s[6], g), s[7] = ADD(s[7], h);
}

// Reverses the bytes of each 32-bit word: SHA-256 reads words big-endian, wasm is little.
static inline V bswap32x4(V x) {
  return wasm_i8x16_shuffle(x, x, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
}

// Transposes a 4x4 matrix of words (rows a..d) in place: afterwards row i holds column i.
// These two-input patterns are the unpack instructions on x64.
static inline void transpose(V *a, V *b, V *c, V *d) {
  V t0 = wasm_i32x4_shuffle(*a, *b, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*a, *b, 2, 6, 3, 7);
  V t2 = wasm_i32x4_shuffle(*c, *d, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(*c, *d, 2, 6, 3, 7);
  *a = wasm_i64x2_shuffle(t0, t2, 0, 2), *b = wasm_i64x2_shuffle(t0, t2, 1, 3);
  *c = wasm_i64x2_shuffle(t1, t3, 0, 2), *d = wasm_i64x2_shuffle(t1, t3, 1, 3);
}

// Loads one 64-byte block from each of four pointers into w[0..15], lane i from p[i].
static inline __attribute__((always_inline)) void load_blocks(const uint8_t *const p[4]) {
#pragma clang loop unroll(full)
  for (int k = 0; k < 4; k++) {
    V r0 = bswap32x4(wasm_v128_load(p[0] + 16 * k)), r1 = bswap32x4(wasm_v128_load(p[1] + 16 * k));
    V r2 = bswap32x4(wasm_v128_load(p[2] + 16 * k)), r3 = bswap32x4(wasm_v128_load(p[3] + 16 * k));
    transpose(&r0, &r1, &r2, &r3);
    w[4 * k] = r0, w[4 * k + 1] = r1, w[4 * k + 2] = r2, w[4 * k + 3] = r3;
  }
}

// Writes the digests of all four lanes: lane i to out + 32 * i.
static inline void store_digests(const V s[8], uint8_t *out) {
  V a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  transpose(&a, &b, &c, &d);
  transpose(&e, &f, &g, &h);
  wasm_v128_store(out, bswap32x4(a)), wasm_v128_store(out + 16, bswap32x4(e));
  wasm_v128_store(out + 32, bswap32x4(b)), wasm_v128_store(out + 48, bswap32x4(f));
  wasm_v128_store(out + 64, bswap32x4(c)), wasm_v128_store(out + 80, bswap32x4(g));
  wasm_v128_store(out + 96, bswap32x4(d)), wasm_v128_store(out + 112, bswap32x4(h));
}

#endif
