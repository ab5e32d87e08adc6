//! The arithmetic of every non-trivial instruction (spec §6), as pure
//! functions on 64-bit register values. `_32` results are sign-extended from
//! bit 31.

/// `sx32(v)`: sign-extends the low 32 bits.
#[inline(always)]
pub const fn sx32(v: u64) -> u64 {
    v as u32 as i32 as i64 as u64
}

/// `div_u_32`.
#[inline(always)]
pub const fn div_u_32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as u32, b as u32);
    match a.checked_div(b) {
        Some(q) => sx32(q as u64),
        None => u64::MAX,
    }
}

/// `div_s_32`.
#[inline(always)]
pub const fn div_s_32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as i32, b as i32);
    if b == 0 {
        u64::MAX
    } else if a == i32::MIN && b == -1 {
        a as i64 as u64
    } else {
        (a / b) as i64 as u64
    }
}

/// `rem_u_32`.
#[inline(always)]
pub const fn rem_u_32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as u32, b as u32);
    if b == 0 { sx32(a as u64) } else { sx32((a % b) as u64) }
}

/// `rem_s_32`.
#[inline(always)]
pub const fn rem_s_32(a: u64, b: u64) -> u64 {
    let (a, b) = (a as i32, b as i32);
    if a == i32::MIN && b == -1 {
        0
    } else if b == 0 {
        a as i64 as u64
    } else {
        (a % b) as i64 as u64
    }
}

/// `div_u_64`.
#[inline(always)]
pub const fn div_u_64(a: u64, b: u64) -> u64 {
    match a.checked_div(b) {
        Some(q) => q,
        None => u64::MAX,
    }
}

/// `div_s_64`.
#[inline(always)]
pub const fn div_s_64(a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    if b == 0 {
        u64::MAX
    } else if sa == i64::MIN && sb == -1 {
        a
    } else {
        (sa / sb) as u64
    }
}

/// `rem_u_64`.
#[inline(always)]
pub const fn rem_u_64(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { a % b }
}

/// `rem_s_64`.
#[inline(always)]
pub const fn rem_s_64(a: u64, b: u64) -> u64 {
    let (sa, sb) = (a as i64, b as i64);
    if sa == i64::MIN && sb == -1 {
        0
    } else if b == 0 {
        a
    } else {
        (sa % sb) as u64
    }
}

/// `mul_upper_s_s`: high half of the signed 128-bit product.
#[inline(always)]
pub const fn mul_upper_s_s(a: u64, b: u64) -> u64 {
    ((a as i64 as i128 * b as i64 as i128) >> 64) as u64
}

/// `mul_upper_u_u`: high half of the unsigned 128-bit product.
#[inline(always)]
pub const fn mul_upper_u_u(a: u64, b: u64) -> u64 {
    ((a as u128 * b as u128) >> 64) as u64
}

/// `mul_upper_s_u`: high half of signed `a` times unsigned `b`.
#[inline(always)]
pub const fn mul_upper_s_u(a: u64, b: u64) -> u64 {
    ((a as i64 as i128 * b as i128) >> 64) as u64
}

/// `shlo_l_32`.
#[inline(always)]
pub const fn shl_32(v: u64, amount: u64) -> u64 {
    sx32(((v as u32) << (amount & 31)) as u64)
}

/// `shlo_r_32` (logical).
#[inline(always)]
pub const fn shr_32(v: u64, amount: u64) -> u64 {
    sx32(((v as u32) >> (amount & 31)) as u64)
}

/// `shar_r_32` (arithmetic).
#[inline(always)]
pub const fn sar_32(v: u64, amount: u64) -> u64 {
    ((v as i32) >> (amount & 31)) as i64 as u64
}

/// `shlo_l_64`.
#[inline(always)]
pub const fn shl_64(v: u64, amount: u64) -> u64 {
    v << (amount & 63)
}

/// `shlo_r_64` (logical).
#[inline(always)]
pub const fn shr_64(v: u64, amount: u64) -> u64 {
    v >> (amount & 63)
}

