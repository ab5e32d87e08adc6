/*
 * bigmul - 1024-bit modular exponentiation (the core of RSA), followed by
 * decimal conversion and small-prime residues of each result.
 *
 * Numbers are 16 little-endian 64-bit limbs. Multiplication is Montgomery
 * (CIOS) with 64x64->128-bit products, i.e. `mul` + `mulhu` pairs. The
 * decimal conversion divides by the constant 10^9 (which compilers turn
 * into multiplications); the residues modulo the first 512 odd primes use
 * run-time divisors, i.e. real `remu` instructions.
 *
 * Setup, from xorshift64* (javm_rand_next) seeded with 0x5eed00000000b16:
 *   m = 16 random limbs with the lowest bit and the top bit set,
 *   b = 16 random limbs with the top two bits cleared (so b < m),
 *   e = 16 random limbs.
 * Then K times: b = b^e mod m (so each exponentiation starts from the
 * previous result); the decimal digits of b are summed and b mod p for the
 * first 512 odd primes p are folded into a hash h:
 *   h = (rotl64(h, 5) ^ residue) * 0x100000001b3, starting from 0.
 *
 * Arguments: u32 LE K (default 12).
 * Output (32 bytes), u64 LE: limb 0 of the final b, the sum of all decimal
 * digits of all K results, FNV-1a of the decimal string of the final b,
 * and h.
 */
#include "javm_guest.h"

#define DEFAULT_K 12u
#define LIMBS 16
#define SEED 0x5eed00000000b16ULL
#define NPRIMES 512

typedef unsigned __int128 u128;

typedef struct {
    uint64_t m[LIMBS];
    uint64_t m_inv; /* -m^-1 mod 2^64 */
    uint64_t r2[LIMBS]; /* R^2 mod m, R = 2^1024 */
} mont_ctx;

