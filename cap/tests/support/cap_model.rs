//! A DataCap model for differential testing: random sequences of cap
//! operations are applied to real caps and to a plain sparse byte model
//! (backing pages plus overlay pages), and every observation — bytes,
//! errors, dirtiness, roots — must agree. Roots are also checked against the
//! design's definition computed on the model's bytes, a from-scratch
//! recompute and a rebuild of the model's bytes.
//!
//! Shared by `cap/tests/datacap_fuzz_model.rs` (seeded) and the
//! `datacap_model` fuzz target (coverage-guided), which include this file.

#[path = "root_definition.rs"]
mod definition;

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use javm_cap::{CapError, DataCap, PAGE_SIZE, PageSlot};

const P: u64 = PAGE_SIZE as u64;

type Page = Box<[u8; PAGE_SIZE]>;

/// The model of one cap: size, backing pages and overlay pages (absent
/// backing pages are zero).
#[derive(Clone, Debug)]
struct Model {
    size: u64,
    backing: BTreeMap<u32, Page>,
    overlay: BTreeMap<u32, Page>,
}

fn zero_page() -> Page {
    Box::new([0u8; PAGE_SIZE])
}

fn padded(content: &[u8]) -> Page {
    let mut page = zero_page();
    page[..content.len()].copy_from_slice(content);
    page
}

impl Model {
    fn page_count(&self) -> u32 {
        (self.size / P) as u32
    }

    /// The effective page.
    fn page(&self, page: u32) -> Page {
        self.overlay.get(&page).or_else(|| self.backing.get(&page)).cloned().unwrap_or_else(zero_page)
    }

    fn read(&self, start: u64, len: usize) -> Option<Vec<u8>> {
        if start.checked_add(len as u64)? > self.size {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        let mut at = start;
        while out.len() < len {
            let in_page = (at % P) as usize;
            let take = (PAGE_SIZE - in_page).min(len - out.len());
            out.extend_from_slice(&self.page((at / P) as u32)[in_page..in_page + take]);
            at += take as u64;
        }
        Some(out)
    }

    /// Overlay page `page`, created from the effective page.
    fn overlay_mut(&mut self, page: u32) -> &mut Page {
        let current = self.page(page);
        self.overlay.entry(page).or_insert(current)
    }

    fn flush(&mut self) {
        for (page, bytes) in std::mem::take(&mut self.overlay) {
            self.backing.insert(page, bytes);
        }
        self.backing.retain(|_, p| p.iter().any(|&b| b != 0));
    }

    /// Non-zero effective pages.
    fn effective(&self) -> BTreeMap<u32, Page> {
        let mut out = self.backing.clone();
        for (&page, bytes) in &self.overlay {
            out.insert(page, bytes.clone());
        }
        out.retain(|_, p| p.iter().any(|&b| b != 0));
        out
    }
}

/// A cap under test with its model.
struct Subject {
    cap: DataCap,
    model: Model,
}

fn size(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0..=15)? {
        0 => (1u64 << 20) * P,
        1 => u64::from(u.int_in_range(1..=(1u32 << 20))?) * P,
        2 => u.int_in_range(1..=200u64)? * P,
        _ => u.int_in_range(1..=24u64)? * P,
    })
}

fn content(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Vec::new(),
        1 => vec![0; u.int_in_range(0..=PAGE_SIZE)?],
        2 => vec![u.arbitrary()?; u.int_in_range(1..=PAGE_SIZE)?],
        3 => {
            // One page plus a byte: too long for a page.
            let mut v = vec![1u8; PAGE_SIZE];
            v.push(u.arbitrary()?);
            v
        }
        _ => {
            let len = u.int_in_range(1..=64usize)?;
            let mut v = vec![0u8; u.int_in_range(len..=PAGE_SIZE)?];
            let bytes = u.bytes(len)?;
            let at = v.len() - len;
            v[at..].copy_from_slice(bytes);
            v
        }
    })
}

