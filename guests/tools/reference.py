#!/usr/bin/env python3
"""Independent Python models of the C guests.

Recomputes every case of guests/expected.json from the descriptions in the
C file headers (hashlib for SHA-256 / SHA3-256, Python integers for the
bignum work, plain Python for the rest) and compares the outputs. This
checks the algorithms themselves; the builder's `check` command checks
that PolkaVM and the native builds agree with each other.

    python3 guests/tools/reference.py            # all cases
    python3 guests/tools/reference.py --quick    # skip the default workloads
"""

import hashlib
import json
import os
import struct
import sys

M64 = (1 << 64) - 1


class Rng:
    """xorshift64* as javm_rand_next in javm_guest.h."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        self.x = x
        return (x * 0x2545F4914F6CDD1D) & M64


def rotl(x, r):
    r &= 63
    return ((x << r) | (x >> (64 - r))) & M64 if r else x


def arg(args, n, default):
    if len(args) < 4 * n + 4:
        return default
    return struct.unpack_from("<I", args, 4 * n)[0]


def u64s(*vals):
    return b"".join(struct.pack("<Q", v & M64) for v in vals)


def gen_stream(n, seed):
    rng = Rng(seed)
    words = (n + 7) // 8
    data = b"".join(struct.pack("<Q", rng.next()) for _ in range(words))
    return data[:n]


def sieve(args):
    n = min(arg(args, 0, 4000000), 16 * 1024 * 1024)
    if n < 3:
        return u64s(0, 0)
    flags = bytearray([1]) * n
    flags[0] = flags[1] = 0
    for p in range(2, int(n ** 0.5) + 1):
        if flags[p]:
            flags[p * p :: p] = bytes(len(range(p * p, n, p)))
    primes = [i for i in range(n) if flags[i]]
    return u64s(len(primes), sum(primes))


def sha256(args):
    n = arg(args, 0, 2 * 1024 * 1024)
    return hashlib.sha256(gen_stream(n, 0x0123456789ABCDEF)).digest()


KECCAK_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]
# Rotation amounts r[x][y] from FIPS 202.
KECCAK_ROT = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
]


def keccak_f(a):
    """a[x][y] lanes, textbook step mappings."""
    for rc in KECCAK_RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ rotl(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = rotl(a[x][y], KECCAK_ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data):
    rate = 136
    msg = bytearray(data) + b"\x01"
    msg += bytes(-len(msg) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            a[x][y] ^= struct.unpack_from("<Q", msg, off + 8 * i)[0]
        a = keccak_f(a)
    return b"".join(struct.pack("<Q", a[i % 5][i // 5]) for i in range(4))


def keccak(args):
    n = arg(args, 0, 2 * 1024 * 1024)
    data = gen_stream(n, 0x0123456789ABCDEF)
    if arg(args, 1, 0) == 1:
        return hashlib.sha3_256(data).digest()
    return keccak256(data)


def bigmul(args):
    k = arg(args, 0, 12)
    rng = Rng(0x5EED00000000B16)

    def limbs():
        return sum(rng.next() << (64 * j) for j in range(16))

    m = limbs() | 1 | (1 << 1023)
    b = limbs() & ((1 << 1022) - 1)
    e = limbs()
    primes = [p for p in range(3, 4000, 2) if all(p % q for q in range(3, int(p ** 0.5) + 1, 2))][:512]
    digit_sum = h = 0
    for _ in range(k):
        b = pow(b, e, m)
        digit_sum += sum(int(ch) for ch in str(b))
        for p in primes:
            h = ((rotl(h, 5) ^ (b % p)) * 0x100000001B3) & M64
    fnv = 0xCBF29CE484222325
    for ch in str(b).encode():
        fnv = ((fnv ^ ch) * 0x100000001B3) & M64
    return u64s(b & M64, digit_sum, fnv, h)


def sort(args):
    n = min(arg(args, 0, 200000), 1 << 20)
    rng = Rng(0x50F7AB1E00000001)
    keys = sorted(rng.next() for _ in range(n))
    weighted = sum(v * (i + 1) for i, v in enumerate(keys)) & M64
    return u64s(0, weighted, keys[n // 2] if n else 0, keys[-1] if n else 0)


def memops(args):
    rounds = arg(args, 0, 16)
    size = max(min(arg(args, 1, 4 * 1024 * 1024), 4 * 1024 * 1024), 8192)
    rng = Rng(0x3E3C0B5)
    a = bytearray(size)
    b = bytearray(size + 64)
    samples = 0

    def mix(h, v):
        return (rotl(h ^ v, 23) * 0x9E3779B97F4A7C15) & M64

    for r in range(rounds):
        pos = 0
        while pos < size:
            x = rng.next()
            ln = min(1 + (x & 0xFFFF), size - pos)
            a[pos : pos + ln] = bytes([x >> 56]) * ln
            pos += ln
        x = rng.next()
        src, dst = 1 + (x & 63), 1 + ((x >> 8) & 63)
        b[dst : dst + size - 64] = a[src : src + size - 64]
        shift = 1 + ((x >> 16) & 4095)
        b[shift:size] = b[0 : size - shift]
        for _ in range(64):
            at = (rng.next() % (size // 8)) * 8
            samples = mix(samples, (struct.unpack_from("<Q", b, at)[0] + r) & M64)
    fold = 0
    for (w,) in struct.iter_unpack("<Q", bytes(b[:size])):
        fold = mix(fold, w)
    return u64s(fold, samples)


def bytecode(args):
    """What the guest's VM program computes, written directly."""
    n = arg(args, 0, 150000)
    mem = [0] * 256
    fa, fb, chk, idx = 0, 1, 0, 0
    mul = 0x9E3779B97F4A7C15
    for _ in range(n):
        f = (fa + fb) & M64
        fa, fb = fb, f
        mem[idx] = f
        old = mem[(idx + 37) & 255]
        # the mix subroutine
        chk = rotl(chk, 13) ^ f
        chk = (chk * mul) & M64
        div = (old ^ fa) | 1
        t = chk >> (div & 63)
        q = chk // div
        t %= div
        chk = (chk + q - t) & M64
        chk ^= ((old << (idx & 63)) & M64) & mul
        idx = (idx + 1) & 255
    # 9 setup instructions, 11 + 15 per iteration, then the exit path
    steps = 9 + 26 * n + (2 if n else 1)
    return u64s(chk, fa, steps)


