//! The interpreter: pre-decoded ops ([`code`]) run by one `match` loop
//! ([`exec`]) over a [`RegisterFile`], with the instruction arithmetic in
//! [`alu`].

pub mod alu;
pub mod code;
pub mod exec;
mod registers;

pub use code::InterpCode;
pub use exec::{Stepped, Stop, run, step_decoded, step_one};
pub use registers::RegisterFile;
