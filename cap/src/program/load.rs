//! Loading by format: the one place that knows every program format, so
//! that [`standard`](super::standard) and [`container`](super::container)
//! need not know each other.

use super::container::{Container, MAGIC};
use super::error::ProgramError;
use super::standard::StandardProgram;

impl StandardProgram {
    /// Loads any program format javm knows: a `.polkavm` container (by its
    /// magic), a standard program, or one with a metadata prefix (tried in
    /// that order). Input that starts like a container's magic but is not
    /// one is a bad container; otherwise the error is the standard-program
    /// one when neither standard form parses.
    pub fn load(bytes: &[u8]) -> Result<StandardProgram, ProgramError> {
        if bytes.starts_with(&MAGIC) {
            return Container::parse(bytes)?.to_standard();
        }
        if bytes.starts_with(&MAGIC[..3]) {
            // `PVM` then something else: a container with a bad magic, not
            // a standard program.
            let found = &bytes[..bytes.len().min(MAGIC.len())];
            return Err(ProgramError::Invalid {
                field: "container magic",
                offset: 0,
                reason: format!("expected {MAGIC:02x?} (\"PVM\\0\"), found {found:02x?}"),
            });
        }
        match StandardProgram::parse(bytes) {
            Ok(p) => Ok(p),
            Err(plain) => StandardProgram::parse_with_metadata(bytes).map_err(|_| plain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_magic_is_a_bad_container() {
        let err = StandardProgram::load(b"PVM\x01rest of a container").unwrap_err();
        assert_eq!(
            err.to_string(),
            "container magic at byte 0: expected [50, 56, 4d, 00] (\"PVM\\0\"), found [50, 56, 4d, 01]"
        );
        assert!(matches!(StandardProgram::load(b"PV"), Err(ProgramError::Truncated { .. })));
        assert!(matches!(StandardProgram::load(b"PVM"), Err(ProgramError::Invalid { field: "container magic", .. })));
    }
}
