//! A pool of 4 KiB page frames backed by one memfd.
//!
//! Every frame lives at a fixed offset of a single anonymous memory file, so it
//! has two addresses: a host pointer (the pool maps each chunk of the file into
//! this process once, `MAP_SHARED`) and an `(fd, offset)` pair that a
//! recompiler can `mmap` into any guest window. Writes through either mapping
//! are visible through the other: they are the same physical page.
//!
//! The file grows in chunks ([`PoolConfig::chunk_frames`]); each chunk is
//! mapped once and never unmapped while the pool lives. Frames are handed out
//! from a free list (O(1)) and returned to it when the owning [`Frame`] drops
//! (the global pool's first to a small cache of the releasing thread, which
//! takes them again before the free list).
//! A [`Frame`] keeps its pool alive, so a pool's mappings outlive every frame.
//!
//! [`FramePool::global`] is the process-wide pool the data model allocates
//! from; private pools ([`FramePool::with_config`]) exist for tests and for
//! callers that want isolated accounting.

use crate::PAGE_SIZE;
use nix::fcntl::{FallocateFlags, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use nix::unistd::ftruncate;
use std::ffi::CStr;
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

mod local;

/// Default chunk size: 32 MiB of frames per `ftruncate` + `mmap`.
pub const DEFAULT_CHUNK_FRAMES: usize = 8192;

/// Why the pool could not provide a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// `memfd_create` failed.
    #[error("memfd_create failed: {0}")]
    Memfd(io::Error),
    /// Growing the memory file with `ftruncate` failed.
    #[error("growing the frame file to {len} bytes failed: {source}")]
    Grow {
        /// The file length that was requested.
        len: u64,
        /// The OS error.
        source: io::Error,
    },
    /// Mapping a new chunk of the memory file failed.
    #[error("mapping {len} bytes of the frame file at offset {offset} failed: {source}")]
    Map {
        /// File offset of the chunk.
        offset: u64,
        /// Chunk length in bytes.
        len: usize,
        /// The OS error.
        source: io::Error,
    },
    /// The pool reached its configured frame limit.
    #[error("frame pool exhausted: all {max_frames} frames are in use")]
    Exhausted {
        /// The configured limit.
        max_frames: usize,
    },
    /// The configuration is unusable (zero-sized chunks).
    #[error("invalid frame pool configuration: {0}")]
    Config(&'static str),
}

/// Sizing of a [`FramePool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Frames added per growth step (one `ftruncate` + one `mmap`).
    pub chunk_frames: usize,
    /// Upper bound on frames ever created; `None` grows until the OS refuses.
    pub max_frames: Option<usize>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig { chunk_frames: DEFAULT_CHUNK_FRAMES, max_frames: None }
    }
}

/// Occupancy of a [`FramePool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Frames the memory file currently holds (mapped chunks × chunk size).
    pub capacity: usize,
    /// Frames currently owned by a live [`Frame`].
    pub in_use: usize,
    /// Frames waiting on the free list for reuse.
    pub recycled: usize,
    /// Free frames whose memory was given back to the OS ([`FramePool::trim`]);
    /// they are handed out again as zeroed frames.
    pub trimmed: usize,
}

/// A thread-safe pool of memfd-backed frames. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct FramePool {
    shared: Arc<Shared>,
}

struct Shared {
    fd: OwnedFd,
    config: PoolConfig,
    state: Mutex<State>,
    /// This is [`FramePool::global`]'s, which lives as long as the process:
    /// its frames hold no reference count (threads allocating at once
    /// would all write the same one).
    global: bool,
}

/// Mutable pool bookkeeping, guarded by the pool's mutex.
struct State {
    /// Host base address of each mapped chunk; chunk `c` maps file bytes
    /// `c * chunk_bytes .. (c + 1) * chunk_bytes`.
    chunks: Vec<NonNull<u8>>,
    /// File offsets of released frames (LIFO for cache warmth).
    free: Vec<u64>,
    /// File offsets of free frames whose memory was given back (they read
    /// as zeros), descending so that pops come out in ascending order.
    trimmed: Vec<u64>,
    /// Frames released since `free` was last put in order.
    released_since_sort: usize,
    /// File offset of the first never-used frame in the last chunk.
    fresh: u64,
    /// Current file length in bytes (`chunks.len() * chunk_bytes`).
    len: u64,
    /// Frames currently owned.
    in_use: usize,
}

