/*
 * javm_guest.h - support header for the C guest programs of javm.
 *
 * One guest = one C file that includes this header, defines
 *
 *     static javm_output run(const uint8_t *args, uint64_t args_len);
 *
 * and ends with `JAVM_GUEST(name, run)`. The same source builds two ways:
 *
 *  - PVM (clang, riscv64 RV64E, detected by __riscv): JAVM_GUEST emits the
 *    exported function `guest_main` plus the metadata records that the
 *    PolkaVM linker turns into an export. The GP standard-program entry
 *    passes the argument pointer in r7 (a0) and its length in r8 (a1);
 *    `guest_main` returns the output (pointer, length) in a0/a1, and its
 *    `ret` jumps to 0xFFFF0000, which halts. Host calls are inline `ecalli`
 *    records (see JAVM_HOST_CALL below). memcpy/memset/memmove are defined
 *    here because no C library is linked.
 *
 *  - Native (any other target, plain gcc or clang): JAVM_GUEST emits
 *
 *        size_t javm_guest_<name>(const uint8_t *args, size_t args_len,
 *                                 uint8_t *out, size_t out_cap);
 *
 *    which runs the guest, copies min(output length, out_cap) bytes into
 *    `out` and returns the full output length. Host calls are emulated by
 *    the small functions at the end of this file. Guests keep their state
 *    in static buffers, so one call at a time per guest.
 *
 * No floating point anywhere: the PVM build links no soft-float runtime.
 */
#ifndef JAVM_GUEST_H
#define JAVM_GUEST_H

#include <stddef.h>
#include <stdint.h>

/* What a guest's run() returns: the output bytes (kept in guest memory). */
typedef struct {
    const uint8_t *ptr;
    uint64_t len;
} javm_output;

static inline javm_output javm_out(const void *ptr, uint64_t len)
{
    javm_output o = { (const uint8_t *)ptr, len };
    return o;
}

/* ---- little-endian helpers (byte-wise: valid for any alignment) ---- */

static inline uint32_t javm_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static inline uint64_t javm_load_le64(const uint8_t *p)
{
    return (uint64_t)javm_load_le32(p) | ((uint64_t)javm_load_le32(p + 4) << 32);
}

