//! Engine-neutral machine state.