// SAFETY: the raw chunk pointers in `State` address shared file mappings that
// stay valid until `Shared` drops; they are only dereferenced through
// `Frame`s, whose exclusivity is tracked by the free list, and all
// bookkeeping is behind the mutex.
unsafe impl Send for State {}

impl fmt::Debug for FramePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramePool").field("fd", &self.fd()).field("stats", &self.stats()).finish()
    }
}

impl FramePool {
    /// Create a pool with the default configuration.
    pub fn new() -> Result<FramePool, FrameError> {
        FramePool::with_config(PoolConfig::default())
    }

    /// Create a pool with an explicit configuration. The memory file starts
    /// empty; the first allocation maps the first chunk.
    pub fn with_config(config: PoolConfig) -> Result<FramePool, FrameError> {
        FramePool::create(config, false)
    }

    /// [`FramePool::with_config`], for the global pool when `global`.
    fn create(config: PoolConfig, global: bool) -> Result<FramePool, FrameError> {
        if config.chunk_frames == 0 {
            return Err(FrameError::Config("chunk_frames must be at least 1"));
        }
        if config.chunk_frames.checked_mul(PAGE_SIZE).is_none_or(|b| b > isize::MAX as usize) {
            return Err(FrameError::Config("chunk_frames is too large"));
        }
        const NAME: &CStr = c"javm-frames";
        let fd = memfd_create(NAME, MFdFlags::MFD_CLOEXEC).map_err(|e| FrameError::Memfd(e.into()))?;
        Ok(FramePool {
            shared: Arc::new(Shared {
                fd,
                config,
                state: Mutex::new(State {
                    chunks: Vec::new(),
                    free: Vec::new(),
                    trimmed: Vec::new(),
                    released_since_sort: 0,
                    fresh: 0,
                    len: 0,
                    in_use: 0,
                }),
                global,
            }),
        })
    }

