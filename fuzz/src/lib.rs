//! Shared code of the fuzz targets: the PolkaVM side of the three-way
//! differential target, and the classification of known spec/PolkaVM
//! disagreements.

pub mod polkavm_side;
