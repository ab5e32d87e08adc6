//! Image and data-cap archives: round trips, validation errors, and hostile
//! input.

use javm_cap::image::{
    Access, DataDesc, IMAGE_FORMAT, Image, ImageDesc, ImageError, ImageMapping, MappingDesc, MappingSource, PageDesc,
    access_image,
};
use javm_cap::{CapError, DataCap, PAGE_SIZE};
use proptest::prelude::*;
use rkyv::rancor;

const P: u64 = PAGE_SIZE as u64;

fn sample_image() -> Image {
    let ro = DataCap::from_bytes(&[b"read-only data".as_slice(), &[0; PAGE_SIZE], b"more"].concat()).unwrap();
    let mut rw = DataCap::from_bytes_sized(b"rw", 3 * P).unwrap();
    rw.write_page(2 * P, b"dirty").unwrap();
    Image {
        code: (0..200u8).collect(),
        profile: 8,
        mappings: vec![
            ImageMapping { start_page: 16, page_count: 4, source: MappingSource::Data(ro), access: Access::Read },
            ImageMapping { start_page: 32, page_count: 3, source: MappingSource::Data(rw), access: Access::Write },
            ImageMapping { start_page: 0xFFF00, page_count: 0x100, source: MappingSource::Zero, access: Access::Write },
        ],
        regs: std::array::from_fn(|i| i as u64 * 0x1111),
        entry_points: vec![0, 5, 9],
    }
}

fn root_of(source: &MappingSource) -> Option<[u8; 32]> {
    match source {
        MappingSource::Data(cap) => Some(cap.flush().hash_tree_root().unwrap()),
        MappingSource::Zero => None,
    }
}

#[test]
fn image_round_trips() {
    let image = sample_image();
    let bytes = image.to_archive().unwrap();
    let loaded = Image::from_archive(&bytes).unwrap();
    assert_eq!(ImageDesc::from_image(&loaded).unwrap(), ImageDesc::from_image(&image).unwrap());
    assert_eq!(loaded.code, image.code);
    assert_eq!(loaded.regs, image.regs);
    assert_eq!(loaded.entry_points, image.entry_points);
    for (a, b) in loaded.mappings.iter().zip(&image.mappings) {
        assert_eq!((a.start_page, a.page_count, a.access), (b.start_page, b.page_count, b.access));
        assert_eq!(root_of(&a.source), root_of(&b.source));
    }
    // The loaded rw cap carries the overlay's effective bytes in its backing.
    let MappingSource::Data(rw) = &loaded.mappings[1].source else {
        panic!("rw mapping lost its data");
    };
    assert!(rw.is_clean());
    let mut out = [0u8; 5];
    rw.copy_into(2 * P, &mut out).unwrap();
    assert_eq!(&out, b"dirty");
}

#[test]
fn access_is_zero_copy() {
    let bytes = sample_image().to_archive().unwrap();
    let archived = access_image(&bytes).unwrap();
    let code = archived.code.as_slice();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&code.as_ptr()));
    assert_eq!(code.len(), 200);
    assert_eq!(archived.profile, 8);
}

#[test]
fn unaligned_input_is_accepted() {
    let bytes = sample_image().to_archive().unwrap();
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let loaded = Image::from_archive(&shifted[1..]).unwrap();
    assert_eq!(loaded.code.len(), 200);
}

#[test]
fn data_cap_round_trips() {
    let mut cap = DataCap::from_sparse_pages(64 * P, [(3, &b"abc"[..]), (60, &[9u8; 4096][..])]).unwrap();
    cap.write_page(10 * P, b"overlay").unwrap();
    let bytes = cap.to_archive().unwrap();
    let loaded = DataCap::from_archive(&bytes).unwrap();
    assert_eq!(loaded.hash_tree_root().unwrap(), cap.flush().hash_tree_root().unwrap());
    let desc = DataDesc::from_cap(&cap).unwrap();
    assert_eq!(
        desc.pages.iter().map(|p| (p.index, p.bytes.len())).collect::<Vec<_>>(),
        [(3, 3), (10, 7), (60, PAGE_SIZE)]
    );
    assert_eq!(desc.to_data_cap().unwrap().hash_tree_root(), loaded.hash_tree_root());

    let empty = DataCap::from_archive(&DataCap::empty().to_archive().unwrap()).unwrap();
    assert_eq!(empty.content_len(), 0);
}

#[test]
fn missing_pages_cannot_be_archived() {
    let mut cap = DataCap::zeroed(P).unwrap();
    cap.insert_overlay_page(0, javm_cap::PageSlot::Missing([1; 32])).unwrap();
    assert!(matches!(cap.to_archive(), Err(ImageError::Cap(CapError::MissingPage { page: 0, .. }))));
}

fn data_error(desc: DataDesc) -> ImageError {
    let bytes = rkyv::to_bytes::<rancor::Error>(&desc).unwrap();
    let err = DataCap::from_archive(&bytes).unwrap_err();
    let direct = desc.to_data_cap().unwrap_err();
    assert_eq!(err.to_string(), direct.to_string());
    err
}

fn page(index: u32, len: usize) -> PageDesc {
    PageDesc { index, bytes: vec![1; len] }
}

type Check = fn(&ImageError) -> bool;