    /// The process-wide pool, created on first use.
    ///
    /// # Panics
    ///
    /// Panics if the memory file cannot be created (no memfd support).
    pub fn global() -> &'static FramePool {
        static GLOBAL: OnceLock<FramePool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            FramePool::create(PoolConfig::default(), true)
                .unwrap_or_else(|e| panic!("cannot create the global frame pool: {e}"))
        })
    }

    /// The memory file every frame of this pool lives in; `mmap` it at a
    /// frame's [`Frame::fd_offset`] to map that frame elsewhere.
    pub fn fd(&self) -> RawFd {
        self.shared.fd.as_raw_fd()
    }

    /// The configuration this pool was created with.
    pub fn config(&self) -> PoolConfig {
        self.shared.config
    }

    /// Current occupancy. Frames of the global pool that threads keep for
    /// reuse count as recycled.
    pub fn stats(&self) -> PoolStats {
        let cached = if self.shared.global { local::cached() } else { 0 };
        let state = self.shared.lock();
        PoolStats {
            capacity: (state.len / PAGE_SIZE as u64) as usize,
            in_use: state.in_use.saturating_sub(cached),
            recycled: state.free.len() + cached,
            trimmed: state.trimmed.len(),
        }
    }

    /// Gives the memory of free frames back to the OS, all but the `keep`
    /// most recently released ones, and returns how many were given back.
    /// The frames of the global pool that threads keep for reuse are
    /// returned to the pool first.
    /// The pool never shrinks by itself: after guests have used much memory
    /// at once, a long-running host calls this when they are gone. Frames
    /// given back read as zeros and are reused before the file grows.
    pub fn trim(&self, keep: usize) -> usize {
        if self.shared.global {
            self.shared.give_back(local::drain());
        }
        let mut state = self.shared.lock();
        let n = state.free.len().saturating_sub(keep);
        // The oldest releases are at the bottom of the LIFO.
        let mut cut: Vec<u64> = state.free.drain(..n).collect();
        cut.sort_unstable();
        let mut given = 0;
        for run in cut.chunk_by(adjacent) {
            // Punching a hole in our own memory file over free frames, which
            // no `Frame` owns: the file keeps its size and the range reads as
            // zeros afterwards, through every mapping.
            let punched = fallocate(
                &self.shared.fd,
                FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
                run[0] as libc::off_t,
                (run.len() * PAGE_SIZE) as libc::off_t,
            )
            .is_ok();
            if !punched {
                break;
            }
            given += run.len();
        }
        // Frames not given back (the file system refused) stay free.
        let kept: Vec<u64> = cut.drain(given..).collect();
        state.free.splice(0..0, kept);
        state.trimmed.extend(cut);
        state.trimmed.sort_unstable_by(|a, b| b.cmp(a));
        given
    }

    /// Take a frame whose content is unspecified (it may hold a previous
    /// owner's bytes). Overwrite it completely before exposing it.
    pub fn try_alloc(&self) -> Result<Frame, FrameError> {
        self.take().map(|(frame, _)| frame)
    }

    /// Take a frame filled with zeros.
    pub fn try_alloc_zeroed(&self) -> Result<Frame, FrameError> {
        let (mut frame, fresh) = self.take()?;
        if !fresh {
            frame.as_mut_slice().fill(0);
        }
        Ok(frame)
    }

    /// Take `n` frames under one lock, appending each to `out` with whether
    /// it is known to hold zeros (never used, or trimmed: both read as zeros);
    /// the others hold a previous owner's bytes. Cheaper than `n` calls to
    /// [`FramePool::try_alloc_zeroed`] for a caller that overwrites most
    /// frames anyway or zeroes them only when it uses them. On error, the
    /// frames taken so far stay in `out`.
    ///
    /// A batch is drawn as runs of consecutive file offsets where the free
    /// list allows it (a recompiler maps a run with one `mmap`): when the
    /// frames it would take are scattered and enough frames were released
    /// since the free list was last ordered, the list is sorted first. The
    /// sort costs O(F log F) for F free frames and happens at most once per
    /// F/8 releases, so it stays O(log F) per release.
    pub fn try_alloc_batch(&self, n: usize, out: &mut Vec<(Frame, bool)>) -> Result<(), FrameError> {
        out.reserve(n);
        let mut state = self.shared.lock();
        let free = state.free.len();
        if n > 1 && state.released_since_sort >= (free / 8).max(n) && runs(&state.free[free.saturating_sub(n)..]) > 2 {
            // Descending, so that pops come out in ascending order.
            state.free.sort_unstable_by(|a, b| b.cmp(a));
            state.released_since_sort = 0;
        }
        for _ in 0..n {
            out.push(self.shared.take_locked(&mut state)?);
        }
        Ok(())
    }

    /// Take a frame and report whether it is known to be zero (never used,
    /// or trimmed: both read as zeros).
    /// The global pool's frames come from the calling thread's cache of
    /// frames it released when there is one.
    fn take(&self) -> Result<(Frame, bool), FrameError> {
        if self.shared.global
            && let Some(local::Cached(offset, ptr)) = local::take()
        {
            return Ok((Frame { ptr, offset, pool: Owner::Global(&FramePool::global().shared) }, false));
        }
        self.shared.take_locked(&mut self.shared.lock())
    }
}

/// Whether frame offset `b` directly follows `a` in the file.
fn adjacent(a: &u64, b: &u64) -> bool {
    *b == a + PAGE_SIZE as u64
}

/// Runs of consecutive frame offsets in `offsets`, whatever their order.
fn runs(offsets: &[u64]) -> usize {
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    sorted.chunk_by(adjacent).count()
}

impl Shared {
    /// Puts free frames taken out of threads' caches back on the free list.
    fn give_back(&self, frames: Vec<local::Cached>) {
        if frames.is_empty() {
            return;
        }
        let mut state = self.lock();
        state.in_use -= frames.len();
        state.released_since_sort += frames.len();
        state.free.extend(frames.iter().map(|f| f.0));
    }

    /// [`FramePool::take`] with the lock held.
    fn take_locked(self: &Arc<Self>, state: &mut State) -> Result<(Frame, bool), FrameError> {
        let (offset, fresh) = match state.free.pop() {
            Some(offset) => (offset, false),
            None => match state.trimmed.pop() {
                Some(offset) => (offset, true),
                None => {
                    if state.fresh == state.len {
                        self.grow(state)?;
                    }
                    let offset = state.fresh;
                    state.fresh += PAGE_SIZE as u64;
                    (offset, true)
                }
            },
        };
        state.in_use += 1;
        let ptr = self.host_ptr(state, offset);
        let pool =
            if self.global { Owner::Global(&FramePool::global().shared) } else { Owner::Private(Arc::clone(self)) };
        Ok((Frame { ptr, offset, pool }, fresh))
    }