/// A page index: usually inside `count` pages, sometimes just past it or
/// far away.
fn page_index(u: &mut Unstructured<'_>, count: u32) -> Result<u32> {
    Ok(match u.int_in_range(0..=9)? {
        0 => count,
        1 => u.arbitrary()?,
        2 => count.saturating_sub(1),
        _ => u.int_in_range(0..=count.saturating_sub(1).min(63))?,
    })
}

fn byte_offset(u: &mut Unstructured<'_>, size: u64) -> Result<u64> {
    Ok(match u.int_in_range(0..=9)? {
        0 => size,
        1 => u.arbitrary()?,
        2 => size.saturating_sub(u.int_in_range(1..=64)?),
        _ => u.int_in_range(0..=size.min(64 * P))?,
    })
}

fn new_subject(u: &mut Unstructured<'_>) -> Result<Subject> {
    let size = size(u)?;
    let empty = Model { size, backing: BTreeMap::new(), overlay: BTreeMap::new() };
    Ok(match u.int_in_range(0..=2)? {
        0 => Subject { cap: DataCap::zeroed(size).expect("valid size"), model: empty },
        1 => {
            // Contents of the first pages.
            let pages = u.int_in_range(0..=4u64)?.min(size / P);
            let mut bytes = Vec::new();
            let mut model = empty;
            for i in 0..pages {
                let c = content(u)?;
                let c = &c[..c.len().min(PAGE_SIZE)];
                bytes.resize(i as usize * PAGE_SIZE, 0);
                bytes.extend_from_slice(c);
                model.backing.insert(i as u32, padded(c));
            }
            model.flush();
            Subject { cap: DataCap::from_bytes_sized(&bytes, size).expect("valid size"), model }
        }
        _ => {
            let mut model = empty;
            let mut pages = Vec::new();
            for _ in 0..u.int_in_range(0..=6)? {
                let i = u.int_in_range(0..=model.page_count() - 1)?;
                let c = content(u)?;
                if c.len() <= PAGE_SIZE {
                    model.backing.insert(i, padded(&c));
                    pages.push((i, c));
                }
            }
            model.flush();
            let cap = DataCap::from_sparse_pages(size, pages.iter().map(|(i, c)| (*i, c.as_slice()))).unwrap();
            Subject { cap, model }
        }
    })
}

/// Compares everything observable about `s`, rebuilding roots from scratch.
fn check(s: &Subject, u: &mut Unstructured<'_>) -> Result<()> {
    let (cap, model) = (&s.cap, &s.model);
    assert_eq!(cap.content_len(), model.size);
    assert_eq!(cap.is_clean(), model.overlay.is_empty());
    let dirty: Vec<u32> = cap.dirty_pages().map(|(p, _)| p).collect();
    assert_eq!(dirty, model.overlay.keys().copied().collect::<Vec<_>>());
    // Every non-zero effective page, and a random range.
    let effective = model.effective();
    for (page, slot) in cap.pages() {
        let bytes = slot.page().map(|p| p.bytes().to_vec()).unwrap_or_else(|| vec![0; PAGE_SIZE]);
        assert_eq!(bytes, model.page(page).to_vec(), "page {page}");
    }
    let nonzero: Vec<u32> =
        cap.pages().filter(|(_, s)| s.page().is_some_and(|p| !p.is_zero())).map(|(p, _)| p).collect();
    assert_eq!(nonzero, effective.keys().copied().collect::<Vec<_>>());
    let start = byte_offset(u, model.size)?;
    let len = u.int_in_range(0..=3 * PAGE_SIZE)?;
    let mut out = vec![0xAAu8; len];
    match (cap.copy_into(start, &mut out), model.read(start, len)) {
        (Ok(()), Some(expected)) => assert_eq!(out, expected, "copy_into({start}, {len})"),
        (Err(CapError::OutOfBounds { .. }), None) => {}
        (got, expected) => panic!("copy_into({start}, {len}): {got:?} vs model {:?}", expected.map(|_| ())),
    }
    // Roots: cached, uncached and a rebuild of the model's bytes agree.
    match cap.hash_tree_root() {
        Ok(root) => {
            assert!(model.overlay.is_empty());
            let by_index: BTreeMap<u32, &[u8]> = effective.iter().map(|(&i, p)| (i, &p[..])).collect();
            assert_eq!(definition::cap_root(model.size, &by_index), root, "root by the definition");
            let rebuilt = DataCap::from_sparse_pages(model.size, effective.iter().map(|(&i, p)| (i, &p[..]))).unwrap();
            assert_eq!(rebuilt.hash_tree_root().unwrap(), root, "rebuilt root");
            // The uncached recompute hashes every page: only for small caps.
            if model.size <= 1024 * P {
                assert_eq!(cap.hash_tree_root_uncached().unwrap(), root, "uncached root");
                assert_eq!(rebuilt.hash_tree_root_uncached().unwrap(), root, "rebuilt uncached root");
            }
            if model.size <= 32 * P {
                let mut bytes = vec![0u8; model.size as usize];
                for (&i, p) in &effective {
                    bytes[i as usize * PAGE_SIZE..][..PAGE_SIZE].copy_from_slice(&p[..]);
                }
                assert_eq!(DataCap::from_bytes(&bytes).unwrap().hash_tree_root().unwrap(), root, "from_bytes root");
            }
        }
        Err(CapError::DirtyOverlay { pages }) => assert_eq!(pages, model.overlay.len()),
        Err(e) => panic!("hash_tree_root: {e}"),
    }
    Ok(())
}

