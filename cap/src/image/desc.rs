//! [`DataDesc`]: the compact serial form of a [`DataCap`].

use rkyv::{Archive, Deserialize, Serialize};

use super::ImageError;
use crate::data::{CapError, DataCap, MAX_CAP_SIZE, PAGE_SIZE};
use crate::page::PageSlot;

/// One non-zero page of a [`DataDesc`]: its index and its bytes with trailing
/// zeros dropped (at most [`PAGE_SIZE`]).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PageDesc {
    /// Absolute page index within the cap.
    pub index: u32,
    /// The page's bytes; the rest of the page is zero.
    pub bytes: Vec<u8>,
}

/// A cap as its size plus its non-zero pages in increasing index order.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct DataDesc {
    /// Logical size in bytes: 0 or a positive multiple of [`PAGE_SIZE`], at
    /// most [`MAX_CAP_SIZE`].
    pub size: u64,
    /// The non-zero pages, strictly increasing by index.
    pub pages: Vec<PageDesc>,
}

impl DataDesc {
    /// Describe the effective content of `cap` (its overlay included).
    /// Fails on a page known only by its hash.
    pub fn from_cap(cap: &DataCap) -> Result<DataDesc, CapError> {
        let mut pages = Vec::new();
        for (index, slot) in cap.pages() {
            match slot {
                PageSlot::Loaded(page) => {
                    let bytes = page.bytes();
                    let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    if len > 0 {
                        pages.push(PageDesc { index, bytes: bytes[..len].to_vec() });
                    }
                }
                PageSlot::Missing(hash) => {
                    return Err(CapError::MissingPage { page: index, hash: *hash });
                }
                PageSlot::Empty => {}
            }
        }
        Ok(DataDesc { size: cap.content_len(), pages })
    }

    /// Number of pages the described cap has.
    pub fn page_count(&self) -> u64 {
        self.size / PAGE_SIZE as u64
    }

    /// Build the cap, after checking the description ([`check_data`]).
    pub fn to_data_cap(&self) -> Result<DataCap, ImageError> {
        build_data(self.size, self.pages.iter().map(|p| (p.index, p.bytes.as_slice())))
    }
}

impl ArchivedDataDesc {
    /// Logical size in bytes, as stored.
    pub fn size(&self) -> u64 {
        self.size.to_native()
    }

    /// The stored pages as `(index, bytes)`, borrowed from the archive.
    pub fn page_entries(&self) -> impl Iterator<Item = (u32, &[u8])> + Clone {
        self.pages.iter().map(|p| (p.index.to_native(), p.bytes.as_slice()))
    }

    /// Build the cap straight from the archive, after checking it.
    pub fn to_data_cap(&self) -> Result<DataCap, ImageError> {
        build_data(self.size(), self.page_entries())
    }
}

/// Check a size: a whole number of pages, at most [`MAX_CAP_SIZE`].
pub(crate) fn check_size(size: u64) -> Result<(), ImageError> {
    if size > MAX_CAP_SIZE {
        return Err(CapError::TooLarge { size }.into());
    }
    if !size.is_multiple_of(PAGE_SIZE as u64) {
        return Err(ImageError::UnalignedSize { size });
    }
    Ok(())
}

/// Check a described cap without allocating: the size, page indices inside
/// it and strictly increasing, page contents at most one page.
pub fn check_data<'a>(size: u64, pages: impl IntoIterator<Item = (u32, &'a [u8])>) -> Result<(), ImageError> {
    check_size(size)?;
    let page_count = (size / PAGE_SIZE as u64) as u32;
    let mut previous: Option<u32> = None;
    for (index, bytes) in pages {
        if index >= page_count {
            return Err(CapError::PageOutOfRange { page: index.into(), page_count }.into());
        }
        if let Some(previous) = previous.filter(|&p| p >= index) {
            return Err(ImageError::UnorderedPage { index, previous });
        }
        if bytes.len() > PAGE_SIZE {
            return Err(CapError::ContentTooLong { len: bytes.len() }.into());
        }
        previous = Some(index);
    }
    Ok(())
}

/// Check, then build a clean cap (size 0 gives [`DataCap::empty`]).
fn build_data<'a>(size: u64, pages: impl Iterator<Item = (u32, &'a [u8])> + Clone) -> Result<DataCap, ImageError> {
    check_data(size, pages.clone())?;
    if size == 0 {
        return Ok(DataCap::empty());
    }
    Ok(DataCap::from_sparse_pages(size, pages)?)
}
