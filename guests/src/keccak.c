/*
 * keccak - Keccak-256 (the original Keccak padding, as used by Ethereum)
 * or SHA3-256 (FIPS 202 padding) of a generated message of N bytes.
 * Both are the sponge over keccak-f[1600] with rate 136 bytes; only the
 * domain-padding byte differs (0x01 versus 0x06).
 *
 * The message is the little-endian byte stream of successive xorshift64*
 * outputs (javm_rand_next) from the seed 0x0123456789abcdef, the same
 * stream the sha256 guest hashes.
 *
 * Arguments: u32 LE N (default 2097152 = 2 MiB), then optionally
 *            u32 LE variant: 0 = Keccak-256 (default), 1 = SHA3-256.
 * Output (32 bytes): the digest.
 */
#include "javm_guest.h"

#define DEFAULT_N (2u * 1024 * 1024)
#define SEED 0x0123456789abcdefULL
#define RATE 136

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rotation offsets and lane order of the combined rho + pi step. */
static const uint8_t RHO[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};
static const uint8_t PI[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};

/*
 * The unroll pragmas (understood by gcc and clang) make every lane index a
 * constant, so the state lives in registers instead of an indexed array.
 */
static void keccak_f1600(uint64_t st[25])
{
    for (int round = 0; round < 24; round++) {
        /* theta */
        uint64_t c[5];
#pragma GCC unroll 5
        for (int x = 0; x < 5; x++)
            c[x] = st[x] ^ st[x + 5] ^ st[x + 10] ^ st[x + 15] ^ st[x + 20];
#pragma GCC unroll 5
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ javm_rotl64(c[(x + 1) % 5], 1);
#pragma GCC unroll 5
            for (int y = 0; y < 25; y += 5)
                st[y + x] ^= d;
        }
        /* rho and pi: walk the 24-lane cycle starting at lane 1 */
        uint64_t cur = st[1];
#pragma GCC unroll 24
        for (int i = 0; i < 24; i++) {
            int j = PI[i];
            uint64_t tmp = st[j];
            st[j] = javm_rotl64(cur, RHO[i]);
            cur = tmp;
        }
        /* chi */
#pragma GCC unroll 5
        for (int y = 0; y < 25; y += 5) {
            uint64_t row[5];
#pragma GCC unroll 5
            for (int x = 0; x < 5; x++)
                row[x] = st[y + x];
#pragma GCC unroll 5
            for (int x = 0; x < 5; x++)
                st[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
        }
        /* iota */
        st[0] ^= RC[round];
    }
}

static uint8_t out[32];

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    uint8_t pad = javm_arg_u32(args, args_len, 1, 0) == 1 ? 0x06 : 0x01;

    uint64_t st[25];
    for (int i = 0; i < 25; i++)
        st[i] = 0;

    /*
     * Absorb. The generator yields 8-byte words and the rate is 17 words,
     * so whole words are xored straight into the lanes; `lane` is the
     * position inside the current block.
     */
    uint64_t rng = SEED;
    unsigned lane = 0;
    while (n >= 8) {
        st[lane++] ^= javm_rand_next(&rng);
        if (lane == RATE / 8) {
            keccak_f1600(st);
            lane = 0;
        }
        n -= 8;
    }

    /* Final partial word (0..7 message bytes), then the padding. */
    uint8_t tail[8] = { 0 };
    if (n > 0) {
        uint64_t w = javm_rand_next(&rng);
        for (uint64_t i = 0; i < n; i++)
            tail[i] = (uint8_t)(w >> (8 * i));
    }
    tail[n] ^= pad;
    st[lane] ^= javm_load_le64(tail);
    st[RATE / 8 - 1] ^= 0x8000000000000000ULL;
    keccak_f1600(st);

    for (int i = 0; i < 4; i++)
        javm_store_le64(out + 8 * i, st[i]);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(keccak, run)
