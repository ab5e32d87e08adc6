//! PVM programs: the ISA table, the program formats, decoding into basic
//! blocks, and the gas models.
//!
//! Phases, one file each: [`blob`] / [`standard`] / [`container`] parse the
//! formats and [`StandardProgram::load`] picks one by the input; [`decode`]
//! reads one instruction; [`decoded`] validates and builds the [`Program`]
//! both engines run; [`gas`] prices its blocks; [`disasm`] prints it.

pub mod asm;
pub mod blob;
mod block;
mod build;
pub mod bulk;
pub mod container;
pub mod decode;
pub mod decoded;
pub mod disasm;
pub mod error;
pub mod gas;
pub mod isa;
mod load;
mod pc_index;
mod reader;
pub mod spans;
pub mod standard;
pub mod varint;

pub use blob::CodeBlob;
pub use decode::Instruction;
pub use decoded::{Block, Decode, DynamicTarget, HALT_ADDRESS, Program};
pub use error::ProgramError;
pub use gas::GasModel;
pub use isa::{Opcode, OperandClass, Profile};
pub use standard::StandardProgram;
