//! The guests compiled for the host by `build.rs` (plain C, `-O2`).

/// `size_t javm_guest_<name>(const uint8_t *args, size_t len, uint8_t *out,
/// size_t out_cap)`: runs the guest, copies at most `out_cap` output bytes
/// and returns the full output length.
pub type Entry = unsafe extern "C" fn(*const u8, usize, *mut u8, usize) -> usize;

include!(concat!(env!("OUT_DIR"), "/native_guests.rs"));

/// The native entry point of guest `name`.
pub fn entry(name: &str) -> Option<Entry> {
    ENTRIES.iter().find(|(n, _)| *n == name).map(|&(_, e)| e)
}

/// Runs `entry` on `args` and returns its output (all guests' outputs fit
/// in 64 bytes). The guests keep state in static buffers: do not call the
/// same guest from two threads at once.
pub fn run(entry: Entry, args: &[u8]) -> Vec<u8> {
    let mut out = [0u8; 64];
    // SAFETY: the entry reads `args.len()` bytes of `args` and writes at
    // most `out.len()` bytes of `out`.
    let len = unsafe { entry(args.as_ptr(), args.len(), out.as_mut_ptr(), out.len()) };
    assert!(len <= out.len(), "native output of {len} bytes does not fit");
    out[..len].to_vec()
}
