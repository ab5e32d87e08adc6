//! [`Image`]: everything needed to start a guest — its code, its memory
//! mappings, initial registers and entry points — and its rkyv archive.
//!
//! The code is kept as the raw PVM blob bytes plus an opaque `profile` byte;
//! decoding it is the program layer's job. Memory is a set of
//! non-overlapping [`ImageMapping`]s inside the 4 GiB guest space, each backed
//! by a [`DataCap`] or by zeros. Instances built from one image share its
//! page frames ([`DataCap::place_shared`]).
//!
//! The serial form ([`ImageDesc`], with [`DataDesc`] per data cap) is archived
//! with rkyv. Loading validates the archive with bytecheck and reads it in
//! place (zero-copy); only page bytes are copied, into frames. Every
//! malformed input yields an [`ImageError`].

mod archive;
mod desc;

use rkyv::{Archive, Deserialize, Serialize};

pub use archive::{
    ArchivedImageDesc, ArchivedMappingDesc, IMAGE_FORMAT, ImageDesc, MappingDesc, access_data_cap, access_image,
};
pub use desc::{ArchivedDataDesc, ArchivedPageDesc, DataDesc, PageDesc, check_data};

use crate::data::{CapError, DataCap, MAX_CAP_SIZE, PAGE_SIZE};

pub use crate::vm::NUM_REGS as REG_COUNT;

/// Pages in the 4 GiB guest address space.
pub const ADDRESS_SPACE_PAGES: u64 = MAX_CAP_SIZE / PAGE_SIZE as u64;

/// What the guest may do with a mapping.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
pub enum Access {
    /// Read-only.
    Read,
    /// Readable and writable.
    Write,
}

impl From<&ArchivedAccess> for Access {
    fn from(access: &ArchivedAccess) -> Access {
        match access {
            ArchivedAccess::Read => Access::Read,
            ArchivedAccess::Write => Access::Write,
        }
    }
}

/// Where a mapping's initial bytes come from.
#[derive(Clone, Debug)]
pub enum MappingSource {
    /// A data cap, placed at the mapping's first page; pages past its size
    /// are zero.
    Data(DataCap),
    /// All zeros.
    Zero,
}

/// A range of guest pages and its initial content.
#[derive(Clone, Debug)]
pub struct ImageMapping {
    /// First guest page (guest address `start_page * 4096`).
    pub start_page: u32,
    /// Number of pages.
    pub page_count: u32,
    /// Initial content.
    pub source: MappingSource,
    /// Guest permissions.
    pub access: Access,
}

/// A guest program ready to instantiate.
#[derive(Clone, Debug)]
pub struct Image {
    /// The raw PVM code blob.
    pub code: Vec<u8>,
    /// Opaque selector for the runtime (e.g. the instruction-set profile).
    pub profile: u8,
    /// Memory mappings; non-overlapping, inside the 4 GiB space.
    pub mappings: Vec<ImageMapping>,
    /// Initial register values.
    pub regs: [u64; REG_COUNT],
    /// Code offsets the guest may be entered at.
    pub entry_points: Vec<u32>,
}

/// Why an image or data description is invalid or could not be archived.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bytes are not a valid archive (bytecheck or serializer message).
    #[error("invalid archive: {0}")]
    Archive(String),
    /// The archive is of another format version.
    #[error("image archive format {found}, expected {expected}")]
    Format {
        /// Version found in the archive.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// A data size is not a whole number of pages.
    #[error("data size {size} is not a whole number of pages")]
    UnalignedSize {
        /// The size in bytes.
        size: u64,
    },
    /// Data pages are not listed in strictly increasing order.
    #[error("data page {index} listed after page {previous}")]
    UnorderedPage {
        /// The out-of-order index.
        index: u32,
        /// The index listed before it.
        previous: u32,
    },
    /// A cap-level problem (size limit, page range, content length, …).
    #[error(transparent)]
    Cap(#[from] CapError),
    /// A mapping does not fit in the 4 GiB guest space.
    #[error("mapping {mapping}: pages {start_page}..+{page_count} leave the address space")]
    MappingOutOfRange {
        /// Index of the mapping.
        mapping: usize,
        /// Its first page.
        start_page: u32,
        /// Its page count.
        page_count: u32,
    },
    /// Two mappings share pages.
    #[error("mappings {first} and {second} overlap")]
    Overlap {
        /// Index of one mapping.
        first: usize,
        /// Index of the other.
        second: usize,
    },
    /// A mapping's data cap is larger than the mapping.
    #[error("mapping {mapping}: data of {data_pages} pages exceeds its {page_count} pages")]
    DataExceedsMapping {
        /// Index of the mapping.
        mapping: usize,
        /// Pages of the data cap.
        data_pages: u64,
        /// Pages of the mapping.
        page_count: u32,
    },
    /// A mapping's data description is invalid.
    #[error("mapping {mapping}: {source}")]
    MappingData {
        /// Index of the mapping.
        mapping: usize,
        /// What is wrong with its data.
        source: Box<ImageError>,
    },
}

/// The shape of one mapping, enough to check the image's geometry.
#[derive(Clone, Copy)]
pub(crate) struct Extent {
    pub(crate) start_page: u32,
    pub(crate) page_count: u32,
    /// Byte size of the mapping's data cap, if it has one.
    pub(crate) data_size: Option<u64>,
}

/// Check that mappings lie inside the address space, do not overlap, and
/// hold data no larger than themselves. Bounds the total size of every cap a
/// loader builds to the address space.
pub(crate) fn check_extents(extents: &[Extent]) -> Result<(), ImageError> {
    for (mapping, e) in extents.iter().enumerate() {
        if u64::from(e.start_page) + u64::from(e.page_count) > ADDRESS_SPACE_PAGES {
            return Err(ImageError::MappingOutOfRange { mapping, start_page: e.start_page, page_count: e.page_count });
        }
        if let Some(size) = e.data_size {
            let data_pages = size.div_ceil(PAGE_SIZE as u64);
            if data_pages > u64::from(e.page_count) {
                return Err(ImageError::DataExceedsMapping { mapping, data_pages, page_count: e.page_count });
            }
        }
    }
    let mut order: Vec<usize> = (0..extents.len()).filter(|&i| extents[i].page_count > 0).collect();
    order.sort_by_key(|&i| extents[i].start_page);
    for pair in order.windows(2) {
        let (a, b) = (&extents[pair[0]], &extents[pair[1]]);
        if u64::from(a.start_page) + u64::from(a.page_count) > u64::from(b.start_page) {
            return Err(ImageError::Overlap { first: pair[0].min(pair[1]), second: pair[0].max(pair[1]) });
        }
    }
    Ok(())
}

impl Image {
    /// Check the mappings: inside the 4 GiB space, non-overlapping, each data
    /// cap no larger than its mapping.
    pub fn validate(&self) -> Result<(), ImageError> {
        let extents: Vec<Extent> = self
            .mappings
            .iter()
            .map(|m| Extent {
                start_page: m.start_page,
                page_count: m.page_count,
                data_size: match &m.source {
                    MappingSource::Data(cap) => Some(cap.content_len()),
                    MappingSource::Zero => None,
                },
            })
            .collect();
        check_extents(&extents)
    }
}
