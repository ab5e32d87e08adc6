/*
 * sha256 - SHA-256 (FIPS 180-4) of a generated message of N bytes.
 *
 * The message is the little-endian byte stream of successive xorshift64*
 * outputs (javm_rand_next) from the seed 0x0123456789abcdef, produced in
 * 4 KiB chunks and hashed incrementally, so any N works in O(1) memory.
 *
 * Arguments: u32 LE N (default 2097152 = 2 MiB).
 * Output (32 bytes): the digest.
 */
#include "javm_guest.h"

#define DEFAULT_N (2u * 1024 * 1024)
#define SEED 0x0123456789abcdefULL
#define CHUNK 4096

typedef struct {
    uint32_t h[8];
    uint8_t block[64];
    uint32_t used;   /* bytes in block[] */
    uint64_t total;  /* message bytes so far */
} sha256_ctx;

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

static inline uint32_t rotr32(uint32_t x, unsigned r)
{
    return (x >> r) | (x << (32 - r));
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void compress(uint32_t h[8], const uint8_t *block)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    uint32_t e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + K[i] + w[i];
        uint32_t S0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

static void sha256_init(sha256_ctx *ctx)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    for (int i = 0; i < 8; i++)
        ctx->h[i] = iv[i];
    ctx->used = 0;
    ctx->total = 0;
}

static void sha256_update(sha256_ctx *ctx, const uint8_t *data, uint64_t len)
{
    ctx->total += len;
    if (ctx->used > 0) {
        while (len > 0 && ctx->used < 64) {
            ctx->block[ctx->used++] = *data++;
            len--;
        }
        if (ctx->used < 64)
            return;
        compress(ctx->h, ctx->block);
        ctx->used = 0;
    }
    while (len >= 64) {
        compress(ctx->h, data);
        data += 64;
        len -= 64;
    }
    while (len > 0) {
        ctx->block[ctx->used++] = *data++;
        len--;
    }
}

static void sha256_final(sha256_ctx *ctx, uint8_t digest[32])
{
    uint64_t bits = ctx->total * 8;
    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        while (ctx->used < 64)
            ctx->block[ctx->used++] = 0;
        compress(ctx->h, ctx->block);
        ctx->used = 0;
    }
    while (ctx->used < 56)
        ctx->block[ctx->used++] = 0;
    for (int i = 0; i < 8; i++)
        ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(ctx->h, ctx->block);
    for (int i = 0; i < 8; i++)
        store_be32(digest + 4 * i, ctx->h[i]);
}

static uint8_t chunk[CHUNK];
static uint8_t out[32];

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    uint64_t rng = SEED;
    sha256_ctx ctx;
    sha256_init(&ctx);

    while (n > 0) {
        uint64_t len = n < CHUNK ? n : CHUNK;
        for (uint64_t i = 0; i < len; i += 8)
            javm_store_le64(chunk + i, javm_rand_next(&rng));
        sha256_update(&ctx, chunk, len);
        n -= len;
    }
    sha256_final(&ctx, out);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(sha256, run)
