//! Executable memory for one module's code.

use std::io;

/// A private mapping holding machine code, read-only and executable once
/// built (never writable and executable at once).
pub(crate) struct CodeMemory {
    ptr: *mut u8,
    len: usize,
    mapped: usize,
}

// SAFETY: the mapping is immutable after construction and owned by this
// value; sharing or moving it between threads is sound.
unsafe impl Send for CodeMemory {}
// SAFETY: as above; only reads happen through `&CodeMemory`.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    /// Copies `code` into fresh executable memory. The pages are populated
    /// by the kernel in one go (cheaper than a fault per page).
    pub(crate) fn new(code: &[u8]) -> io::Result<CodeMemory> {
        let mapped = code.len().max(1).next_multiple_of(4096);
        // SAFETY: a fresh private mapping chosen by the kernel.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let memory = CodeMemory { ptr: ptr.cast(), len: code.len(), mapped };
        // SAFETY: the mapping is writable and at least `code.len()` long.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), memory.ptr, code.len()) };
        // SAFETY: changing the protection of our own mapping.
        if unsafe { libc::mprotect(ptr, mapped, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(memory)
    }

    /// Address of the first byte.
    pub(crate) fn addr(&self) -> usize {
        self.ptr as usize
    }

    /// The code.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes were written and stay mapped until drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no code in it runs any more
        // (instances hold the module alive while they exist).
        unsafe { libc::munmap(self.ptr.cast(), self.mapped) };
    }
}
