//! Shared helpers for javm's benches (`benches/benches/`) and the PolkaVM
//! gas-equivalence test (`benches/tests/`): the committed C guests and their
//! expected outputs, their native builds, running them on javm with the
//! reference host, a large generated program, images and memory figures.

pub mod guests;
pub mod images;
pub mod large;
pub mod native;
pub mod run;
pub mod stats;

/// Resident set size of this process in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let resident: u64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("statm resident field");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    resident * page.max(1) as u64
}
