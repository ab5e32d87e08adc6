//! The guests compiled for the host (see `build.rs`).

/// `size_t javm_guest_<name>(const uint8_t *args, size_t args_len,
/// uint8_t *out, size_t out_cap)`: runs the guest, copies up to `out_cap`
/// output bytes and returns the full output length.
pub type NativeEntry = unsafe extern "C" fn(*const u8, usize, *mut u8, usize) -> usize;

include!(concat!(env!("OUT_DIR"), "/native_guests.rs"));

/// Run a guest natively and return its output.
pub fn run(entry: NativeEntry, args: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    // SAFETY: the C entry reads `args_len` bytes from `args` and writes at
    // most `out_cap` bytes to `out`; both buffers are valid for that long.
    let len = unsafe { entry(args.as_ptr(), args.len(), out.as_mut_ptr(), out.len()) };
    if len > out.len() {
        out.resize(len, 0);
        // SAFETY: as above, with the larger buffer.
        let again = unsafe { entry(args.as_ptr(), args.len(), out.as_mut_ptr(), out.len()) };
        assert_eq!(again, len, "native guest output length changed between runs");
    }
    out.truncate(len);
    out
}
