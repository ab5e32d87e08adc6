//! The persistent module cache: the recompiler's native code and tables,
//! one file per program in a directory, so that a process started again
//! runs a program it compiled before without compiling it again.
//!
//! An [`Engine`](crate::Engine) given a directory
//! ([`Engine::with_disk_cache`](crate::Engine::with_disk_cache)) looks
//! there when its in-memory cache misses and the engine is the recompiler
//! (the interpreter has nothing worth keeping). The program is still
//! decoded from the bytes it was given; only code generation is skipped. A
//! missing or rejected file is rebuilt: the module is compiled and the file
//! written again.
//!
//! # Keys
//!
//! A file is named by the hex SHA-256 of everything the native code depends
//! on: the program's code blob (jump table, code and opcode mask: what code
//! generation reads, so the same code loaded as a raw blob or inside a
//! standard program shares one file, and a caller's hash given to
//! [`Engine::load_by_hash`](crate::Engine::load_by_hash) is never
//! trusted), the profile, the gas model, the engine, the javm version, the
//! fingerprint of the sources that generate the code
//! ([`CODEGEN_FINGERPRINT`]: a rebuild from changed sources never reuses an
//! older build's files), the file format and the CPU extensions the code
//! uses.
//!
//! # Files
//!
//! A fixed header of [`HEADER_LEN`] bytes, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | [`MAGIC`] |
//! | 8..12 | file format ([`FILE_FORMAT`]) |
//! | 12..16 | CPU extensions the code uses ([`Features::bits`]) |
//! | 16..24 | payload length |
//! | 24..56 | javm version, zero-padded |
//! | 56..88 | the key |
//! | 88..104 | XXH3-128 of the payload |
//! | 104..128 | zero |
//!
//! then the payload: the recompiler's rkyv archive of the code and its
//! tables ([`CompiledModule::to_archive`]). Loading maps the file read-only
//! and checks, in order: that it is a regular file owned by this user and
//! not writable by group or others; the header (magic, format, version,
//! extensions, key); the length (a short file is truncated); the checksum
//! (corruption); the archive (bytecheck); and every table against the
//! program being loaded (so that even a file with a valid checksum cannot
//! make the runtime index out of bounds). Then the code is copied once into
//! executable memory. A failure is counted by reason in [`DiskCacheStats`]
//! and the file rebuilt; nothing is logged.
//!
//! Files are written to a temporary file in the same directory and renamed
//! into place, so no partial file ever has a final name, a reader always
//! sees a whole file, and concurrent writers of the same program (equal
//! contents) are safe. Files are not synced to the disk: after a system
//! crash one may be short or damaged, which loading detects and rebuilds.
//!
//! # Trust
//!
//! The checksum detects corruption, not tampering: the files hold native
//! code that the process runs, so the directory must be as trusted as the
//! binary. javm creates it with mode 0700, refuses a directory that is not
//! the user's or is writable by group or others, and rebuilds instead of
//! loading a file that is not the user's, is writable by group or others,
//! or is not a regular file. A file changed in place while mapped (javm
//! never does that) is outside this model.

use crate::config::Config;
use javm_cap::program::Program;
use javm_recompiler::{
    ARCHIVE_FORMAT, ArchiveError, CODEGEN_FINGERPRINT, CompileContext, CompileError, CompileOptions, CompiledModule,
    Features,
};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use sha2::{Digest, Sha256};
use std::ffi::c_void;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The first bytes of every cache file.
pub const MAGIC: [u8; 8] = *b"JAVMCODE";
/// Version of the file layout (the header; the payload has its own,
/// [`ARCHIVE_FORMAT`], also part of the key).
pub const FILE_FORMAT: u32 = 2;
/// Bytes of the header before the payload (a multiple of the archive's
/// alignment, so the payload of a mapped file is read in place).
pub const HEADER_LEN: usize = 128;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const _: () = assert!(VERSION.len() <= 32, "the header holds 32 bytes of version");
const _: () = assert!(HEADER_LEN.is_multiple_of(javm_recompiler::ARCHIVE_ALIGN));

/// Why cache files were not used, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    /// Shorter than its header says.
    pub truncated: u64,
    /// Wrong magic, key or length, or a checksum that does not match.
    pub corrupt: u64,
    /// Made by another javm version or file format, or for other CPU
    /// extensions.
    pub stale: u64,
    /// A payload that is no valid archive.
    pub malformed: u64,
    /// An archive whose tables do not fit the program or its code.
    pub tables: u64,
    /// Not a regular file of this user, or writable by group or others.
    pub untrusted: u64,
    /// Could not be read or mapped.
    pub io: u64,
}

