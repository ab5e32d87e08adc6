//! [`CompileContext`]: the buffers code generation works in, kept from one
//! compile to the next.

use super::assembler::Scratch;
use std::sync::Mutex;

/// Scratch larger than this (in bytes of code buffer) is not kept after a
/// compile, so that one huge module does not pin its buffers forever.
const KEEP_LIMIT: usize = 64 << 20;

/// Reusable compile buffers: the assembler's code buffer and the per-compile
/// tables. An engine keeps one for every module it compiles, and a lazily
/// compiled module compiles its regions in the context it was made with,
/// so loading one module after another, or compiling region after region,
/// reuses the same buffers instead of allocating (and page-faulting in)
/// fresh ones. Compiles on several threads at once each take a scratch of
/// their own; the context keeps as many as were in use at once (each up to
/// 64 MiB of code buffer). Shared by `Arc`; safe to use from any thread.
#[derive(Default)]
pub struct CompileContext {
    kept: Mutex<Vec<Scratch>>,
}

impl std::fmt::Debug for CompileContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileContext").field("kept", &self.kept().len()).finish()
    }
}

impl CompileContext {
    /// Runs `f` with a scratch of this context, emptied (a fresh one if
    /// every kept scratch is in use).
    pub(crate) fn with_scratch<T>(&self, f: impl FnOnce(&mut Scratch) -> T) -> T {
        let mut scratch = self.kept().pop().unwrap_or_default();
        scratch.clear();
        let out = f(&mut scratch);
        if scratch.code_capacity() <= KEEP_LIMIT {
            self.kept().push(scratch);
        }
        out
    }

    /// Bytes of code buffer the kept scratches hold.
    pub fn kept_bytes(&self) -> usize {
        self.kept().iter().map(Scratch::code_capacity).sum()
    }

    /// The kept scratches (poison is harmless: a scratch is cleared before
    /// each use).
    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<Scratch>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_reused_by_the_next_compile() {
        let context = CompileContext::default();
        let capacity = context.with_scratch(|s| {
            s.asm.reserve(1 << 20);
            s.code_capacity()
        });
        assert!(capacity >= 1 << 20);
        assert_eq!(context.kept_bytes(), capacity);
        assert!(context.with_scratch(|s| s.is_clear() && s.code_capacity() == capacity));
        // Two compiles at once each get a scratch, and both are kept.
        let inner = context.with_scratch(|_| context.with_scratch(|s| s.code_capacity()));
        assert_eq!(inner, 0, "the second compile got a fresh scratch");
        assert_eq!(context.kept().len(), 2);
        assert_eq!(context.kept_bytes(), capacity);
    }

    #[test]
    fn scratch_over_the_limit_is_not_kept() {
        let context = CompileContext::default();
        context.with_scratch(|s| s.asm.reserve(KEEP_LIMIT + 1));
        assert_eq!(context.kept().len(), 0);
    }
}
