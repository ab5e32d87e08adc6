/*
 * hashtable - an open-addressing hash table (linear probing) with 64-bit
 * keys, filled with pseudo-random inserts and then probed with lookups.
 *
 * Slots are 16 bytes {key, value, generation}; the table has the smallest
 * power of two >= 2N slots (at least 4096, at most 2^19 = 8 MiB), so the
 * inserts land on pseudo-random pages all over the table - a first-touch
 * (copy-on-write / page-fault) stress as much as a hashing benchmark.
 * A slot is occupied when its generation equals the current run's, so the
 * table never needs clearing between runs (fresh memory is generation 0).
 *
 * Workload, with xorshift64* (javm_rand_next) seeded with 0x4a5b6c7d:
 *   N inserts of key = scramble(rand % (3N/2 + 1)); an existing key gets
 *   value += i, a new one value = i;
 *   N lookups of key = scramble(rand % (3N + 1)); hits sum their values.
 *
 * Arguments: u32 LE N (default 250000; clamped to 262144).
 * Output (32 bytes), u64 LE: distinct keys stored, lookup hits, sum of the
 * values found (mod 2^64), total probe steps over all operations.
 */
#include "javm_guest.h"

#define DEFAULT_N 250000u
#define MAX_N (1u << 18)
#define MAX_SLOTS (1u << 19)
#define MIN_SLOTS 4096u
#define SEED 0x4a5b6c7dULL

typedef struct {
    uint64_t key;
    uint32_t value;
    uint32_t gen;
} slot;

static slot table[MAX_SLOTS];
static uint32_t generation;
static uint8_t out[32];

/* A bijective 64-bit mixer (so distinct inputs give distinct keys). */
static inline uint64_t scramble(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

typedef struct {
    uint64_t mask;
    unsigned shift;
    uint32_t gen;
    uint64_t probes;
} table_info;

static inline uint64_t home(const table_info *t, uint64_t key)
{
    return (key * 0x9e3779b97f4a7c15ULL) >> t->shift;
}

/* Returns 1 when a new key was stored. */
static int insert(table_info *t, uint64_t key, uint32_t value)
{
    uint64_t at = home(t, key);
    for (;;) {
        slot *s = &table[at];
        t->probes++;
        if (s->gen != t->gen) {
            s->key = key;
            s->value = value;
            s->gen = t->gen;
            return 1;
        }
        if (s->key == key) {
            s->value += value;
            return 0;
        }
        at = (at + 1) & t->mask;
    }
}

static const slot *lookup(table_info *t, uint64_t key)
{
    uint64_t at = home(t, key);
    for (;;) {
        const slot *s = &table[at];
        t->probes++;
        if (s->gen != t->gen)
            return 0;
        if (s->key == key)
            return s;
        at = (at + 1) & t->mask;
    }
}

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    if (n > MAX_N)
        n = MAX_N;

    table_info t;
    uint64_t slots = MIN_SLOTS;
    unsigned bits = 12;
    while (slots < 2 * n) {
        slots <<= 1;
        bits++;
    }
    t.mask = slots - 1;
    t.shift = 64 - bits;
    t.gen = ++generation;
    t.probes = 0;

    uint64_t rng = SEED;
    uint64_t distinct = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key = scramble(javm_rand_next(&rng) % (n + n / 2 + 1));
        distinct += (uint64_t)insert(&t, key, (uint32_t)i);
    }

    uint64_t hits = 0, sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t key = scramble(javm_rand_next(&rng) % (3 * n + 1));
        const slot *s = lookup(&t, key);
        if (s) {
            hits++;
            sum += s->value;
        }
    }

    javm_store_le64(out, distinct);
    javm_store_le64(out + 8, hits);
    javm_store_le64(out + 16, sum);
    javm_store_le64(out + 24, t.probes);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(hashtable, run)