impl Rejections {
    /// All of them.
    pub fn total(&self) -> u64 {
        let Rejections { truncated, corrupt, stale, malformed, tables, untrusted, io } = *self;
        truncated + corrupt + stale + malformed + tables + untrusted + io
    }

    fn count(&mut self, reason: Reject) {
        let counter = match reason {
            Reject::Truncated => &mut self.truncated,
            Reject::Corrupt => &mut self.corrupt,
            Reject::Stale => &mut self.stale,
            Reject::Malformed => &mut self.malformed,
            Reject::Tables => &mut self.tables,
            Reject::Untrusted => &mut self.untrusted,
            Reject::Io => &mut self.io,
        };
        *counter += 1;
    }
}

/// Counters of an engine's persistent module cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Modules loaded from a file, without code generation.
    pub hits: u64,
    /// Loads that found no file.
    pub misses: u64,
    /// Files found and not used (each also compiled and rewritten).
    pub rejected: Rejections,
    /// Files written.
    pub writes: u64,
    /// Files that could not be written (the module is used anyway).
    pub write_errors: u64,
}

impl DiskCacheStats {
    /// Modules compiled: every miss and every rejection.
    pub fn compiles(&self) -> u64 {
        self.misses + self.rejected.total()
    }
}

/// Why a file was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reject {
    Truncated,
    Corrupt,
    Stale,
    Malformed,
    Tables,
    Untrusted,
    Io,
}

/// A directory of compiled modules.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    stats: Mutex<DiskCacheStats>,
}

/// What identifies a cache file: see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileKey([u8; 32]);

impl FileKey {
    /// The key of `program` compiled for `features` under `config`.
    pub(crate) fn new(program: &Program, config: &Config, features: Features) -> FileKey {
        let mut h = Sha256::new();
        h.update(b"javm module cache\0");
        h.update(FILE_FORMAT.to_le_bytes());
        h.update(ARCHIVE_FORMAT.to_le_bytes());
        for text in [VERSION, CODEGEN_FINGERPRINT, config.engine.name(), config.effective_gas_model().name()] {
            h.update((text.len() as u64).to_le_bytes());
            h.update(text);
        }
        h.update([config.profile.image_byte()]);
        h.update(features.bits().to_le_bytes());
        let blob = program.blob();
        h.update((blob.jump_table.len() as u64).to_le_bytes());
        for entry in &blob.jump_table {
            h.update(entry.to_le_bytes());
        }
        for part in [&blob.code, &blob.mask] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        FileKey(h.finalize().into())
    }

