//! The interpreter: pre-decoded ops ([`code`]) run by one `match` loop
//! ([`exec`]), with the instruction arithmetic in [`alu`].

pub mod alu;
pub mod code;
pub mod exec;

pub use code::InterpCode;
pub use exec::{RegisterFile, Stepped, Stop, run, step_decoded, step_one};