static inline void javm_store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void javm_store_le64(uint8_t *p, uint64_t v)
{
    javm_store_le32(p, (uint32_t)v);
    javm_store_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * Argument words: the n-th little-endian u32 of the argument bytes, or
 * `dflt` when the arguments are too short to hold it. So empty arguments
 * select the default workload.
 */
static inline uint32_t javm_arg_u32(const uint8_t *args, uint64_t len, unsigned n, uint32_t dflt)
{
    uint64_t off = (uint64_t)n * 4;
    if (len < off + 4)
        return dflt;
    return javm_load_le32(args + off);
}

/* A tiny deterministic generator used by several guests (xorshift64*). */
static inline uint64_t javm_rand_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t javm_rotl64(uint64_t x, unsigned r)
{
    return (x << (r & 63)) | (x >> ((64 - r) & 63));
}

#if defined(__riscv)
/* ===================================================================== */
/*  PVM build                                                            */
/* ===================================================================== */

#if __riscv_xlen != 64
#error "javm guests are built for riscv64 (RV64E, lp64e)"
#endif

/*
 * Extern-function description read by the PolkaVM linker from the
 * `.polkavm_metadata` section. Byte layout (packed, little-endian):
 *   u8 version (1, or 2 when an explicit index follows), u32 flags (0),
 *   u32 symbol length, u64 pointer to the symbol bytes, u8 number of input
 *   registers, u8 number of output registers, and for version 2:
 *   u8 has_index, u32 index (the number that ends up in `ecalli`).
 */
struct __attribute__((packed)) javm_extern_meta {
    uint8_t version;
    uint32_t flags;
    uint32_t symbol_len;
    const char *symbol;
    uint8_t input_regs;
    uint8_t output_regs;
    uint8_t has_index;
    uint32_t index;
};

#define JAVM__META_ATTR __attribute__((section(".polkavm_metadata"), used))

#define JAVM__STR(x) #x
#define JAVM__XSTR(x) JAVM__STR(x)

/*
 * Minimum stack size in bytes, recorded in `.polkavm_min_stack_size`
 * (the linker takes the largest u32 found there and rounds it to pages).
 */
#define JAVM_STACK_SIZE(bytes)                                              \
    __asm__(".pushsection .polkavm_min_stack_size,\"a\",@progbits\n"        \
            ".4byte " JAVM__XSTR(bytes) "\n"                                 \
            ".popsection\n")

/*
 * Export record (`.polkavm_exports`): u8 version 1, then a 64-bit slot that
 * points at the metadata and a 64-bit slot that points at the code. The
 * linker only looks at the relocations of the two slots; `auipc zero,
 * %pcrel_hi(sym)` gives such a relocation without needing a dynamic
 * relocation in a read-only section, and `.4byte 0` fills the slot to 8.
 */
#define JAVM__EXPORT_RECORD(meta_sym, fn_sym)                               \
    __asm__(".pushsection .polkavm_exports,\"a\",@progbits\n"               \
            ".byte 1\n"                                                      \
            "auipc zero, %pcrel_hi(" #meta_sym ")\n"                         \
            ".4byte 0\n"                                                     \
            "auipc zero, %pcrel_hi(" #fn_sym ")\n"                           \
            ".4byte 0\n"                                                     \
            ".popsection\n")

/* Two registers back to the caller: a0 = output pointer, a1 = length. */
typedef struct {
    uint64_t a0;
    uint64_t a1;
} javm_reg_pair;

#define JAVM_GUEST(name, run_fn)                                            \
    JAVM_STACK_SIZE(65536);                                                  \
    __attribute__((used, noinline)) javm_reg_pair guest_main(uint64_t ptr, uint64_t len); \
    javm_reg_pair guest_main(uint64_t ptr, uint64_t len)                     \
    {                                                                        \
        javm_output o = run_fn((const uint8_t *)(uintptr_t)ptr, len);        \
        javm_reg_pair r = { (uint64_t)(uintptr_t)o.ptr, o.len };             \
        return r;                                                            \
    }                                                                        \
    static char javm__export_name[] JAVM__META_ATTR = "guest_main";    \
    static struct javm_extern_meta javm__export_meta JAVM__META_ATTR = {     \
        1, 0, sizeof("guest_main") - 1, javm__export_name, 2, 2, 0, 0 };      \
    JAVM__EXPORT_RECORD(javm__export_meta, guest_main);

/*
 * Host calls. JAVM_HOST_IMPORT(cname, id, n_in) declares the metadata of
 * an import whose `ecalli` immediate is `id`, taking `n_in` argument
 * registers (a0.. = r7..). At a call site the code stream holds the custom
 * instruction word 0x0000000b followed by a 64-bit slot relocated to the
 * metadata; the linker replaces the pair with `ecalli id`. The host may
 * clobber t0-t2 and a0-a5 (r2-r4, r7-r12); the result comes back in a0.
 */
#define JAVM_HOST_IMPORT(cname, id, n_in)                                    \
    static char cname##__sym[] JAVM__META_ATTR = #cname;               \
    static struct javm_extern_meta cname##__meta JAVM__META_ATTR = {         \
        2, 0, sizeof(#cname) - 1, cname##__sym, (n_in), 1, 1, (id) }

#define JAVM__ECALLI(meta_sym)                                               \
    ".insn r 0xb, 0, 0, zero, zero, zero\n"                                  \
    "auipc zero, %%pcrel_hi(" #meta_sym ")\n"                                \
    ".4byte 0\n"

/*
 * JAVM_DEFINE_HOST_CALL(fname, id) defines a general host call:
 *     static inline uint64_t fname(uint64_t r7, ..., uint64_t r12)
 * passing six argument registers and returning the host's r7. Natively it
 * only declares `uint64_t fname(six u64)`, which the embedder provides.
 */
#define JAVM_DEFINE_HOST_CALL(fname, id)                                     \
    JAVM_HOST_IMPORT(fname, id, 6);                                          \
    static inline uint64_t fname(uint64_t x7, uint64_t x8, uint64_t x9,     \
                                 uint64_t x10, uint64_t x11, uint64_t x12)  \
    {                                                                        \
        register uint64_t a0 __asm__("a0") = x7;                             \
        register uint64_t a1 __asm__("a1") = x8;                             \
        register uint64_t a2 __asm__("a2") = x9;                             \
        register uint64_t a3 __asm__("a3") = x10;                            \
        register uint64_t a4 __asm__("a4") = x11;                            \
        register uint64_t a5 __asm__("a5") = x12;                            \
        __asm__ volatile(JAVM__ECALLI(fname##__meta)                         \
                         : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3), "+r"(a4), \
                           "+r"(a5)                                          \
                         :                                                   \
                         : "t0", "t1", "t2", "memory");                      \
        return a0;                                                           \
    }

JAVM_HOST_IMPORT(javm_host_gas, 0, 0);
JAVM_HOST_IMPORT(javm_host_log, 100, 5);

/* Host call 0 (`gas`): the host charges its fee and returns the gas left. */
static inline uint64_t javm_gas(void)
{
    register uint64_t a0 __asm__("a0");
    __asm__ volatile(JAVM__ECALLI(javm_host_gas__meta)
                     : "=r"(a0)
                     :
                     : "t0", "t1", "t2", "a1", "a2", "a3", "a4", "a5", "memory");
    return a0;
}

/*
 * Host call 100 (JIP-1 `log`): level, target (ptr, len), message (ptr, len).
 * The returned register value is whatever the host leaves in r7.
 */
static inline uint64_t javm_log(uint64_t level, const void *target, uint64_t target_len,
                                const void *msg, uint64_t msg_len)
{
    register uint64_t a0 __asm__("a0") = level;
    register uint64_t a1 __asm__("a1") = (uint64_t)(uintptr_t)target;
    register uint64_t a2 __asm__("a2") = target_len;
    register uint64_t a3 __asm__("a3") = (uint64_t)(uintptr_t)msg;
    register uint64_t a4 __asm__("a4") = msg_len;
    __asm__ volatile(JAVM__ECALLI(javm_host_log__meta)
                     : "+r"(a0), "+r"(a1), "+r"(a2), "+r"(a3), "+r"(a4)
                     :
                     : "t0", "t1", "t2", "a5", "memory");
    return a0;
}

/*
 * memset / memcpy / memmove: the compiler may emit calls to these for
 * struct copies and large initialisers, and the guests use them directly.
 * Word-sized when the pointers allow it (unaligned word access is fine on
 * PVM: it has no alignment faults).
 */
typedef uint64_t __attribute__((may_alias)) javm_word;

__attribute__((used)) void *memset(void *dst, int c, size_t n);
__attribute__((used)) void *memcpy(void *restrict dst, const void *restrict src, size_t n);
__attribute__((used)) void *memmove(void *dst, const void *src, size_t n);

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    uint64_t w = (uint8_t)c * 0x0101010101010101ULL;
    while (n > 0 && ((uintptr_t)d & 7) != 0) {
        *d++ = (uint8_t)c;
        n--;
    }
    while (n >= 32) {
        ((javm_word *)d)[0] = w;
        ((javm_word *)d)[1] = w;
        ((javm_word *)d)[2] = w;
        ((javm_word *)d)[3] = w;
        d += 32;
        n -= 32;
    }
    while (n >= 8) {
        *(javm_word *)d = w;
        d += 8;
        n -= 8;
    }
    while (n > 0) {
        *d++ = (uint8_t)c;
        n--;
    }
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n > 0 && ((uintptr_t)d & 7) != 0) {
        *d++ = *s++;
        n--;
    }
    while (n >= 32) {
        uint64_t x0 = ((const javm_word *)s)[0];
        uint64_t x1 = ((const javm_word *)s)[1];
        uint64_t x2 = ((const javm_word *)s)[2];
        uint64_t x3 = ((const javm_word *)s)[3];
        ((javm_word *)d)[0] = x0;
        ((javm_word *)d)[1] = x1;
        ((javm_word *)d)[2] = x2;
        ((javm_word *)d)[3] = x3;
        d += 32;
        s += 32;
        n -= 32;
    }
    while (n >= 8) {
        *(javm_word *)d = *(const javm_word *)s;
        d += 8;
        s += 8;
        n -= 8;
    }
    while (n > 0) {
        *d++ = *s++;
        n--;
    }
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (d == s || n == 0)
        return dst;
    if (d < s || d >= s + n)
        return memcpy(dst, src, n); /* forward copy is safe */
    /* Overlap with dst above src: copy backwards. */
    d += n;
    s += n;
    while (n >= 8) {
        d -= 8;
        s -= 8;
        *(javm_word *)d = *(const javm_word *)s;
        n -= 8;
    }
    while (n > 0) {
        *--d = *--s;
        n--;
    }
    return dst;
}

