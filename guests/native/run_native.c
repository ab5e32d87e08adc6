/*
 * run_native - runs a guest natively from the command line, for quick
 * comparisons with a PVM run. Build it with any C compiler together with
 * every guest source (the command is in guests/README.md), then:
 *
 *     ./run_native sieve 64000000      # args as hex; prints the output hex
 *     ./run_native sort "" 5           # default args, 5 runs, prints timing
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "javm_guests.h"

typedef size_t (*guest_fn)(const uint8_t *, size_t, uint8_t *, size_t);

#define JAVM_TABLE_ENTRY(name) { #name, javm_guest_##name },
static const struct {
    const char *name;
    guest_fn fn;
} guests[] = { JAVM_GUEST_LIST(JAVM_TABLE_ENTRY) };

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <guest> [args-hex] [runs]\nguests:", argv[0]);
        for (size_t i = 0; i < sizeof guests / sizeof guests[0]; i++)
            fprintf(stderr, " %s", guests[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    guest_fn fn = NULL;
    for (size_t i = 0; i < sizeof guests / sizeof guests[0]; i++)
        if (strcmp(argv[1], guests[i].name) == 0)
            fn = guests[i].fn;
    if (!fn) {
        fprintf(stderr, "unknown guest %s\n", argv[1]);
        return 2;
    }

    static uint8_t args[4096];
    size_t args_len = 0;
    const char *hex = argc > 2 ? argv[2] : "";
    size_t hex_len = strlen(hex);
    if (hex_len % 2 != 0 || hex_len / 2 > sizeof args) {
        fprintf(stderr, "bad argument hex\n");
        return 2;
    }
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "bad argument hex\n");
            return 2;
        }
        args[args_len++] = (uint8_t)(hi * 16 + lo);
    }
    int runs = argc > 3 ? atoi(argv[3]) : 1;
    if (runs < 1)
        runs = 1;

    uint8_t out[256];
    size_t out_len = 0;
    double best = 1e300;
    for (int r = 0; r < runs; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        out_len = fn(args, args_len, out, sizeof out);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (ms < best)
            best = ms;
    }
    for (size_t i = 0; i < out_len && i < sizeof out; i++)
        printf("%02x", out[i]);
    printf("\n");
    if (runs > 1)
        fprintf(stderr, "%s: best of %d runs: %.3f ms\n", argv[1], runs, best);
    return 0;
}