/* r = a * b * R^-1 mod m (CIOS); r may alias a or b. */
static void mont_mul(const mont_ctx *ctx, uint64_t *r, const uint64_t *a, const uint64_t *b)
{
    uint64_t t[LIMBS + 2];
    for (int i = 0; i < LIMBS + 2; i++)
        t[i] = 0;

    for (int i = 0; i < LIMBS; i++) {
        /* t += a * b[i] */
        uint64_t carry = 0;
        for (int j = 0; j < LIMBS; j++) {
            u128 p = (u128)a[j] * b[i] + t[j] + carry;
            t[j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        u128 s = (u128)t[LIMBS] + carry;
        t[LIMBS] = (uint64_t)s;
        t[LIMBS + 1] = (uint64_t)(s >> 64);

        /* t = (t + q*m) / 2^64 with q chosen so the low limb cancels */
        uint64_t q = t[0] * ctx->m_inv;
        u128 p = (u128)q * ctx->m[0] + t[0];
        carry = (uint64_t)(p >> 64);
        for (int j = 1; j < LIMBS; j++) {
            p = (u128)q * ctx->m[j] + t[j] + carry;
            t[j - 1] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        s = (u128)t[LIMBS] + carry;
        t[LIMBS - 1] = (uint64_t)s;
        t[LIMBS] = t[LIMBS + 1] + (uint64_t)(s >> 64);
    }

    /* Final conditional subtraction: if t >= m then t -= m. */
    int ge = t[LIMBS] != 0;
    if (!ge) {
        ge = 1;
        for (int j = LIMBS - 1; j >= 0; j--) {
            if (t[j] != ctx->m[j]) {
                ge = t[j] > ctx->m[j];
                break;
            }
        }
    }
    if (ge) {
        uint64_t borrow = 0;
        for (int j = 0; j < LIMBS; j++) {
            uint64_t x = t[j], y = ctx->m[j];
            uint64_t d = x - y - borrow;
            borrow = (x < y) | ((x == y) & borrow);
            r[j] = d;
        }
    } else {
        for (int j = 0; j < LIMBS; j++)
            r[j] = t[j];
    }
}

/* x = 2x mod m, for x < m. */
static void mod_double(const uint64_t *m, uint64_t *x)
{
    uint64_t top = x[LIMBS - 1] >> 63;
    for (int j = LIMBS - 1; j > 0; j--)
        x[j] = (x[j] << 1) | (x[j - 1] >> 63);
    x[0] <<= 1;
    int ge = (int)top;
    if (!ge) {
        ge = 1;
        for (int j = LIMBS - 1; j >= 0; j--) {
            if (x[j] != m[j]) {
                ge = x[j] > m[j];
                break;
            }
        }
    }
    if (ge) {
        uint64_t borrow = 0;
        for (int j = 0; j < LIMBS; j++) {
            uint64_t a = x[j], b = m[j];
            x[j] = a - b - borrow;
            borrow = (a < b) | ((a == b) & borrow);
        }
    }
}

static void mont_setup(mont_ctx *ctx)
{
    /* Newton iteration for the inverse of m[0] modulo 2^64. */
    uint64_t inv = 1;
    for (int i = 0; i < 6; i++)
        inv *= 2 - ctx->m[0] * inv;
    ctx->m_inv = (uint64_t)0 - inv;

    /* R^2 mod m = 2^2048 mod m by doubling 1 2048 times. */
    for (int j = 0; j < LIMBS; j++)
        ctx->r2[j] = 0;
    ctx->r2[0] = 1;
    for (int i = 0; i < 2 * 64 * LIMBS; i++)
        mod_double(ctx->m, ctx->r2);
}

/* r = b^e mod m, plain (not Montgomery) representation in and out. */
static void mod_exp(const mont_ctx *ctx, uint64_t *r, const uint64_t *b, const uint64_t *e)
{
    uint64_t one[LIMBS] = { 1 };
    uint64_t bm[LIMBS], x[LIMBS];
    mont_mul(ctx, bm, b, ctx->r2);  /* b * R mod m */
    mont_mul(ctx, x, one, ctx->r2); /* R mod m */
    for (int i = LIMBS - 1; i >= 0; i--) {
        for (int bit = 63; bit >= 0; bit--) {
            mont_mul(ctx, x, x, x);
            if ((e[i] >> bit) & 1)
                mont_mul(ctx, x, x, bm);
        }
    }
    mont_mul(ctx, r, x, one);
}

/*
 * Decimal digits of a 1024-bit number, most significant first, into buf
 * (at least 310 bytes); returns the length. Works on 32-bit halves so every
 * step is a 64-by-32-bit division.
 */
static uint64_t to_decimal(const uint64_t *x, char *buf)
{
    uint32_t w[2 * LIMBS];
    for (int j = 0; j < LIMBS; j++) {
        w[2 * j] = (uint32_t)x[j];
        w[2 * j + 1] = (uint32_t)(x[j] >> 32);
    }
    int top = 2 * LIMBS;
    while (top > 0 && w[top - 1] == 0)
        top--;

    char rev[320];
    uint64_t n = 0;
    while (top > 0) {
        uint64_t rem = 0;
        for (int j = top - 1; j >= 0; j--) {
            uint64_t cur = (rem << 32) | w[j];
            w[j] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (top > 0 && w[top - 1] == 0)
            top--;
        /* nine digits, or only the significant ones for the last group */
        for (int d = 0; d < 9 && (top > 0 || rem != 0); d++) {
            rev[n++] = (char)('0' + rem % 10);
            rem /= 10;
        }
    }
    if (n == 0)
        rev[n++] = '0';
    for (uint64_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    return n;
}

static uint32_t primes[NPRIMES];

/* The first NPRIMES odd primes, by trial division. */
static void find_primes(void)
{
    uint32_t count = 0;
    for (uint32_t c = 3; count < NPRIMES; c += 2) {
        int is_prime = 1;
        for (uint32_t i = 0; i < count && primes[i] * primes[i] <= c; i++) {
            if (c % primes[i] == 0) {
                is_prime = 0;
                break;
            }
        }
        if (is_prime)
            primes[count++] = c;
    }
}

/* Fold x mod p, for every prime p, into h (Horner over 32-bit halves). */
static uint64_t residue_hash(uint64_t h, const uint64_t *x)
{
    for (uint32_t i = 0; i < NPRIMES; i++) {
        uint64_t p = primes[i], rem = 0;
        for (int j = LIMBS - 1; j >= 0; j--) {
            rem = ((rem << 32) | (x[j] >> 32)) % p;
            rem = ((rem << 32) | (uint32_t)x[j]) % p;
        }
        h = (javm_rotl64(h, 5) ^ rem) * 0x100000001b3ULL;
    }
    return h;
}

static uint8_t out[32];

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t k = javm_arg_u32(args, args_len, 0, DEFAULT_K);
    uint64_t rng = SEED;
    mont_ctx ctx;
    uint64_t b[LIMBS], e[LIMBS];

    for (int j = 0; j < LIMBS; j++)
        ctx.m[j] = javm_rand_next(&rng);
    ctx.m[0] |= 1;
    ctx.m[LIMBS - 1] |= 1ULL << 63;
    for (int j = 0; j < LIMBS; j++)
        b[j] = javm_rand_next(&rng);
    b[LIMBS - 1] &= ~(3ULL << 62);
    for (int j = 0; j < LIMBS; j++)
        e[j] = javm_rand_next(&rng);

    mont_setup(&ctx);
    find_primes();

    char dec[320];
    uint64_t dec_len = to_decimal(b, dec);
    uint64_t digit_sum = 0, h = 0;
    for (uint64_t i = 0; i < k; i++) {
        mod_exp(&ctx, b, b, e);
        dec_len = to_decimal(b, dec);
        for (uint64_t d = 0; d < dec_len; d++)
            digit_sum += (uint64_t)(dec[d] - '0');
        h = residue_hash(h, b);
    }

    uint64_t fnv = 0xcbf29ce484222325ULL;
    for (uint64_t d = 0; d < dec_len; d++) {
        fnv ^= (uint8_t)dec[d];
        fnv *= 0x100000001b3ULL;
    }

    javm_store_le64(out, b[0]);
    javm_store_le64(out + 8, digit_sum);
    javm_store_le64(out + 16, fnv);
    javm_store_le64(out + 24, h);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(bigmul, run)
