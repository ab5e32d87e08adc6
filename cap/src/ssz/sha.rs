//! SHA-256 of exactly 64 bytes, the only message length merkleization needs.
//!
//! A 64-byte message is two compressions: the data block, then a constant
//! padding block whose message schedule is fixed, so its `W[t] + K[t]` words
//! are precomputed here. On x86-64 with the SHA extensions two independent
//! messages are hashed in lockstep, which hides the latency of the round
//! instructions; elsewhere the `sha2` crate's compression function is used.

use sha2::block_api::compress256;

use crate::CapHash;

/// SHA-256 round constants (FIPS 180-4, section 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The SHA-256 initial state (FIPS 180-4, section 5.3.3).
const IV: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The final block of any 64-byte message: the `0x80` marker, zeros, and the
/// 64-bit big-endian bit length 512.
const PADDING_BLOCK: [u8; 64] = {
    let mut block = [0u8; 64];
    block[0] = 0x80;
    block[62] = 0x02;
    block
};

/// `W[t] + K[t]` of the padding block, for all 64 rounds.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const PADDING_WK: [u32; 64] = {
    let mut w = [0u32; 64];
    w[0] = 0x8000_0000;
    w[15] = 512;
    let mut t = 16;
    while t < 64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16].wrapping_add(s0).wrapping_add(w[t - 7]).wrapping_add(s1);
        t += 1;
    }
    let mut t = 0;
    while t < 64 {
        w[t] = w[t].wrapping_add(K[t]);
        t += 1;
    }
    w
};