/// Applies one random operation to `subjects[i]` (and its model).
fn step(subjects: &mut Vec<Subject>, u: &mut Unstructured<'_>) -> Result<()> {
    let i = u.choose_index(subjects.len())?;
    let count = subjects[i].model.page_count();
    let size = subjects[i].model.size;
    match u.int_in_range(0..=13)? {
        0 => {
            let start = byte_offset(u, size)?;
            let data = content(u)?;
            let s = &mut subjects[i];
            let fits = start.checked_add(data.len() as u64).is_some_and(|e| e <= size);
            match s.cap.write_bytes(start, &data) {
                Ok(()) => {
                    assert!(fits);
                    for (at, &b) in (start..).zip(&data) {
                        s.model.overlay_mut((at / P) as u32)[(at % P) as usize] = b;
                    }
                }
                Err(CapError::OutOfBounds { .. }) => assert!(!fits),
                Err(e) => panic!("write_bytes: {e}"),
            }
        }
        1 => {
            let page = page_index(u, count)?;
            let (at, byte): (u16, u8) = (u.arbitrary()?, u.arbitrary()?);
            let at = at as usize % PAGE_SIZE;
            let s = &mut subjects[i];
            match s.cap.page_mut(page) {
                Ok(bytes) => {
                    assert!(page < count);
                    bytes[at] = byte;
                    s.model.overlay_mut(page)[at] = byte;
                }
                Err(CapError::PageOutOfRange { .. }) => assert!(page >= count),
                Err(e) => panic!("page_mut: {e}"),
            }
        }
        2 | 3 => {
            let offset = byte_offset(u, size)?;
            let c = content(u)?;
            let backing = u.arbitrary()?;
            let s = &mut subjects[i];
            let r = if backing { s.cap.put_page(offset, &c) } else { s.cap.write_page(offset, &c) };
            let page = offset / P;
            match r {
                Ok(()) => {
                    assert!(page < u64::from(count) && c.len() <= PAGE_SIZE);
                    let target = if backing { &mut s.model.backing } else { &mut s.model.overlay };
                    target.insert(page as u32, padded(&c));
                }
                Err(CapError::PageOutOfRange { .. }) => assert!(page >= u64::from(count)),
                Err(CapError::ContentTooLong { len }) => assert!(len > PAGE_SIZE && page < u64::from(count)),
                Err(e) => panic!("put/write_page: {e}"),
            }
        }
        4 => {
            let page = page_index(u, count)?;
            let c = content(u)?;
            let s = &mut subjects[i];
            let empty = c.len() > PAGE_SIZE;
            let slot = if empty { PageSlot::Empty } else { PageSlot::loaded(&c) };
            match s.cap.insert_overlay_page(page, slot) {
                Ok(_) => {
                    assert!(page < count);
                    if empty {
                        s.model.overlay.remove(&page);
                    } else {
                        s.model.overlay.insert(page, padded(&c));
                    }
                }
                Err(CapError::PageOutOfRange { .. }) => assert!(page >= count),
                Err(e) => panic!("insert_overlay_page: {e}"),
            }
        }
        5 => {
            let s = &mut subjects[i];
            s.cap.discard_overlay();
            s.model.overlay.clear();
        }
        6 => {
            let s = &mut subjects[i];
            if u.arbitrary()? {
                s.cap.flush_in_place();
            } else {
                s.cap = s.cap.flush();
            }
            s.model.flush();
        }
        7 if subjects.len() < 6 => {
            // A clone must stay independent of later changes to either side.
            let s = &subjects[i];
            let clone = Subject { cap: s.cap.clone(), model: s.model.clone() };
            subjects.push(clone);
        }
        8 => {
            let j = u.choose_index(subjects.len())?;
            let dst = if u.ratio(3, 4)? { page_index(u, count)? as u64 * P } else { byte_offset(u, size)? };
            let src = subjects[j].cap.clone();
            let src_model = subjects[j].model.clone();
            let s = &mut subjects[i];
            match s.cap.place_shared(dst, &src) {
                Ok(()) => {
                    assert!(dst.is_multiple_of(P));
                    let base = dst / P;
                    if base < u64::from(count) {
                        let span = u64::from(src_model.page_count()).min(u64::from(count) - base);
                        let range = base as u32..(base + span) as u32;
                        s.model.backing.retain(|p, _| !range.contains(p));
                        for (k, bytes) in src_model.effective().into_iter().filter(|&(k, _)| u64::from(k) < span) {
                            s.model.backing.insert(base as u32 + k, bytes);
                        }
                    }
                }
                Err(CapError::Misaligned { .. }) => assert!(!dst.is_multiple_of(P)),
                Err(e) => panic!("place_shared: {e}"),
            }
        }
        9 if subjects.len() < 6 => {
            let first = page_index(u, count)?;
            let n = if u.ratio(7, 8)? { u.int_in_range(0..=count.min(64))? } else { u.arbitrary()? };
            let s = &subjects[i];
            match s.cap.slice_pages(first, n) {
                Ok(cap) => {
                    let mut model =
                        Model { size: (u64::from(n) * P).max(P), backing: BTreeMap::new(), overlay: BTreeMap::new() };
                    // Pages past the source (or past 2^32 pages) are zero.
                    let range = u64::from(first)..u64::from(first) + u64::from(n);
                    for (page, bytes) in s.model.effective() {
                        if range.contains(&u64::from(page)) {
                            model.backing.insert(page - first, bytes);
                        }
                    }
                    model.flush();
                    subjects.push(Subject { cap, model });
                }
                Err(CapError::TooLarge { .. }) => assert!(u64::from(n) * P > 1 << 32),
                Err(e) => panic!("slice_pages: {e}"),
            }
        }
        10 if subjects.len() < 6 => subjects.push(new_subject(u)?),
        11 if subjects.len() > 1 => {
            subjects.swap_remove(i);
        }
        _ => check(&subjects[i], u)?,
    }
    Ok(())
}

/// Runs a random sequence of cap operations, checking every cap against its
/// model after each step and at the end.
pub fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mut subjects = vec![new_subject(u)?];
    for _ in 0..u.int_in_range(1..=40)? {
        step(&mut subjects, u)?;
    }
    for s in &subjects {
        check(s, &mut Unstructured::new(&[]))?;
    }
    Ok(())
}
