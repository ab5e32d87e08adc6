/*
 * sieve - count the primes below N with the sieve of Eratosthenes.
 *
 * Only odd numbers are stored (one byte per odd number), so N up to
 * 16 Mi needs 8 MiB of zero-initialised heap.
 *
 * Arguments: u32 LE N (default 4000000; values above 16777216 are clamped).
 * Output (16 bytes): u64 LE number of primes < N, u64 LE sum of those
 * primes (mod 2^64).
 */
#include "javm_guest.h"

#define DEFAULT_N 4000000u
#define MAX_N (16u * 1024 * 1024)

/* composite[i] != 0  <=>  2*i + 1 is composite (i >= 1). */
static uint8_t composite[MAX_N / 2];
static uint8_t out[16];

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    if (n > MAX_N)
        n = MAX_N;

    uint64_t count = 0, sum = 0;
    if (n > 2) {
        count = 1; /* the prime 2 */
        sum = 2;
    }

    /* Odd numbers 3, 5, ..., below n: indices 1 .. half-1. */
    uint64_t half = n / 2;
    memset(composite, 0, half);
    for (uint64_t i = 1; i < half; i++) {
        if (composite[i])
            continue;
        uint64_t p = 2 * i + 1;
        count++;
        sum += p;
        /* Cross off odd multiples starting at p*p (index (p*p-1)/2). */
        uint64_t j = (p * p) / 2;
        for (; j < half; j += p)
            composite[j] = 1;
    }

    javm_store_le64(out, count);
    javm_store_le64(out + 8, sum);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(sieve, run)