    /// The file name (lower-case hex).
    fn file_name(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The current user (effective).
fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Write permission for group or others.
const SHARED_WRITE: u32 = 0o022;

impl DiskCache {
    /// Opens the cache in `dir`, creating it (mode 0700) if needed. Refuses
    /// a directory that is not this user's or is writable by group or
    /// others.
    pub(crate) fn open(dir: &Path) -> Result<DiskCache, String> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
        let meta = std::fs::metadata(dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("not a directory".into());
        }
        if meta.uid() != euid() {
            return Err(format!("owned by uid {}, not by this user (uid {})", meta.uid(), euid()));
        }
        if meta.mode() & SHARED_WRITE != 0 {
            return Err(format!("mode {:o} lets group or others write it", meta.mode() & 0o7777));
        }
        Ok(DiskCache { dir: dir.to_path_buf(), stats: Mutex::new(DiskCacheStats::default()) })
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> DiskCacheStats {
        *self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut DiskCacheStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// `program` compiled under `config`: from its file if there is a valid
    /// one, else compiled (in `context`) and written.
    pub(crate) fn compiled(
        &self,
        program: &Arc<Program>,
        config: &Config,
        context: &Arc<CompileContext>,
    ) -> Result<CompiledModule, CompileError> {
        // Whole programs: a lazily compiled module has no one piece to store.
        let options = CompileOptions { lazy: false, ..CompileOptions::default() };
        let features = options.features();
        let key = FileKey::new(program, config, features);
        let path = self.dir.join(key.file_name());
        match read(&path, &key, program, features) {
            Ok(Some(module)) => {
                self.update(|s| s.hits += 1);
                return Ok(module);
            }
            Ok(None) => self.update(|s| s.misses += 1),
            Err(reason) => self.update(|s| s.rejected.count(reason)),
        }
        let module = CompiledModule::compile_in(program.clone(), &options, context)?;
        let archive = module.to_archive().expect("compiled in one piece");
        match write(&self.dir, &path, &key, features, &archive) {
            Ok(()) => self.update(|s| s.writes += 1),
            Err(_) => self.update(|s| s.write_errors += 1),
        }
        Ok(module)
    }
}

/// The module in the file at `path`, `None` if there is no file.
fn read(
    path: &Path,
    key: &FileKey,
    program: &Arc<Program>,
    features: Features,
) -> Result<Option<CompiledModule>, Reject> {
    let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A symbolic link under the file's name.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(Reject::Untrusted),
        Err(_) => return Err(Reject::Io),
    };
    let meta = file.metadata().map_err(|_| Reject::Io)?;
    if !meta.is_file() || meta.uid() != euid() || meta.mode() & SHARED_WRITE != 0 {
        return Err(Reject::Untrusted);
    }
    let len = usize::try_from(meta.len()).map_err(|_| Reject::Corrupt)?;
    if len < HEADER_LEN {
        return Err(Reject::Truncated);
    }
    let map = Mapped::new(&file, len).map_err(|_| Reject::Io)?;
    decode(map.bytes(), key, program, features).map(Some)
}

/// The module in the cache file `bytes` (at an address aligned to
/// [`javm_recompiler::ARCHIVE_ALIGN`]), checked as the module docs say.
pub(crate) fn decode(
    bytes: &[u8],
    key: &FileKey,
    program: &Arc<Program>,
    features: Features,
) -> Result<CompiledModule, Reject> {
    let Some((header, payload)) = bytes.split_first_chunk::<HEADER_LEN>() else { return Err(Reject::Truncated) };
    let field = |at: usize, len: usize| &header[at..at + len];
    let u32_at = |at: usize| u32::from_le_bytes(field(at, 4).try_into().expect("4 bytes"));
    if field(0, 8) != MAGIC {
        return Err(Reject::Corrupt);
    }
    if u32_at(8) != FILE_FORMAT || field(24, 32) != version_field() || u32_at(12) != features.bits() {
        return Err(Reject::Stale);
    }
    if field(56, 32) != key.0 || field(104, 24) != [0; 24] {
        return Err(Reject::Corrupt);
    }
    let declared = u64::from_le_bytes(field(16, 8).try_into().expect("8 bytes"));
    match declared.cmp(&(payload.len() as u64)) {
        std::cmp::Ordering::Greater => return Err(Reject::Truncated),
        std::cmp::Ordering::Less => return Err(Reject::Corrupt),
        std::cmp::Ordering::Equal => {}
    }
    if checksum(payload) != *field(88, 16) {
        return Err(Reject::Corrupt);
    }
    CompiledModule::from_archive(program.clone(), features, payload).map_err(|e| match e {
        ArchiveError::Malformed(_) => Reject::Malformed,
        ArchiveError::Format { .. } | ArchiveError::Features { .. } => Reject::Stale,
        ArchiveError::Tables(_) => Reject::Tables,
        ArchiveError::Memory(_) => Reject::Io,
    })
}

/// The payload's checksum: XXH3-128, fast enough that checking a
/// multi-megabyte file costs little next to mapping it (a SHA-256 took a
/// third of a load); it detects corruption, which is all it is for (see
/// the module docs on trust).
fn checksum(payload: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(payload).to_le_bytes()
}

/// The version as the header holds it.
fn version_field() -> [u8; 32] {
    let mut out = [0; 32];
    out[..VERSION.len()].copy_from_slice(VERSION.as_bytes());
    out
}

/// A cache file's bytes: the header, then `payload`.
pub(crate) fn encode(key: &FileKey, features: Features, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FILE_FORMAT.to_le_bytes());
    out.extend_from_slice(&features.bits().to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&version_field());
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&checksum(payload));
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(payload);
    out
}

/// Writes the file of `key` at `path` atomically: a new temporary file in
/// `dir`, renamed over `path`.
fn write(dir: &Path, path: &Path, key: &FileKey, features: Features, payload: &[u8]) -> io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temp =
        dir.join(format!(".{}.{}.{}.tmp", key.file_name(), std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(&temp)?;
        file.write_all(&encode(key, features, payload))?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// A file mapped read-only.
struct Mapped {
    ptr: NonNull<c_void>,
    len: NonZeroUsize,
}

impl Mapped {
    /// Maps the first `len` (> 0) bytes of `file`.
    fn new(file: &File, len: usize) -> io::Result<Mapped> {
        let len = NonZeroUsize::new(len).ok_or(io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh private read-only mapping placed by the kernel;
        // no Rust object lives there. The file is not changed while mapped
        // (javm replaces cache files by rename; see the module docs).
        let ptr = unsafe { mmap(None, len, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE, file, 0) }?;
        Ok(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped readable until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast(), self.len.get()) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; no reference to it outlives
        // `self` (`bytes` borrows it).
        let _ = unsafe { munmap(self.ptr, self.len.get()) };
    }
}