#[test]
fn bad_data_descriptions_are_rejected() {
    let cases: [(u64, Vec<PageDesc>, Check); 6] = [
        ((1 << 32) + P, vec![], |e| matches!(e, ImageError::Cap(CapError::TooLarge { .. }))),
        (P + 1, vec![], |e| matches!(e, ImageError::UnalignedSize { size } if *size == P + 1)),
        (2 * P, vec![page(2, 1)], |e| {
            matches!(e, ImageError::Cap(CapError::PageOutOfRange { page: 2, page_count: 2 }))
        }),
        (4 * P, vec![page(2, 1), page(1, 1)], |e| matches!(e, ImageError::UnorderedPage { index: 1, previous: 2 })),
        (4 * P, vec![page(1, 1), page(1, 1)], |e| matches!(e, ImageError::UnorderedPage { index: 1, previous: 1 })),
        (4 * P, vec![page(1, PAGE_SIZE + 1)], |e| matches!(e, ImageError::Cap(CapError::ContentTooLong { .. }))),
    ];
    for (size, pages, check) in cases {
        let e = data_error(DataDesc { size, pages });
        assert!(check(&e), "size {size}: unexpected error {e}");
    }
}

fn desc_with(mappings: Vec<MappingDesc>) -> ImageDesc {
    ImageDesc { format: IMAGE_FORMAT, code: vec![], profile: 0, regs: [0; 13], entry_points: vec![], mappings }
}

fn mapping(start_page: u32, page_count: u32, data: Option<DataDesc>) -> MappingDesc {
    MappingDesc { start_page, page_count, access: Access::Read, data }
}

fn image_error(desc: &ImageDesc) -> ImageError {
    let bytes = rkyv::to_bytes::<rancor::Error>(desc).unwrap();
    Image::from_archive(&bytes).unwrap_err()
}

#[test]
fn bad_images_are_rejected() {
    let e = image_error(&desc_with(vec![mapping(0xFFFFF, 2, None)]));
    assert!(matches!(e, ImageError::MappingOutOfRange { mapping: 0, .. }), "{e}");
    let e = image_error(&desc_with(vec![mapping(10, 5, None), mapping(0, 2, None), mapping(14, 1, None)]));
    assert!(matches!(e, ImageError::Overlap { first: 0, second: 2 }), "{e}");
    let big = DataDesc { size: 3 * P, pages: vec![] };
    let e = image_error(&desc_with(vec![mapping(0, 2, Some(big))]));
    assert!(matches!(e, ImageError::DataExceedsMapping { mapping: 0, data_pages: 3, page_count: 2 }), "{e}");
    let bad = DataDesc { size: P, pages: vec![page(5, 1)] };
    let e = image_error(&desc_with(vec![mapping(0, 0, None), mapping(0, 1, Some(bad))]));
    assert!(matches!(e, ImageError::MappingData { mapping: 1, .. }), "{e}");
    assert!(e.to_string().contains("page 5"), "{e}");
    let mut wrong = desc_with(vec![]);
    wrong.format = IMAGE_FORMAT + 1;
    assert!(matches!(image_error(&wrong), ImageError::Format { .. }));
    // Adjacent mappings and empty ones are fine.
    let ok = desc_with(vec![mapping(0, 2, None), mapping(2, 1, None), mapping(1, 0, None)]);
    let bytes = rkyv::to_bytes::<rancor::Error>(&ok).unwrap();
    assert_eq!(Image::from_archive(&bytes).unwrap().mappings.len(), 3);
}

#[test]
fn invalid_images_are_not_archived() {
    let mut image = sample_image();
    image.mappings[1].start_page = 17;
    assert!(matches!(image.to_archive(), Err(ImageError::Overlap { .. })));
}

#[test]
fn garbage_is_an_error() {
    assert!(matches!(Image::from_archive(&[]), Err(ImageError::Archive(_))));
    assert!(matches!(DataCap::from_archive(&[0xFF; 7]), Err(ImageError::Archive(_))));
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Set { at: usize, value: u8 },
    Truncate { keep: usize },
    Extend { bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        1 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Flip { at, xor } => {
                let i = at % bytes.len();
                bytes[i] ^= xor;
            }
            Mutation::Set { at, value } => {
                let i = at % bytes.len();
                bytes[i] = *value;
            }
            Mutation::Truncate { keep } => bytes.truncate(keep % bytes.len()),
            Mutation::Extend { bytes: more } => bytes.extend_from_slice(more),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_image_archives_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let bytes = mutate(sample_image().to_archive().unwrap().to_vec(), &mutations);
        if let Ok(image) = Image::from_archive(&bytes) {
            prop_assert!(image.validate().is_ok());
            for m in &image.mappings {
                if let MappingSource::Data(cap) = &m.source {
                    prop_assert!(cap.hash_tree_root().is_ok());
                }
            }
        }
    }

    #[test]
    fn mutated_cap_archives_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let cap = DataCap::from_sparse_pages(8 * P, [(1, &b"one"[..]), (6, &b"six"[..])]).unwrap();
        let bytes = mutate(cap.to_archive().unwrap().to_vec(), &mutations);
        if let Ok(loaded) = DataCap::from_archive(&bytes) {
            prop_assert!(loaded.hash_tree_root().is_ok());
            prop_assert!(loaded.content_len() <= javm_cap::MAX_CAP_SIZE);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Image::from_archive(&bytes);
        let _ = DataCap::from_archive(&bytes);
    }
}
