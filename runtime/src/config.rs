//! How an [`Engine`](crate::Engine) loads and runs programs: which engine,
//! profile and gas model.

use javm_cap::program::{GasModel, Profile};

/// Which engine runs guest code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The interpreter.
    #[default]
    Interpreter,
    /// The x86-64 recompiler.
    Recompiler,
}

impl EngineKind {
    /// Every engine, the interpreter first.
    pub const ALL: [EngineKind; 2] = [EngineKind::Interpreter, EngineKind::Recompiler];

    /// The engine that is not this one (for runs that move between them).
    pub const fn other(self) -> EngineKind {
        match self {
            EngineKind::Interpreter => EngineKind::Recompiler,
            EngineKind::Recompiler => EngineKind::Interpreter,
        }
    }

    /// The lower-case name (`interpreter`, `recompiler`).
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Interpreter => "interpreter",
            EngineKind::Recompiler => "recompiler",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "interp" | "interpreter" => Ok(EngineKind::Interpreter),
            "jit" | "recompiler" => Ok(EngineKind::Recompiler),
            other => Err(format!("unknown engine {other:?} (expected interp or jit)")),
        }
    }
}

/// How programs are loaded and run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Config {
    /// The engine.
    pub engine: EngineKind,
    /// The instruction-set profile.
    pub profile: Profile,
    /// The gas model; `None` takes the profile's default
    /// ([`GasModel::default_for`]).
    pub gas_model: Option<GasModel>,
}

impl Config {
    /// The gas model in effect.
    pub fn effective_gas_model(&self) -> GasModel {
        self.gas_model.unwrap_or(GasModel::default_for(self.profile))
    }
}

/// When the recompiler generates a module's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compilation {
    /// Each region on its first entry: a load generates nothing but a few
    /// hundred bytes of shared code, and a run compiles only the code it
    /// reaches. A region is whole segments (basic blocks) grown to at least
    /// `region` instructions.
    Lazy {
        /// Instructions a region grows to (1: block by block).
        region: u32,
    },
    /// The whole program at load. What a persistent module cache stores.
    Eager,
}

impl Default for Compilation {
    fn default() -> Compilation {
        Compilation::Lazy { region: javm_recompiler::DEFAULT_REGION }
    }
}

impl Compilation {
    /// The recompiler's options for it.
    pub fn options(self) -> javm_recompiler::CompileOptions {
        let defaults = javm_recompiler::CompileOptions::default();
        match self {
            Compilation::Lazy { region } => javm_recompiler::CompileOptions { lazy: true, region, ..defaults },
            Compilation::Eager => javm_recompiler::CompileOptions { lazy: false, ..defaults },
        }
    }
}

impl std::str::FromStr for Compilation {
    type Err = String;

    /// `lazy`, `lazy:N` (regions of N instructions) or `eager`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "eager" => Ok(Compilation::Eager),
            "lazy" => Ok(Compilation::default()),
            _ => match s.strip_prefix("lazy:").map(str::parse::<u32>) {
                Some(Ok(region)) if region > 0 => Ok(Compilation::Lazy { region }),
                _ => Err(format!("unknown compilation {s:?} (expected lazy, lazy:N with N > 0, or eager)")),
            },
        }
    }
}