    fn chunk_bytes(&self) -> u64 {
        (self.config.chunk_frames * PAGE_SIZE) as u64
    }

    /// Lock the bookkeeping. A panic while holding the lock cannot leave it
    /// inconsistent (every update is a single push/pop/add), so poisoning is
    /// ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Host address of the frame at file `offset` (which must be < `len`).
    fn host_ptr(&self, state: &State, offset: u64) -> NonNull<u8> {
        let chunk_bytes = self.chunk_bytes();
        let base = state.chunks[(offset / chunk_bytes) as usize];
        // SAFETY: `offset % chunk_bytes` is below the chunk length, so the
        // result stays inside that chunk's mapping.
        unsafe { base.add((offset % chunk_bytes) as usize) }
    }

    /// Extend the file by one chunk and map it.
    fn grow(&self, state: &mut State) -> Result<(), FrameError> {
        let chunk_frames = self.config.chunk_frames;
        if let Some(max) = self.config.max_frames {
            let have = (state.len / PAGE_SIZE as u64) as usize;
            if have + chunk_frames > max {
                return Err(FrameError::Exhausted { max_frames: max });
            }
        }
        let chunk_bytes = self.chunk_bytes();
        let offset = state.len;
        let new_len = offset + chunk_bytes;
        let grow_err = |source| FrameError::Grow { len: new_len, source };
        let file_len =
            libc::off_t::try_from(new_len).map_err(|_| grow_err(io::Error::from(io::ErrorKind::FileTooLarge)))?;
        // Growing only appends zeros and never disturbs mapped chunks.
        ftruncate(&self.fd, file_len).map_err(|e| grow_err(e.into()))?;
        let len = NonZeroUsize::new(chunk_bytes as usize).expect("a chunk holds at least one frame");
        // SAFETY: a fresh shared mapping chosen by the kernel (no MAP_FIXED),
        // so no existing mapping is replaced; `offset` is page-aligned and the
        // file now covers `offset + chunk_bytes`.
        let mapped = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &self.fd,
                offset as libc::off_t,
            )
        };
        let base = match mapped {
            Ok(ptr) => ptr.cast::<u8>(),
            Err(e) => {
                // Best effort: give the unmapped tail back. A failure here
                // only leaves an unused tail in the file, which the next
                // growth reuses (shrinking to the previous length, which no
                // mapping exceeds).
                let _ = ftruncate(&self.fd, offset as libc::off_t);
                return Err(FrameError::Map { offset, len: chunk_bytes as usize, source: e.into() });
            }
        };
        state.chunks.push(base);
        state.len = new_len;
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let chunk_bytes = self.chunk_bytes() as usize;
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for base in state.chunks.drain(..) {
            // SAFETY: every chunk was mapped by `grow` with this length, and
            // no `Frame` can point into it anymore: each holds an `Arc` to
            // `Shared`, which is being dropped.
            let _ = unsafe { munmap(base.cast(), chunk_bytes) };
        }
    }
}

/// One exclusively owned 4 KiB frame of a [`FramePool`]; returns to the pool's
/// free list on drop.
///
/// The host view ([`as_slice`](Frame::as_slice) /
/// [`as_mut_slice`](Frame::as_mut_slice)) is ordinary memory. Mapping the
/// frame elsewhere through [`fd`](Frame::fd) + [`fd_offset`](Frame::fd_offset)
/// is the mapper's responsibility: writes through such a mapping must not race
/// with host borrows of the frame, and the mapping must be removed before the
/// frame drops (the frame will be reused).
pub struct Frame {
    ptr: NonNull<u8>,
    offset: u64,
    pool: Owner,
}

/// The pool a frame belongs to, kept alive by the frame unless it is the
/// global one (which is never dropped).
enum Owner {
    Global(&'static Shared),
    Private(Arc<Shared>),
}

impl std::ops::Deref for Owner {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        match self {
            Owner::Global(shared) => shared,
            Owner::Private(shared) => shared,
        }
    }
}

