//! Loading by format: the one place that knows every program format, so
//! that [`standard`](super::standard) and [`container`](super::container)
//! need not know each other.

use super::container::{Container, MAGIC};
use super::error::ProgramError;
use super::standard::StandardProgram;

impl StandardProgram {
    /// Loads any program format javm knows: a `.polkavm` container (by its
    /// magic), a standard program, or one with a metadata prefix (tried in
    /// that order). The error is the standard-program one when neither
    /// standard form parses.
    pub fn load(bytes: &[u8]) -> Result<StandardProgram, ProgramError> {
        if bytes.starts_with(&MAGIC) {
            return Container::parse(bytes)?.to_standard();
        }
        match StandardProgram::parse(bytes) {
            Ok(p) => Ok(p),
            Err(plain) => StandardProgram::parse_with_metadata(bytes).map_err(|_| plain),
        }
    }
}
