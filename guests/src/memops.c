/*
 * memops - bulk memset / memcpy / memmove over two heap buffers of up to
 * 4 MiB each (8 MiB of zero-initialised read-write memory, 2048 pages).
 *
 * Each round r (of R):
 *   1. memset the first S bytes of A in runs of pseudo-random length
 *      (1 B .. 64 KiB) and value,
 *   2. memcpy A -> B with a source/destination skew of 1..63 bytes (so
 *      most copies are unaligned),
 *   3. memmove B up by 1..4096 bytes in place (overlapping, copied
 *      backwards),
 *   4. fold 64 sampled words of B into a running hash.
 * After the last round every word of B is folded in once.
 * Random numbers: xorshift64* (javm_rand_next) seeded with 0x3e3c0b5.
 *
 * Arguments: u32 LE R (default 16), then optionally u32 LE S in bytes
 *            (default and maximum 4194304; at least 8192 is used).
 * Output (16 bytes): u64 LE fold of all of B, u64 LE hash of the samples.
 */
#include "javm_guest.h"

#define DEFAULT_ROUNDS 16u
#define MAX_SIZE (4u * 1024 * 1024)
#define MIN_SIZE 8192u
#define SEED 0x3e3c0b5ULL

static uint8_t buf_a[MAX_SIZE];
static uint8_t buf_b[MAX_SIZE];
static uint8_t out[16];

static inline uint64_t mix(uint64_t h, uint64_t v)
{
    return javm_rotl64(h ^ v, 23) * 0x9e3779b97f4a7c15ULL;
}

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t rounds = javm_arg_u32(args, args_len, 0, DEFAULT_ROUNDS);
    uint64_t size = javm_arg_u32(args, args_len, 1, MAX_SIZE);
    if (size > MAX_SIZE)
        size = MAX_SIZE;
    if (size < MIN_SIZE)
        size = MIN_SIZE;

    uint64_t rng = SEED;
    uint64_t samples = 0;
    /* B starts as zeros on every run (native calls reuse the buffer). */
    memset(buf_b, 0, size);

    for (uint64_t r = 0; r < rounds; r++) {
        /* 1: runs of memset */
        uint64_t pos = 0;
        while (pos < size) {
            uint64_t x = javm_rand_next(&rng);
            uint64_t len = 1 + (x & 0xffff);
            if (len > size - pos)
                len = size - pos;
            memset(buf_a + pos, (int)(x >> 56), len);
            pos += len;
        }

        /* 2: skewed copy A -> B */
        uint64_t x = javm_rand_next(&rng);
        uint64_t src_skew = 1 + (x & 63);
        uint64_t dst_skew = 1 + ((x >> 8) & 63);
        memcpy(buf_b + dst_skew, buf_a + src_skew, size - 64);

        /* 3: overlapping move upwards within B */
        uint64_t shift = 1 + ((x >> 16) & 4095);
        memmove(buf_b + shift, buf_b, size - shift);

        /* 4: sample words */
        for (int i = 0; i < 64; i++) {
            uint64_t at = (javm_rand_next(&rng) % (size / 8)) * 8;
            samples = mix(samples, javm_load_le64(buf_b + at) + r);
        }
    }

    uint64_t fold = 0;
    for (uint64_t i = 0; i < size; i += 8)
        fold = mix(fold, javm_load_le64(buf_b + i));

    javm_store_le64(out, fold);
    javm_store_le64(out + 8, samples);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(memops, run)