// SAFETY: a `Frame` is the unique owner of its 4 KiB (the free list hands each
// offset to one frame at a time); moving it to another thread moves that
// ownership, and the pool it points into is itself thread-safe.
unsafe impl Send for Frame {}
// SAFETY: `&Frame` only permits reads of the frame's bytes; mutation requires
// `&mut Frame`, so shared references never race with a host write.
unsafe impl Sync for Frame {}

impl Frame {
    /// A frame from the global pool with unspecified content.
    ///
    /// # Panics
    ///
    /// Panics if the pool cannot grow (out of memory), like a failed `Vec`
    /// allocation would.
    pub fn alloc() -> Frame {
        FramePool::global().try_alloc().unwrap_or_else(|e| panic!("frame allocation failed: {e}"))
    }

    /// A zero-filled frame from the global pool.
    ///
    /// # Panics
    ///
    /// Panics if the pool cannot grow (see [`Frame::alloc`]).
    pub fn alloc_zeroed() -> Frame {
        FramePool::global().try_alloc_zeroed().unwrap_or_else(|e| panic!("frame allocation failed: {e}"))
    }

    /// A frame from the global pool holding `content` followed by zeros.
    ///
    /// # Panics
    ///
    /// Panics if `content` is longer than [`PAGE_SIZE`] or the pool cannot
    /// grow.
    pub fn from_content(content: &[u8]) -> Frame {
        assert!(content.len() <= PAGE_SIZE, "Frame::from_content: {} bytes do not fit in a frame", content.len());
        let mut frame = Frame::alloc();
        let bytes = frame.as_mut_slice();
        bytes[..content.len()].copy_from_slice(content);
        bytes[content.len()..].fill(0);
        frame
    }

    /// The frame's bytes.
    pub fn as_slice(&self) -> &[u8; PAGE_SIZE] {
        // SAFETY: `ptr` addresses PAGE_SIZE mapped, initialised bytes owned by
        // this frame and PAGE_SIZE-aligned (an array of u8 needs alignment 1);
        // no `&mut` alias exists while `&self` is borrowed.
        unsafe { &*self.ptr.as_ptr().cast::<[u8; PAGE_SIZE]>() }
    }

    /// The frame's bytes, mutably (the frame is uniquely owned).
    pub fn as_mut_slice(&mut self) -> &mut [u8; PAGE_SIZE] {
        // SAFETY: as in `as_slice`; `&mut self` guarantees uniqueness on the
        // host side.
        unsafe { &mut *self.ptr.as_ptr().cast::<[u8; PAGE_SIZE]>() }
    }

    /// Host address of the frame (page-aligned).
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Host address of the frame for writing, e.g. from a fault handler that
    /// must not allocate or take locks.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Byte offset of this frame in its pool's memory file (page-aligned).
    pub fn fd_offset(&self) -> u64 {
        self.offset
    }

    /// The memory file this frame lives in (its pool's [`FramePool::fd`]).
    pub fn fd(&self) -> RawFd {
        self.pool.fd.as_raw_fd()
    }

    /// Does this frame belong to `pool`?
    pub fn belongs_to(&self, pool: &FramePool) -> bool {
        std::ptr::eq(&*self.pool, &*pool.shared)
    }
}

