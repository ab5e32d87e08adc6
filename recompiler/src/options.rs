//! [`CompileOptions`]: how a program is compiled, and the process-wide
//! default for forcing the baseline code paths.

use crate::cpu::Features;
use std::sync::atomic::{AtomicU8, Ordering};

/// How a program is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Emit only baseline x86-64 (no BMI1/BMI2/LZCNT/POPCNT), even where the
    /// CPU has them. The default comes from [`set_default_force_fallbacks`],
    /// else from the environment variable `JAVM_JIT_FALLBACKS=1`.
    pub force_fallbacks: bool,
    /// Compile each region of the program on its first entry instead of
    /// the whole program up front (see the crate docs): loading costs
    /// little, and a run compiles only the code it reaches. On by default.
    pub lazy: bool,
    /// With `lazy`: whole segments are added to a region until it holds at
    /// least this many instructions (1: segment by segment).
    pub region: u32,
}

/// [`CompileOptions::region`] by default: enough for most functions' loops
/// and branches to stay inside one region.
pub const DEFAULT_REGION: u32 = 64;

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions { force_fallbacks: default_force_fallbacks(), lazy: true, region: DEFAULT_REGION }
    }
}

impl CompileOptions {
    /// The CPU features code compiled with these options may use.
    pub fn features(&self) -> Features {
        if self.force_fallbacks { Features::NONE } else { Features::detect() }
    }
}

/// 0 = not decided yet, 1 = off, 2 = on.
static FORCE_FALLBACKS: AtomicU8 = AtomicU8::new(0);

/// Sets what [`CompileOptions::default`] uses for `force_fallbacks` in this
/// process (tests use it to run a whole suite on the fallback code paths).
pub fn set_default_force_fallbacks(on: bool) {
    FORCE_FALLBACKS.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

fn default_force_fallbacks() -> bool {
    match FORCE_FALLBACKS.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var("JAVM_JIT_FALLBACKS").is_ok_and(|v| v == "1");
            set_default_force_fallbacks(on);
            on
        }
        v => v == 2,
    }
}
