//! Optional x86-64 extensions the code generator uses when present.

/// Which optional instruction-set extensions generated code may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features {
    /// BMI1: `andn`, `tzcnt`.
    pub bmi1: bool,
    /// BMI2: `shlx`/`shrx`/`sarx`, `rorx`.
    pub bmi2: bool,
    /// ABM: `lzcnt`.
    pub lzcnt: bool,
    /// `popcnt`.
    pub popcnt: bool,
    /// `rdgsbase`/`wrgsbase` usable from user space (CPU and kernel): guest
    /// memory is then addressed as `gs:[32-bit address]`, one instruction
    /// per access.
    pub fsgsbase: bool,
}

impl Features {
    /// Baseline x86-64 only.
    pub const NONE: Features = Features { bmi1: false, bmi2: false, lzcnt: false, popcnt: false, fsgsbase: false };

    /// What this CPU has (detected once, then cached).
    pub fn detect() -> Features {
        static DETECTED: std::sync::OnceLock<Features> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| Features {
            bmi1: std::is_x86_feature_detected!("bmi1"),
            bmi2: std::is_x86_feature_detected!("bmi2"),
            lzcnt: std::is_x86_feature_detected!("lzcnt"),
            popcnt: std::is_x86_feature_detected!("popcnt"),
            fsgsbase: kernel_allows_fsgsbase(),
        })
    }

    /// The set as a bit mask (bmi1, bmi2, lzcnt, popcnt, fsgsbase from bit
    /// 0 up), as the persistent module cache records it.
    pub const fn bits(self) -> u32 {
        self.bmi1 as u32
            | (self.bmi2 as u32) << 1
            | (self.lzcnt as u32) << 2
            | (self.popcnt as u32) << 3
            | (self.fsgsbase as u32) << 4
    }
}

/// Whether the kernel lets user space use `rdgsbase`/`wrgsbase` (it reports
/// `HWCAP2_FSGSBASE` only when the CPU has them and it has enabled them).
fn kernel_allows_fsgsbase() -> bool {
    const HWCAP2_FSGSBASE: u64 = 1 << 1;
    // SAFETY: getauxval reads the process's auxiliary vector; no
    // preconditions.
    let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
    hwcap2 & HWCAP2_FSGSBASE != 0
}
