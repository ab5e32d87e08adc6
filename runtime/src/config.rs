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
