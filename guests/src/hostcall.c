/*
 * hostcall - calls host functions in a loop.
 *
 * Every iteration calls host 0 (`gas`: the host charges 10 and returns the
 * gas left) and checks that the gas went down by at least 10 since the
 * previous call. Every L-th iteration also formats a message
 * "hostcall i=<i> ok=<ok>" and passes it to host 100 (JIP-1 `log`, level
 * 3 = debug, target "javm-guest"); the value the host leaves in r7 after
 * `log` is ignored. Gas values themselves depend on the cost model, so
 * only properties every correct host shares go into the output.
 *
 * Arguments: u32 LE N (default 100000), then optionally u32 LE L
 *            (default 20000; 0 = never log).
 * Output (32 bytes), u64 LE: gas calls made, calls whose result was at
 * least 10 below the previous one (N when the host is correct; the first
 * call compares against 2^64 - 1), log calls made, FNV-1a over all logged
 * message bytes.
 */
#include "javm_guest.h"

#define DEFAULT_N 100000u
#define DEFAULT_LOG_EVERY 20000u
#define LOG_LEVEL_DEBUG 3

static const char target[] = "javm-guest";
static uint8_t out[32];

/* Appends the decimal form of v to buf at *len. */
static void put_dec(char *buf, uint64_t *len, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        buf[(*len)++] = tmp[--n];
}

static void put_str(char *buf, uint64_t *len, const char *s)
{
    while (*s)
        buf[(*len)++] = *s++;
}

static javm_output run(const uint8_t *args, uint64_t args_len)
{
    uint64_t n = javm_arg_u32(args, args_len, 0, DEFAULT_N);
    uint64_t every = javm_arg_u32(args, args_len, 1, DEFAULT_LOG_EVERY);

    uint64_t prev = ~(uint64_t)0;
    uint64_t ok = 0, logs = 0;
    uint64_t fnv = 0xcbf29ce484222325ULL;
    char msg[64];

    for (uint64_t i = 0; i < n; i++) {
        uint64_t gas = javm_gas();
        if (gas < prev && prev - gas >= 10)
            ok++;
        prev = gas;

        if (every != 0 && (i + 1) % every == 0) {
            uint64_t len = 0;
            put_str(msg, &len, "hostcall i=");
            put_dec(msg, &len, i + 1);
            put_str(msg, &len, " ok=");
            put_dec(msg, &len, ok);
            javm_log(LOG_LEVEL_DEBUG, target, sizeof target - 1, msg, len);
            logs++;
            for (uint64_t k = 0; k < len; k++) {
                fnv ^= (uint8_t)msg[k];
                fnv *= 0x100000001b3ULL;
            }
        }
    }

    javm_store_le64(out, n);
    javm_store_le64(out + 8, ok);
    javm_store_le64(out + 16, logs);
    javm_store_le64(out + 24, fnv);
    return javm_out(out, sizeof out);
}

JAVM_GUEST(hostcall, run)
