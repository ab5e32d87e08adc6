//! [`RegisterFile`]: the interpreter's registers while it runs, taken from
//! a per-thread list of spare files on first use and given back when the
//! instance is dropped, so that a short run allocates none.

use std::cell::RefCell;

/// Slots of a file: one per value of a raw register byte.
const SLOTS: usize = 256;
/// Spare files a thread keeps (2 KiB each).
const SPARE: usize = 16;

type Slots = Box<[u64; SLOTS]>;

thread_local! {
    static SPARES: RefCell<Vec<Slots>> = const { RefCell::new(Vec::new()) };
}

/// The interpreter's registers while it runs: the 13 guest registers at the
/// start of an array indexed by the raw register byte, so no operand needs a
/// mask or a bounds check. Each run loads the 13 from the guest state and
/// stores them back; nothing else in the file is ever read. Kept by the
/// caller from one run to the next, so resuming after a host call takes no
/// new one; an instance that never interprets (the recompiler's) takes none.
#[derive(Debug, Default)]
pub struct RegisterFile(Option<Slots>);

impl RegisterFile {
    /// A file with no slots taken yet.
    pub fn new() -> RegisterFile {
        RegisterFile(None)
    }

    /// The slots, a spare file or a zeroed one on first use.
    #[inline]
    pub(crate) fn slots(&mut self) -> &mut [u64; SLOTS] {
        self.0.get_or_insert_with(|| {
            SPARES.try_with(|s| s.borrow_mut().pop()).ok().flatten().unwrap_or_else(|| Box::new([0; SLOTS]))
        })
    }
}

impl Clone for RegisterFile {
    /// A file of its own: the contents are the run's alone.
    fn clone(&self) -> RegisterFile {
        RegisterFile::new()
    }
}

impl Drop for RegisterFile {
    fn drop(&mut self) {
        if let Some(slots) = self.0.take() {
            // A thread that is exiting has no list any more: the file is
            // freed instead.
            let _ = SPARES.try_with(|s| {
                let mut spares = s.borrow_mut();
                if spares.len() < SPARE {
                    spares.push(slots);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RegisterFile;

    #[test]
    fn a_dropped_file_is_taken_again_on_the_same_thread() {
        let mut a = RegisterFile::new();
        assert!(a.0.is_none(), "no slots before the first use");
        let slots: *const u64 = a.slots().as_ptr();
        drop(a);
        let mut b = RegisterFile::new();
        assert_eq!(b.slots().as_ptr(), slots);
        let mut c = b.clone();
        assert_ne!(c.slots().as_ptr(), slots, "a clone takes a file of its own");
    }
}
