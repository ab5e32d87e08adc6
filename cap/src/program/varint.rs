//! The Gray Paper's variable-length natural-number code (spec §4, `varint`).
//!
//! The first byte carries `l` leading one-bits (the count of extra bytes),
//! then the high bits of the value; `l` little-endian low bytes follow. `0xFF`
//! means eight little-endian bytes follow. Only the shortest form is
//! canonical; we reject the others (open question Q13).

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the number.
    Truncated,
    /// The number is not in its shortest form.
    NonCanonical,
}

/// Number of extra bytes the canonical encoding of `value` uses.
pub const fn extra_bytes(value: u64) -> usize {
    let mut l = 0;
    while l < 8 {
        if value < 1u64 << (7 * (l + 1)) {
            return l;
        }
        l += 1;
    }
    8
}

/// Decodes one varint from the start of `bytes`, returning the value and the
/// number of bytes consumed.
pub fn decode(bytes: &[u8]) -> Result<(u64, usize), VarintError> {
    let first = *bytes.first().ok_or(VarintError::Truncated)?;
    let l = first.leading_ones() as usize;
    let rest = bytes.get(1..1 + l).ok_or(VarintError::Truncated)?;
    let mut low = [0u8; 8];
    low[..l].copy_from_slice(rest);
    let low = u64::from_le_bytes(low);
    let value = if l == 8 {
        low
    } else {
        let high = u64::from(first) & (0xFF >> (l + 1));
        (high << (8 * l)) | low
    };
    if extra_bytes(value) != l {
        return Err(VarintError::NonCanonical);
    }
    Ok((value, 1 + l))
}

/// Appends the canonical encoding of `value` to `out`.
pub fn encode(value: u64, out: &mut Vec<u8>) {
    let l = extra_bytes(value);
    if l == 8 {
        out.push(0xFF);
    } else {
        let prefix = !(0xFFu8 >> l);
        out.push(prefix | (value >> (8 * l)) as u8);
    }
    out.extend_from_slice(&value.to_le_bytes()[..l]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spec_examples() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x80, 0x80]),
            (300, &[0x81, 0x2c]),
            (16384, &[0xc0, 0x00, 0x40]),
            (1 << 21, &[0xe0, 0x00, 0x00, 0x20]),
            (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ];
        for &(value, bytes) in cases {
            let mut out = Vec::new();
            encode(value, &mut out);
            assert_eq!(out, bytes, "encode {value}");
            assert_eq!(decode(bytes), Ok((value, bytes.len())), "decode {value}");
        }
    }

    #[test]
    fn rejects_non_canonical_and_truncated() {
        assert_eq!(decode(&[0x80, 0x05]), Err(VarintError::NonCanonical));
        assert_eq!(decode(&[0xff, 0, 0, 0, 0, 0, 0, 0, 0]), Err(VarintError::NonCanonical));
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xc0, 0x00]), Err(VarintError::Truncated));
    }

    proptest! {
        #[test]
        fn round_trip(value: u64, tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            encode(value, &mut out);
            let len = out.len();
            out.extend(tail);
            prop_assert_eq!(decode(&out), Ok((value, len)));
        }
    }
}
