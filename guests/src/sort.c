/*
 * sort - quicksort N pseudo-random 64-bit keys.
 *
 * Keys come from xorshift64* (javm_rand_next) seeded with
 * 0x50f7ab1e00000001. The sort is an in-place quicksort: median-of-three
 * pivot, Hoare partition, insertion sort below 16 elements, recursion on
 * the smaller side only (so the stack depth is O(log N)).
 *
 * Arguments: u32 LE N (default 200000; clamped to 1048576).
 * Output (32 bytes), all u64 LE:
 *   number of adjacent pairs out of order afterwards (0 when correct),
 *   sum over i of key[i] * (i + 1) (mod 2^64),
 *   key[N / 2] (0 when N = 0), key[N - 1] (0 when N = 0).
 */
#include "javm_guest.h"

#define DEFAULT_N 200000u
#define MAX_N (1u << 20)
#define SEED 0x50f7ab1e00000001ULL
#define SMALL 16

static uint64_t keys[MAX_N];
static uint8_t out[32];

static void insertion_sort(uint64_t *a, int64_t n)
{
    for (int64_t i = 1; i < n; i++) {
        uint64_t v = a[i];
        int64_t j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static inline void swap(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

static void quicksort(uint64_t *a, int64_t n)
{
    while (n > SMALL) {
        /* Median of three moved to a[0]; a[0] <= a[mid] <= a[n-1] first. */
        int64_t mid = n / 2;
        if (a[mid] < a[0])
            swap(&a[mid], &a[0]);
        if (a[n - 1] < a[0])
            swap(&a[n - 1], &a[0]);
        if (a[n - 1] < a[mid])
            swap(&a[n - 1], &a[mid]);
        uint64_t pivot = a[mid];

        /* Hoare partition: a[0..=j] <= pivot <= a[j+1..n). */
        int64_t i = -1, j = n;
        for (;;) {
            do
                i++;
            while (a[i] < pivot);
            do
                j--;
            while (a[j] > pivot);
            if (i >= j)
                break;
            swap(&a[i], &a[j]);
        }

        int64_t left = j + 1, right = n - left;
        if (left < right) {
            quicksort(a, left);
            a += left;
            n = right;
        } else {
            quicksort(a + left, right);
            n = left;
        }
    }
    insertion_sort(a, n);
}

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    if (n > MAX_N)
        n = MAX_N;

    uint64_t rng = SEED;
    for (uint64_t i = 0; i < n; i++)
        keys[i] = javm_rand_next(&rng);

    quicksort(keys, (int64_t)n);

    uint64_t disorder = 0, weighted = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i > 0 && keys[i - 1] > keys[i])
            disorder++;
        weighted += keys[i] * (i + 1);
    }
    javm_store_le64(out, disorder);
    javm_store_le64(out + 8, weighted);
    javm_store_le64(out + 16, n ? keys[n / 2] : 0);
    javm_store_le64(out + 24, n ? keys[n - 1] : 0);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(sort, run)
