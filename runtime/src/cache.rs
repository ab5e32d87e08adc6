//! The in-memory module cache an [`Engine`](crate::Engine) keeps, so that
//! loading the same bytes again returns the module already built instead of
//! decoding and compiling it a second time.
//!
//! Entries are keyed by the SHA-256 of the loaded bytes, the form they were
//! loaded as (raw code blob or standard program) and the whole [`Config`]
//! (engine, profile, gas model); within one process the javm version and the
//! CPU features are fixed, so they need no place in the key. The cache is
//! bounded by an estimate of the bytes its modules hold
//! ([`Module::footprint`](crate::Module::footprint)) and evicts the least
//! recently used entries first. It is safe to share across threads: a
//! module that several threads ask for at once is built once, by the first,
//! while the others wait for it. Failed loads are not cached.

use crate::config::Config;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Default bound of an engine's cache: 256 MiB of module footprint.
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// How the cached bytes were loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// A raw code blob ([`Engine::load_blob`](crate::Engine::load_blob)).
    Blob,
    /// A standard program, service blob or container
    /// ([`Engine::load`](crate::Engine::load)).
    Standard,
    /// A standard program named by its caller's hash
    /// ([`Engine::load_by_hash`](crate::Engine::load_by_hash)); kept apart
    /// from the keys javm hashes itself, so a caller's key can never stand
    /// for other bytes loaded by `load`.
    Named,
}

/// What identifies a cached module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    digest: [u8; 32],
    form: Form,
    config: Config,
}

impl Key {
    /// The key of `bytes` loaded as `form` under `config`.
    pub(crate) fn of_bytes(bytes: &[u8], form: Form, config: Config) -> Key {
        Key { digest: Sha256::digest(bytes).into(), form, config }
    }

    /// The key of a program its caller names by `hash`.
    pub(crate) fn named(hash: [u8; 32], config: Config) -> Key {
        Key { digest: hash, form: Form::Named, config }
    }
}

/// Counters of a cache, for tuning its bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Loads answered from the cache.
    pub hits: u64,
    /// Loads that built the module.
    pub misses: u64,
    /// Modules evicted to stay within the bound.
    pub evictions: u64,
    /// Modules held now.
    pub entries: usize,
    /// Their footprint in bytes.
    pub bytes: usize,
    /// The bound in bytes (0: nothing is kept).
    pub capacity: usize,
}

/// One module, or the place of one being built.
type Slot<M> = Arc<Mutex<Option<M>>>;

struct Entry<M> {
    slot: Slot<M>,
    /// Footprint counted against the bound (0 while being built).
    bytes: usize,
    /// Position in the recency order (0 until first touched).
    tick: u64,
}

struct State<M> {
    entries: HashMap<Key, Entry<M>>,
    /// Tick → key, oldest first.
    recency: BTreeMap<u64, Key>,
    next_tick: u64,
    bytes: usize,
    stats: CacheStats,
}

impl<M> Default for State<M> {
    fn default() -> Self {
        State {
            entries: HashMap::new(),
            recency: BTreeMap::new(),
            next_tick: 0,
            bytes: 0,
            stats: CacheStats::default(),
        }
    }
}

impl<M> State<M> {
    /// Marks `key` as just used.
    fn touch(&mut self, key: &Key) {
        // Ticks start at 1: a new entry's tick 0 is in no recency slot.
        self.next_tick += 1;
        let tick = self.next_tick;
        if let Some(entry) = self.entries.get_mut(key) {
            self.recency.remove(&entry.tick);
            entry.tick = tick;
            self.recency.insert(tick, *key);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.tick);
            self.bytes -= entry.bytes;
        }
    }

    /// Evicts least recently used modules until the footprint fits in
    /// `capacity`, never the entry of `keep`.
    fn evict_to(&mut self, capacity: usize, keep: &Key) {
        while self.bytes > capacity {
            let Some(victim) = self.recency.values().find(|k| *k != keep && self.entries[*k].bytes > 0).copied() else {
                return;
            };
            self.remove(&victim);
            self.stats.evictions += 1;
        }
    }
}

/// A bounded, thread-safe map from loaded bytes to built modules of type
/// `M` (a cheap-to-clone handle).
pub struct ModuleCache<M> {
    capacity: usize,
    state: Mutex<State<M>>,
}

impl<M: Clone> std::fmt::Debug for ModuleCache<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache").field("stats", &self.stats()).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock is held leaves the data consistent (a panicking
    // load leaves its slot empty), so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<M: Clone> ModuleCache<M> {
    /// A cache that keeps modules up to `capacity` bytes of footprint
    /// (0 keeps none).
    pub fn new(capacity: usize) -> ModuleCache<M> {
        ModuleCache { capacity, state: Mutex::new(State::default()) }
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let state = lock(&self.state);
        CacheStats { entries: state.entries.len(), bytes: state.bytes, capacity: self.capacity, ..state.stats }
    }

    /// Drops every module.
    pub fn clear(&self) {
        let mut state = lock(&self.state);
        state.entries.clear();
        state.recency.clear();
        state.bytes = 0;
    }

    /// The module of the key `key()` computes, built by `load` if it is not
    /// cached (once, however many threads ask at the same time) and counted
    /// as `footprint` bytes. A cache of capacity 0 does not even compute the
    /// key.
    pub(crate) fn get_or_load<E>(
        &self,
        key: impl FnOnce() -> Key,
        load: impl FnOnce() -> Result<M, E>,
        footprint: impl FnOnce(&M) -> usize,
    ) -> Result<M, E> {
        if self.capacity == 0 {
            return load();
        }
        let key = key();
        let slot = {
            let mut state = lock(&self.state);
            state.entries.entry(key).or_insert_with(|| Entry { slot: Arc::new(Mutex::new(None)), bytes: 0, tick: 0 });
            state.touch(&key);
            state.entries[&key].slot.clone()
        };
        let mut built = lock(&slot);
        if let Some(module) = built.as_ref() {
            lock(&self.state).stats.hits += 1;
            return Ok(module.clone());
        }
        let result = load();
        let mut state = lock(&self.state);
        state.stats.misses += 1;
        let ours = state.entries.get(&key).is_some_and(|e| Arc::ptr_eq(&e.slot, &slot));
        match &result {
            Ok(module) => {
                *built = Some(module.clone());
                let bytes = footprint(module);
                if ours && bytes <= self.capacity {
                    state.entries.get_mut(&key).expect("our entry").bytes = bytes;
                    state.bytes += bytes;
                    state.evict_to(self.capacity, &key);
                } else if ours {
                    state.remove(&key);
                }
            }
            Err(_) if ours => state.remove(&key),
            Err(_) => {}
        }
        result
    }
}
