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
}

impl Features {
    /// Baseline x86-64 only.
    pub const NONE: Features = Features { bmi1: false, bmi2: false, lzcnt: false, popcnt: false };

    /// What this CPU has (detected once, then cached).
    pub fn detect() -> Features {
        static DETECTED: std::sync::OnceLock<Features> = std::sync::OnceLock::new();
        *DETECTED.get_or_init(|| Features {
            bmi1: std::is_x86_feature_detected!("bmi1"),
            bmi2: std::is_x86_feature_detected!("bmi2"),
            lzcnt: std::is_x86_feature_detected!("lzcnt"),
            popcnt: std::is_x86_feature_detected!("popcnt"),
        })
    }
}
