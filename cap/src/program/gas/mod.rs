//! Gas models: what each basic block costs, priced the first time a run
//! or a compile asks for it; [`meter`]: how a run pays for it.

pub(crate) mod costs;
pub mod meter;
pub mod pipeline;

pub use costs::UNPRICED;

use super::decode::Instruction;
use super::isa::Profile;
use std::fmt;
use std::str::FromStr;

/// How gas is charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GasModel {
    /// GP 0.8 pipeline simulation (spec §8.2), charged per block on entry.
    /// The P8 default.
    Pipeline,
    /// One unit per instruction, the whole block charged on entry (what the
    /// v0.4 vectors and PolkaVM's naive cost model expect).
    Block,
    /// One unit per instruction, charged instruction by instruction (the GP
    /// 0.7.2 reading: out-of-gas can stop mid-block, gas may go to −1). The
    /// P7 default.
    Instruction,
}

impl GasModel {
    /// The model a profile uses unless told otherwise.
    pub const fn default_for(profile: Profile) -> GasModel {
        match profile {
            Profile::P8 => GasModel::Pipeline,
            Profile::P7 => GasModel::Instruction,
        }
    }

    /// The lower-case name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            GasModel::Pipeline => "pipeline",
            GasModel::Block => "block",
            GasModel::Instruction => "instruction",
        }
    }

    /// Cost of one basic block `body` (block start through its terminator)
    /// of `code`. For the unit models this is the instruction count.
    pub fn block_cost(self, code: &[u8], body: &[Instruction]) -> u32 {
        self.coster().cost(code, body)
    }

    /// A [`BlockCoster`] for this model, to cost many blocks.
    pub fn coster(self) -> BlockCoster {
        BlockCoster { model: self, pipeline: pipeline::Coster::default() }
    }
}

/// Costs the blocks of a program one after another for one [`GasModel`],
/// reusing its buffers between blocks.
pub struct BlockCoster {
    model: GasModel,
    pipeline: pipeline::Coster,
}

impl BlockCoster {
    /// What [`GasModel::block_cost`] returns for `body`.
    pub fn cost(&mut self, code: &[u8], body: &[Instruction]) -> u32 {
        match self.model {
            GasModel::Pipeline => self.pipeline.cost(code, body),
            GasModel::Block | GasModel::Instruction => body.len() as u32,
        }
    }
}

impl fmt::Display for GasModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GasModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pipeline" => Ok(GasModel::Pipeline),
            "block" => Ok(GasModel::Block),
            "instruction" => Ok(GasModel::Instruction),
            other => Err(format!("unknown gas model {other:?} (expected pipeline, block or instruction)")),
        }
    }
}
