//! rkyv archives of images and data caps, with validated zero-copy access.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use super::desc::{ArchivedDataDesc, DataDesc, check_size};
use super::{Access, Extent, Image, ImageError, ImageMapping, MappingSource, REG_COUNT, check_extents};
use crate::data::DataCap;

/// Format version stored in every image archive.
pub const IMAGE_FORMAT: u32 = 1;

/// Alignment archives are written with and read at.
const ARCHIVE_ALIGN: usize = 16;

/// Serial form of one [`ImageMapping`].
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MappingDesc {
    /// First guest page.
    pub start_page: u32,
    /// Number of pages.
    pub page_count: u32,
    /// Guest permissions.
    pub access: Access,
    /// The data cap, or `None` for a zero mapping.
    pub data: Option<DataDesc>,
}

/// Serial form of an [`Image`], the root of an image archive.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ImageDesc {
    /// Archive format version ([`IMAGE_FORMAT`]).
    pub format: u32,
    /// The raw PVM code blob.
    pub code: Vec<u8>,
    /// Opaque runtime selector.
    pub profile: u8,
    /// Initial registers.
    pub regs: [u64; REG_COUNT],
    /// Entry points.
    pub entry_points: Vec<u32>,
    /// Memory mappings.
    pub mappings: Vec<MappingDesc>,
}

impl ImageDesc {
    /// Describe `image` (after [`Image::validate`]). Fails on a data page
    /// known only by its hash.
    pub fn from_image(image: &Image) -> Result<ImageDesc, ImageError> {
        image.validate()?;
        let mappings = image
            .mappings
            .iter()
            .map(|m| {
                Ok(MappingDesc {
                    start_page: m.start_page,
                    page_count: m.page_count,
                    access: m.access,
                    data: match &m.source {
                        MappingSource::Data(cap) => Some(DataDesc::from_cap(cap)?),
                        MappingSource::Zero => None,
                    },
                })
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        Ok(ImageDesc {
            format: IMAGE_FORMAT,
            code: image.code.clone(),
            profile: image.profile,
            regs: image.regs,
            entry_points: image.entry_points.clone(),
            mappings,
        })
    }
}

impl ArchivedImageDesc {
    /// Build the image straight from the archive: check the mapping geometry
    /// first (so hostile sizes cannot drive allocation), then each data
    /// description, then copy the pages into frames.
    pub fn to_image(&self) -> Result<Image, ImageError> {
        let format = self.format.to_native();
        if format != IMAGE_FORMAT {
            return Err(ImageError::Format { found: format, expected: IMAGE_FORMAT });
        }
        let extents: Vec<Extent> = self
            .mappings
            .iter()
            .map(|m| Extent {
                start_page: m.start_page.to_native(),
                page_count: m.page_count.to_native(),
                data_size: m.data.as_ref().map(ArchivedDataDesc::size),
            })
            .collect();
        for (mapping, m) in self.mappings.iter().enumerate() {
            if let Some(data) = m.data.as_ref() {
                check_size(data.size()).map_err(|e| in_mapping(mapping, e))?;
            }
        }
        check_extents(&extents)?;
        let mappings = self
            .mappings
            .iter()
            .enumerate()
            .map(|(mapping, m)| {
                let source = match m.data.as_ref() {
                    Some(data) => MappingSource::Data(data.to_data_cap().map_err(|e| in_mapping(mapping, e))?),
                    None => MappingSource::Zero,
                };
                Ok(ImageMapping {
                    start_page: m.start_page.to_native(),
                    page_count: m.page_count.to_native(),
                    source,
                    access: Access::from(&m.access),
                })
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        Ok(Image {
            code: self.code.as_slice().to_vec(),
            profile: self.profile,
            mappings,
            regs: std::array::from_fn(|i| self.regs[i].to_native()),
            entry_points: self.entry_points.iter().map(|e| e.to_native()).collect(),
        })
    }
}

fn in_mapping(mapping: usize, source: ImageError) -> ImageError {
    ImageError::MappingData { mapping, source: Box::new(source) }
}

fn archive_error(error: rancor::Error) -> ImageError {
    ImageError::Archive(error.to_string())
}

/// Run `f` on `bytes`, copied to an aligned buffer first if they are not
/// aligned for in-place access.
fn on_aligned<T>(bytes: &[u8], f: impl FnOnce(&[u8]) -> Result<T, ImageError>) -> Result<T, ImageError> {
    if (bytes.as_ptr() as usize).is_multiple_of(ARCHIVE_ALIGN) {
        f(bytes)
    } else {
        let mut aligned = AlignedVec::<ARCHIVE_ALIGN>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        f(&aligned)
    }
}

/// Validate an image archive and view it in place (no copy). `bytes` must be
/// 16-byte aligned, as [`Image::to_archive`] returns them.
pub fn access_image(bytes: &[u8]) -> Result<&ArchivedImageDesc, ImageError> {
    rkyv::access::<ArchivedImageDesc, rancor::Error>(bytes).map_err(archive_error)
}

/// Validate a data-cap archive and view it in place (no copy). `bytes` must
/// be 16-byte aligned, as [`DataCap::to_archive`] returns them.
pub fn access_data_cap(bytes: &[u8]) -> Result<&ArchivedDataDesc, ImageError> {
    rkyv::access::<ArchivedDataDesc, rancor::Error>(bytes).map_err(archive_error)
}

impl Image {
    /// Archive the image (validated first).
    pub fn to_archive(&self) -> Result<AlignedVec, ImageError> {
        let desc = ImageDesc::from_image(self)?;
        rkyv::to_bytes::<rancor::Error>(&desc).map_err(archive_error)
    }

    /// Load an image archive: validate, then build from the archived form in
    /// place. Unaligned input is copied to an aligned buffer first.
    pub fn from_archive(bytes: &[u8]) -> Result<Image, ImageError> {
        on_aligned(bytes, |bytes| access_image(bytes)?.to_image())
    }
}

impl DataCap {
    /// Archive the cap's effective content as a [`DataDesc`].
    pub fn to_archive(&self) -> Result<AlignedVec, ImageError> {
        let desc = DataDesc::from_cap(self)?;
        rkyv::to_bytes::<rancor::Error>(&desc).map_err(archive_error)
    }

    /// Load a data-cap archive: validate, check, then copy the pages into
    /// frames. Unaligned input is copied to an aligned buffer first.
    pub fn from_archive(bytes: &[u8]) -> Result<DataCap, ImageError> {
        on_aligned(bytes, |bytes| access_data_cap(bytes)?.to_data_cap())
    }
}