#else
/* ===================================================================== */
/*  Native build (reference runs and benches)                            */
/* ===================================================================== */

#include <string.h>

#define JAVM_STACK_SIZE(bytes)

#define JAVM_DEFINE_HOST_CALL(fname, id)                                     \
    uint64_t fname(uint64_t x7, uint64_t x8, uint64_t x9, uint64_t x10,       \
                   uint64_t x11, uint64_t x12)

#define JAVM_GUEST(name, run_fn)                                             \
    size_t javm_guest_##name(const uint8_t *args, size_t args_len, uint8_t *out, \
                             size_t out_cap);                                \
    size_t javm_guest_##name(const uint8_t *args, size_t args_len, uint8_t *out, \
                             size_t out_cap)                                 \
    {                                                                        \
        static const uint8_t javm__no_args[1] = { 0 };                       \
        javm_output o = run_fn(args ? args : javm__no_args, args_len);      \
        size_t n = o.len < out_cap ? (size_t)o.len : out_cap;               \
        if (n > 0)                                                           \
            memcpy(out, o.ptr, n);                                           \
        return (size_t)o.len;                                                \
    }

/*
 * Emulated host calls. `gas` counts down from a large budget, charging 10
 * per call plus a little for the work in between, like a metered VM would;
 * `log` discards the message. Guest outputs never depend on the absolute
 * gas values, only on properties every correct host shares.
 */
static uint64_t javm__native_gas = 1ULL << 40;

static inline uint64_t javm_gas(void)
{
    javm__native_gas -= 10 + 7;
    return javm__native_gas;
}

static inline uint64_t javm_log(uint64_t level, const void *target, uint64_t target_len,
                                const void *msg, uint64_t msg_len)
{
    (void)level;
    (void)target;
    (void)target_len;
    (void)msg;
    (void)msg_len;
    return 0;
}

#endif /* __riscv */

#endif /* JAVM_GUEST_H */