impl Drop for Frame {
    /// A frame of the global pool goes to the thread's cache of released
    /// frames while it has room.
    fn drop(&mut self) {
        if matches!(self.pool, Owner::Global(_)) && local::put(local::Cached(self.offset, self.ptr)) {
            return;
        }
        let mut state = self.pool.lock();
        state.free.push(self.offset);
        state.released_since_sort += 1;
        state.in_use -= 1;
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame").field("fd", &self.fd()).field("offset", &self.offset).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool's memory file, through a descriptor of its own.
    fn pool_file(pool: &FramePool) -> std::fs::File {
        std::fs::File::from(pool.shared.fd.try_clone().unwrap())
    }

    fn small_pool(chunk_frames: usize, max_frames: Option<usize>) -> FramePool {
        FramePool::with_config(PoolConfig { chunk_frames, max_frames }).unwrap()
    }

    #[test]
    fn frames_are_page_aligned_and_distinct() {
        let pool = small_pool(4, None);
        let frames: Vec<Frame> = (0..10).map(|_| pool.try_alloc().unwrap()).collect();
        let mut offsets: Vec<u64> = frames.iter().map(Frame::fd_offset).collect();
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), 10);
        for f in &frames {
            assert_eq!(f.as_ptr() as usize % PAGE_SIZE, 0);
            assert_eq!(f.fd_offset() % PAGE_SIZE as u64, 0);
            assert_eq!(f.fd(), pool.fd());
            assert!(f.belongs_to(&pool));
        }
        assert_eq!(pool.stats(), PoolStats { capacity: 12, in_use: 10, recycled: 0, trimmed: 0 });
    }

    #[test]
    fn dropped_frame_is_reused() {
        let pool = small_pool(4, None);
        let a = pool.try_alloc().unwrap();
        let _b = pool.try_alloc().unwrap();
        let (offset, ptr) = (a.fd_offset(), a.as_ptr());
        drop(a);
        assert_eq!(pool.stats().recycled, 1);
        let c = pool.try_alloc().unwrap();
        assert_eq!((c.fd_offset(), c.as_ptr()), (offset, ptr));
        assert_eq!(pool.stats().in_use, 2);
    }

    #[test]
    fn zeroed_frames_are_zero_after_reuse() {
        let pool = small_pool(1, None);
        let mut a = pool.try_alloc_zeroed().unwrap();
        assert!(a.as_slice().iter().all(|&b| b == 0));
        a.as_mut_slice().fill(0xAB);
        drop(a);
        let b = pool.try_alloc_zeroed().unwrap();
        assert!(b.as_slice().iter().all(|&b| b == 0));
        assert_eq!(pool.stats().capacity, 1);
    }

    #[test]
    fn batches_report_which_frames_are_zero() {
        let pool = small_pool(4, None);
        let mut used = pool.try_alloc().unwrap();
        used.as_mut_slice()[0] = 1;
        drop(used);
        let mut out = Vec::new();
        pool.try_alloc_batch(3, &mut out).unwrap();
        let zero: Vec<bool> = out.iter().map(|&(_, zero)| zero).collect();
        assert_eq!(zero, [false, true, true]);
        for (frame, zero) in &out {
            assert!(!zero || frame.as_slice().iter().all(|&b| b == 0));
        }
        assert_eq!(pool.stats().in_use, 3);
    }

    /// Trimmed frames give their memory back (the file's allocated blocks
    /// shrink), read as zeros, and are reused, in order, before the file
    /// grows.
    #[test]
    fn trimmed_frames_give_memory_back_and_come_back_zeroed() {
        let pool = small_pool(64, None);
        let blocks = || {
            use std::os::unix::fs::MetadataExt;
            pool_file(&pool).metadata().unwrap().blocks() * 512 / PAGE_SIZE as u64
        };
        let frames: Vec<Frame> = (0..64)
            .map(|i| {
                let mut f = pool.try_alloc().unwrap();
                f.as_mut_slice().fill(i as u8 + 1);
                f
            })
            .collect();
        assert_eq!(blocks(), 64);
        drop(frames);
        assert_eq!(pool.trim(8), 56);
        assert_eq!(blocks(), 8, "56 frames' memory given back");
        let stats = pool.stats();
        assert_eq!((stats.recycled, stats.trimmed, stats.capacity), (8, 56, 64));
        assert_eq!(pool.trim(8), 0, "nothing more to give");
        let mut out = Vec::new();
        pool.try_alloc_batch(64, &mut out).unwrap();
        assert_eq!(pool.stats().capacity, 64, "no growth");
        assert!(out[..8].iter().all(|&(_, zero)| !zero), "the kept frames first");
        let trimmed = &out[8..];
        assert!(trimmed.iter().all(|(f, zero)| *zero && f.as_slice().iter().all(|&b| b == 0)));
        assert!(trimmed.windows(2).all(|w| w[1].0.fd_offset() == w[0].0.fd_offset() + PAGE_SIZE as u64));
    }

    /// Frames released in a scattered order come back as one run of
    /// consecutive offsets, in ascending order.
    #[test]
    fn batches_after_scattered_releases_are_runs() {
        let pool = small_pool(64, None);
        let mut frames: Vec<Frame> = (0..256).map(|_| pool.try_alloc().unwrap()).collect();
        // Release in a scattered order (a fixed permutation: k * 97 mod 256).
        let mut slots: Vec<Option<Frame>> = frames.drain(..).map(Some).collect();
        for i in (0..256).map(|k| k * 97 % 256) {
            drop(slots[i].take());
        }
        let mut out = Vec::new();
        pool.try_alloc_batch(64, &mut out).unwrap();
        let offsets: Vec<u64> = out.iter().map(|(f, _)| f.fd_offset()).collect();
        assert_eq!(runs(&offsets), 1, "{offsets:?}");
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + PAGE_SIZE as u64), "ascending: {offsets:?}");
        // A second batch right after needs no new sort and is a run too.
        pool.try_alloc_batch(64, &mut out).unwrap();
        assert_eq!(runs(&out[64..].iter().map(|(f, _)| f.fd_offset()).collect::<Vec<_>>()), 1);
    }

    #[test]
    fn from_content_pads_with_zeros() {
        let f = Frame::from_content(&[1, 2, 3]);
        assert_eq!(&f.as_slice()[..4], &[1, 2, 3, 0]);
        assert!(f.as_slice()[3..].iter().all(|&b| b == 0));
    }

    #[test]
    fn host_writes_are_visible_through_the_fd() {
        let pool = small_pool(2, None);
        let _skip = pool.try_alloc().unwrap();
        let mut f = pool.try_alloc().unwrap();
        f.as_mut_slice()[..5].copy_from_slice(b"hello");
        let mut buf = [0u8; 5];
        use std::os::unix::fs::FileExt;
        assert_eq!(pool_file(&pool).read_at(&mut buf, f.fd_offset()).unwrap(), 5);
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn limit_gives_typed_error() {
        let pool = small_pool(2, Some(4));
        let held: Vec<Frame> = (0..4).map(|_| pool.try_alloc().unwrap()).collect();
        assert!(matches!(pool.try_alloc(), Err(FrameError::Exhausted { max_frames: 4 })));
        drop(held);
        assert!(pool.try_alloc().is_ok());
    }

    #[test]
    fn zero_chunk_is_rejected() {
        assert!(matches!(
            FramePool::with_config(PoolConfig { chunk_frames: 0, max_frames: None }),
            Err(FrameError::Config(_))
        ));
    }

    #[test]
    fn global_frames_hold_no_reference_count() {
        let global = FramePool::global();
        let counted = Arc::strong_count(&global.shared);
        let frames = [Frame::alloc(), Frame::alloc_zeroed(), Frame::from_content(&[1])];
        assert_eq!(Arc::strong_count(&global.shared), counted);
        assert!(frames.iter().all(|f| f.belongs_to(global) && f.fd() == global.fd()));
        let private = small_pool(1, None);
        let frame = private.try_alloc().unwrap();
        assert_eq!(Arc::strong_count(&private.shared), 2, "a private pool's frame keeps it alive");
        assert!(frame.belongs_to(&private) && !frame.belongs_to(global));
    }

    #[test]
    fn a_thread_takes_back_the_global_frames_it_released() {
        std::thread::spawn(|| {
            let mut frame = Frame::alloc();
            frame.as_mut_slice().fill(9);
            let offset = frame.fd_offset();
            drop(frame);
            assert_eq!(local::here(), 1);
            let again = Frame::alloc_zeroed();
            assert_eq!(again.fd_offset(), offset, "from the thread's cache");
            assert!(again.as_slice().iter().all(|&b| b == 0));
            assert_eq!(local::here(), 0);
            let frames: Vec<Frame> = (0..local::CAPACITY + 8).map(|_| Frame::alloc()).collect();
            drop(frames);
            assert_eq!(local::here(), local::CAPACITY, "the rest went to the pool");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn trimming_returns_the_frames_threads_keep_to_the_pool() {
        let (kept, trimmed) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            s.spawn(|| {
                drop([Frame::alloc(), Frame::alloc(), Frame::alloc()]);
                assert_eq!(local::here(), 3);
                kept.wait();
                trimmed.wait();
                assert_eq!(local::here(), 0, "taken back by the trim on the other thread");
            });
            kept.wait();
            // Keeps every free frame's memory: only empties the caches.
            FramePool::global().trim(usize::MAX);
            trimmed.wait();
        });
    }

    #[test]
    fn frames_keep_their_pool_alive() {
        let pool = small_pool(1, None);
        let mut f = pool.try_alloc().unwrap();
        drop(pool);
        f.as_mut_slice()[0] = 7;
        assert_eq!(f.as_slice()[0], 7);
    }
}