/// `shar_r_64` (arithmetic).
#[inline(always)]
pub const fn sar_64(v: u64, amount: u64) -> u64 {
    ((v as i64) >> (amount & 63)) as u64
}

/// `rot_r_32`.
#[inline(always)]
pub const fn rotr_32(v: u64, amount: u64) -> u64 {
    sx32((v as u32).rotate_right((amount & 31) as u32) as u64)
}

/// `rot_l_32`.
#[inline(always)]
pub const fn rotl_32(v: u64, amount: u64) -> u64 {
    sx32((v as u32).rotate_left((amount & 31) as u32) as u64)
}

/// Signed less-than as 0/1.
#[inline(always)]
pub const fn lt_s(a: u64, b: u64) -> u64 {
    ((a as i64) < (b as i64)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN32: u64 = 0xFFFF_FFFF_8000_0000;
    const MIN64: u64 = 1 << 63;

    #[test]
    fn division_by_zero_and_overflow() {
        assert_eq!(div_u_32(7, 0), u64::MAX);
        assert_eq!(div_u_32(0xFFFF_FFFF, 1), u64::MAX, "sign-extends bit 31");
        assert_eq!(div_s_32(5, 0x1_0000_0000), u64::MAX, "only the low 32 bits of B count");
        assert_eq!(div_s_32(MIN32, u64::MAX), MIN32);
        assert_eq!(div_s_32(-7i64 as u64, 2), -3i64 as u64);
        assert_eq!(rem_u_32(0x1_8000_0001, 0), MIN32 | 1);
        assert_eq!(rem_s_32(MIN32, u64::MAX), 0);
        assert_eq!(rem_s_32(-7i64 as u64, 0), -7i64 as u64);
        assert_eq!(rem_s_32(-7i64 as u64, 2), -1i64 as u64, "takes the dividend's sign");
        assert_eq!(rem_s_32(7, -2i64 as u64), 1);
        assert_eq!(div_u_64(9, 0), u64::MAX);
        assert_eq!(div_s_64(MIN64, u64::MAX), MIN64);
        assert_eq!(div_s_64(9, 0), u64::MAX);
        assert_eq!(rem_u_64(9, 0), 9);
        assert_eq!(rem_s_64(MIN64, u64::MAX), 0);
        assert_eq!(rem_s_64(-9i64 as u64, 0), -9i64 as u64);
        assert_eq!(rem_s_64(-9i64 as u64, 4), -1i64 as u64);
    }

    #[test]
    fn shifts_take_the_amount_modulo_width() {
        assert_eq!(shl_32(1, 33), 2);
        assert_eq!(shl_32(1, 31), MIN32);
        assert_eq!(shr_32(0xFFFF_FFFF_8000_0000, 0), MIN32, "a zero shift still sign-extends");
        assert_eq!(shr_32(0x8000_0000, 31), 1);
        assert_eq!(sar_32(0x8000_0000, 35), 0xFFFF_FFFF_F000_0000);
        assert_eq!(shl_64(1, 64), 1);
        assert_eq!(shr_64(MIN64, 127), 1);
        assert_eq!(sar_64(MIN64, 63), u64::MAX);
    }

    #[test]
    fn rotates() {
        assert_eq!(rotr_32(1, 1), MIN32);
        assert_eq!(rotr_32(0x1_0000_0001, 33), MIN32, "high half ignored, amount mod 32");
        assert_eq!(rotl_32(0x8000_0000, 1), 1);
        assert_eq!(rotl_32(0x4000_0000, 1), MIN32);
    }

    #[test]
    fn upper_multiplies() {
        assert_eq!(mul_upper_u_u(u64::MAX, u64::MAX), u64::MAX - 1);
        assert_eq!(mul_upper_s_s(u64::MAX, u64::MAX), 0);
        assert_eq!(mul_upper_s_s(MIN64, MIN64), 1 << 62);
        assert_eq!(mul_upper_s_u(u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(mul_upper_s_u(u64::MAX, 1), u64::MAX, "floor(-1 / 2^64) = -1");
        assert_eq!(mul_upper_s_u(2, u64::MAX), 1);
    }
}