fn state_to_bytes(state: [u32; 8]) -> CapHash {
    let mut out = [0u8; 32];
    for (dst, word) in out.chunks_exact_mut(4).zip(state) {
        dst.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256 of one 64-byte message through the `sha2` compression function.
pub(crate) fn hash_block_portable(block: &[u8; 64]) -> CapHash {
    let mut state = IV;
    compress256(&mut state, &[*block, PADDING_BLOCK]);
    state_to_bytes(state)
}

/// SHA-256 of one 64-byte message.
#[inline]
pub(crate) fn hash_block(block: &[u8; 64]) -> CapHash {
    // The sha2 crate already dispatches to SHA-NI for a single stream.
    hash_block_portable(block)
}

/// SHA-256 of two independent 64-byte messages.
#[inline]
pub(crate) fn hash_blocks_x2(a: &[u8; 64], b: &[u8; 64]) -> [CapHash; 2] {
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: `available` confirmed the CPU supports the SHA, SSSE3 and
        // SSE4.1 instructions `hash_x2` is compiled for.
        return unsafe { shani::hash_x2(a, b) };
    }
    [hash_block_portable(a), hash_block_portable(b)]
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;
    use std::sync::LazyLock;

    use super::{IV, K, PADDING_WK, state_to_bytes};
    use crate::CapHash;

    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| {
        is_x86_feature_detected!("sha") && is_x86_feature_detected!("ssse3") && is_x86_feature_detected!("sse4.1")
    });

    /// Does this CPU have the instructions [`hash_x2`] uses?
    #[inline]
    pub(super) fn available() -> bool {
        *AVAILABLE
    }

    /// The state as the SHA instructions hold it: `(ABEF, CDGH)`, lane 0
    /// being the last letter.
    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn iv_registers() -> (__m128i, __m128i) {
        let w = IV.map(|x| x as i32);
        (_mm_set_epi32(w[0], w[1], w[4], w[5]), _mm_set_epi32(w[2], w[3], w[6], w[7]))
    }

    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn registers_to_bytes(abef: __m128i, cdgh: __m128i) -> CapHash {
        let lane = |v: __m128i, i: i32| -> u32 {
            match i {
                0 => _mm_extract_epi32::<0>(v) as u32,
                1 => _mm_extract_epi32::<1>(v) as u32,
                2 => _mm_extract_epi32::<2>(v) as u32,
                _ => _mm_extract_epi32::<3>(v) as u32,
            }
        };
        state_to_bytes([
            lane(abef, 3),
            lane(abef, 2),
            lane(cdgh, 3),
            lane(cdgh, 2),
            lane(abef, 1),
            lane(abef, 0),
            lane(cdgh, 1),
            lane(cdgh, 0),
        ])
    }

    /// Four rounds on one state with the given `W + K` words.
    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn rounds4(abef: &mut __m128i, cdgh: &mut __m128i, wk: __m128i) {
        *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
        *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32::<0x0E>(wk));
    }

    /// The next four schedule words from the previous sixteen.
    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn schedule(w4: __m128i, w3: __m128i, w2: __m128i, w1: __m128i) -> __m128i {
        let t = _mm_add_epi32(_mm_sha256msg1_epu32(w4, w3), _mm_alignr_epi8::<4>(w1, w2));
        _mm_sha256msg2_epu32(t, w1)
    }

    /// Load 16 big-endian message words as four registers.
    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn load_block(block: &[u8; 64]) -> [__m128i; 4] {
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        std::array::from_fn(|i| {
            // SAFETY: `block[16 * i..]` has 16 readable bytes (i < 4) and
            // `loadu` has no alignment requirement.
            let raw = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * i).cast()) };
            _mm_shuffle_epi8(raw, swap)
        })
    }

    #[inline]
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    fn constants(table: &[u32; 64], i: usize) -> __m128i {
        let quad = &table[4 * i..4 * i + 4];
        // SAFETY: `quad` is four readable u32s; `loadu` is unaligned.
        unsafe { _mm_loadu_si128(quad.as_ptr().cast()) }
    }

    /// SHA-256 of two 64-byte messages, interleaved.
    ///
    /// # Safety
    ///
    /// The CPU must support SHA, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,ssse3,sse4.1")]
    pub(super) unsafe fn hash_x2(a: &[u8; 64], b: &[u8; 64]) -> [CapHash; 2] {
        let (abef0, cdgh0) = iv_registers();
        let (mut s0, mut c0, mut s1, mut c1) = (abef0, cdgh0, abef0, cdgh0);
        let mut wa = load_block(a);
        let mut wb = load_block(b);
        for i in 0..16 {
            if i >= 4 {
                let slot = i % 4;
                wa[slot] = schedule(wa[slot], wa[(i + 1) % 4], wa[(i + 2) % 4], wa[(i + 3) % 4]);
                wb[slot] = schedule(wb[slot], wb[(i + 1) % 4], wb[(i + 2) % 4], wb[(i + 3) % 4]);
            }
            let k = constants(&K, i);
            rounds4(&mut s0, &mut c0, _mm_add_epi32(wa[i % 4], k));
            rounds4(&mut s1, &mut c1, _mm_add_epi32(wb[i % 4], k));
        }
        s0 = _mm_add_epi32(s0, abef0);
        c0 = _mm_add_epi32(c0, cdgh0);
        s1 = _mm_add_epi32(s1, abef0);
        c1 = _mm_add_epi32(c1, cdgh0);
        let (mid0, midc0, mid1, midc1) = (s0, c0, s1, c1);
        for i in 0..16 {
            let wk = constants(&PADDING_WK, i);
            rounds4(&mut s0, &mut c0, wk);
            rounds4(&mut s1, &mut c1, wk);
        }
        [
            registers_to_bytes(_mm_add_epi32(s0, mid0), _mm_add_epi32(c0, midc0)),
            registers_to_bytes(_mm_add_epi32(s1, mid1), _mm_add_epi32(c1, midc1)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(block: &[u8; 64]) -> CapHash {
        Sha256::digest(block).into()
    }

    #[test]
    fn padding_schedule_matches_compression() {
        // Hashing via the precomputed padding words must equal sha2's digest
        // for assorted blocks, on whichever path this CPU takes.
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..200 {
            let mut a = [0u8; 64];
            let mut b = [0u8; 64];
            for byte in a.iter_mut().chain(b.iter_mut()) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
            assert_eq!(hash_block(&a), reference(&a));
            assert_eq!(hash_blocks_x2(&a, &b), [reference(&a), reference(&b)]);
        }
        let zero = [0u8; 64];
        let ones = [0xFFu8; 64];
        assert_eq!(hash_blocks_x2(&zero, &ones), [reference(&zero), reference(&ones)]);
    }
}