def scramble(x):
    x ^= x >> 31
    x = (x * 0x7FB5D329728EA185) & M64
    x ^= x >> 27
    x = (x * 0x81DADEF4BC2DD44D) & M64
    x ^= x >> 33
    return x


def hashtable(args):
    n = min(arg(args, 0, 250000), 1 << 18)
    slots, bits = 4096, 12
    while slots < 2 * n:
        slots, bits = slots << 1, bits + 1
    mask, shift = slots - 1, 64 - bits
    keys = [None] * slots
    vals = [0] * slots
    probes = 0
    rng = Rng(0x4A5B6C7D)

    def find(key):
        nonlocal probes
        at = ((key * 0x9E3779B97F4A7C15) & M64) >> shift
        while True:
            probes += 1
            if keys[at] is None or keys[at] == key:
                return at
            at = (at + 1) & mask

    distinct = 0
    for i in range(n):
        key = scramble(rng.next() % (n + n // 2 + 1))
        at = find(key)
        if keys[at] is None:
            keys[at], vals[at] = key, i
            distinct += 1
        else:
            vals[at] = (vals[at] + i) & 0xFFFFFFFF
    hits = total = 0
    for _ in range(n):
        key = scramble(rng.next() % (3 * n + 1))
        at = find(key)
        if keys[at] is not None:
            hits += 1
            total += vals[at]
    return u64s(distinct, hits, total, probes)


def hostcall(args):
    n = arg(args, 0, 100000)
    every = arg(args, 1, 20000)
    fnv = 0xCBF29CE484222325
    logs = 0
    for i in range(n):
        if every and (i + 1) % every == 0:
            # with a correct host every gas call so far counted as ok
            for ch in f"hostcall i={i + 1} ok={i + 1}".encode():
                fnv = ((fnv ^ ch) * 0x100000001B3) & M64
            logs += 1
    return u64s(n, n, logs, fnv)


MODELS = {
    "sieve": sieve,
    "sha256": sha256,
    "keccak": keccak,
    "bigmul": bigmul,
    "sort": sort,
    "memops": memops,
    "bytecode": bytecode,
    "hashtable": hashtable,
    "hostcall": hostcall,
}


def main():
    quick = "--quick" in sys.argv
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "expected.json")) as f:
        expected = json.load(f)
    failed = passed = skipped = 0
    for guest in expected["guests"]:
        model = MODELS.get(guest["name"])
        for case in guest["cases"]:
            if model is None or (quick and case["name"] == "default"):
                skipped += 1
                continue
            got = model(bytes.fromhex(case["args"])).hex()
            ok = got == case["output"]
            passed += ok
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {guest['name']:<10} {case['name']:<10} {got}")
            if not ok:
                print(f"     expected {case['output']}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
