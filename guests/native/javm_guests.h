/*
 * javm_guests.h - the native entry points of the guests (see
 * include/javm_guest.h). Each runs one guest on the given argument bytes,
 * copies at most out_cap output bytes to `out` and returns the full output
 * length. Guests keep state in static buffers: one call at a time.
 */
#ifndef JAVM_GUESTS_H
#define JAVM_GUESTS_H

#include <stddef.h>
#include <stdint.h>

#define JAVM_NATIVE_GUEST(name) \
    size_t javm_guest_##name(const uint8_t *args, size_t args_len, uint8_t *out, size_t out_cap);

#define JAVM_GUEST_LIST(X) \
    X(bigmul)              \
    X(bytecode)            \
    X(hashtable)           \
    X(hostcall)            \
    X(keccak)              \
    X(memops)              \
    X(sha256)              \
    X(sieve)               \
    X(sort)

JAVM_GUEST_LIST(JAVM_NATIVE_GUEST)

#undef JAVM_NATIVE_GUEST

#endif /* JAVM_GUESTS_H */
