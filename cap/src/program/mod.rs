//! PVM program formats, the ISA table, decoding and gas models.
