//! The in-memory module cache an [`Engine`](crate::Engine) keeps, so that
//! loading the same bytes again returns the module already built instead of
//! decoding and compiling it a second time.
//!
//! Entries are keyed by the SHA-256 of the loaded bytes, the form they were
//! loaded as (raw code blob or standard program) and the whole [`Config`]
//! (engine, profile, gas model); within one process the javm version and the
//! CPU features are fixed, so they need no place in the key. An entry also
//! keeps a copy of its bytes, found again by a fingerprint of a few
//! samples of them: loading bytes equal to a copy (compared whole) takes
//! that entry's key without hashing them. (The SHA-256 of a 300 KB program
//! takes 165 µs; the fingerprint and the comparison a few µs.) The cache is
//! bounded by an estimate of the bytes its modules hold
//! ([`Module::footprint`](crate::Module::footprint)) and evicts the least
//! recently used entries first. It is safe to share across threads: a
//! module that several threads ask for at once is built once, by the first,
//! while the others wait for it. Failed loads are not cached.

use crate::config::Config;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hasher};
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

/// Where to look for a cached copy of some bytes: their length and a hash
/// of their first and last 64 bytes and of 16 runs of 32 between, with the
/// form and config they are loaded under. Bytes with one fingerprint may
/// differ; only a whole comparison says they are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Fingerprint {
    len: usize,
    samples: u64,
    form: Form,
    config: Config,
}

impl Fingerprint {
    fn of(bytes: &[u8], form: Form, config: Config) -> Fingerprint {
        let len = bytes.len();
        let run = |at: usize, n: usize| &bytes[at.min(len)..at.saturating_add(n).min(len)];
        let mut hasher = DefaultHasher::new();
        hasher.write(run(0, 64));
        hasher.write(run(len.saturating_sub(64), 64));
        for k in 1..=16 {
            hasher.write(run(len / 17 * k, 32));
        }
        Fingerprint { len, samples: hasher.finish(), form, config }
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

/// A copy of the bytes an entry was loaded from, and the entry's key.
type KeptBytes = (Arc<[u8]>, Key);

struct Entry<M> {
    slot: Slot<M>,
    /// Footprint counted against the bound (0 while being built), the copy
    /// of the loaded bytes included.
    bytes: usize,
    /// Position in the recency order (0 until first touched).
    tick: u64,
    /// Where the copy of its bytes is listed in [`State::copies`].
    copy: Option<Fingerprint>,
}

struct State<M> {
    entries: HashMap<Key, Entry<M>>,
    /// Copies of the bytes entries were loaded from, with their keys.
    copies: HashMap<Fingerprint, Vec<KeptBytes>>,
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
            copies: HashMap::new(),
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
            if let Some(fingerprint) = entry.copy
                && let Some(copies) = self.copies.get_mut(&fingerprint)
            {
                copies.retain(|(_, k)| k != key);
                if copies.is_empty() {
                    self.copies.remove(&fingerprint);
                }
            }
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
        state.copies.clear();
        state.recency.clear();
        state.bytes = 0;
    }

    /// The module of `bytes` loaded as `form` under `config`, built by
    /// `load` if it is not cached (see [`Self::get_or_load`]). Bytes equal
    /// to a cached entry's copy are found by that copy, without hashing
    /// them; otherwise they are hashed, and a module built from them keeps
    /// a copy.
    pub(crate) fn get_or_load_bytes<E>(
        &self,
        (bytes, form, config): (&[u8], Form, Config),
        load: impl FnOnce() -> Result<M, E>,
        footprint: impl FnOnce(&M) -> usize,
    ) -> Result<M, E> {
        if self.capacity == 0 {
            return load();
        }
        let fingerprint = Fingerprint::of(bytes, form, config);
        let candidates = lock(&self.state).copies.get(&fingerprint).cloned().unwrap_or_default();
        // Compared outside the lock. (Should the entry be evicted before it
        // is reached, it is built again, with a copy again.)
        let key = match candidates.iter().find(|(copy, _)| **copy == *bytes) {
            Some(&(_, key)) => key,
            None => Key::of_bytes(bytes, form, config),
        };
        self.get_or_load_keyed(key, Some((fingerprint, bytes)), load, footprint)
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
        self.get_or_load_keyed(key(), None, load, footprint)
    }

    /// [`Self::get_or_load`] for `key`; a module it builds keeps a copy of
    /// `copy`'s bytes under its fingerprint.
    fn get_or_load_keyed<E>(
        &self,
        key: Key,
        copy: Option<(Fingerprint, &[u8])>,
        load: impl FnOnce() -> Result<M, E>,
        footprint: impl FnOnce(&M) -> usize,
    ) -> Result<M, E> {
        let slot = {
            let mut state = lock(&self.state);
            state.entries.entry(key).or_insert_with(|| Entry {
                slot: Arc::new(Mutex::new(None)),
                bytes: 0,
                tick: 0,
                copy: None,
            });
            state.touch(&key);
            state.entries[&key].slot.clone()
        };
        let mut built = lock(&slot);
        if let Some(module) = built.as_ref() {
            lock(&self.state).stats.hits += 1;
            return Ok(module.clone());
        }
        let result = load();
        // Made before the lock is taken again.
        let copy = result.is_ok().then_some(copy).flatten().map(|(fingerprint, bytes)| (fingerprint, Arc::from(bytes)));
        let mut state = lock(&self.state);
        state.stats.misses += 1;
        let ours = state.entries.get(&key).is_some_and(|e| Arc::ptr_eq(&e.slot, &slot));
        match &result {
            Ok(module) => {
                *built = Some(module.clone());
                let bytes = footprint(module) + copy.as_ref().map_or(0, |(_, c): &(_, Arc<[u8]>)| c.len());
                if ours && bytes <= self.capacity {
                    let entry = state.entries.get_mut(&key).expect("our entry");
                    entry.bytes = bytes;
                    if let Some((fingerprint, copy)) = copy {
                        entry.copy = Some(fingerprint);
                        state.copies.entry(fingerprint).or_default().push((copy, key));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineKind;
    use std::cell::Cell;

    fn config() -> Config {
        Config { engine: EngineKind::Interpreter, ..Config::default() }
    }

    /// Loads `bytes` into `cache` as a module naming them; counts builds.
    fn load(cache: &ModuleCache<Vec<u8>>, bytes: &[u8], builds: &Cell<u32>) -> Vec<u8> {
        let built = cache.get_or_load_bytes(
            (bytes, Form::Standard, config()),
            || {
                builds.set(builds.get() + 1);
                Ok::<_, ()>(bytes.to_vec())
            },
            |m| m.len(),
        );
        built.unwrap()
    }

    #[test]
    fn equal_bytes_hit_and_bytes_differing_only_between_samples_do_not() {
        let cache = ModuleCache::new(1 << 20);
        let builds = Cell::new(0);
        let a: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        // One byte changed where no sample reads (just past the fourth
        // run of 32): the same fingerprint, other bytes.
        let mut b = a.clone();
        b[a.len() / 17 * 4 + 40] ^= 1;
        assert_eq!(Fingerprint::of(&a, Form::Standard, config()), Fingerprint::of(&b, Form::Standard, config()));
        assert_eq!(load(&cache, &a, &builds), a);
        assert_eq!(load(&cache, &a.clone(), &builds), a, "equal bytes elsewhere in memory");
        assert_eq!(builds.get(), 1);
        assert_eq!(load(&cache, &b, &builds), b, "not a's module");
        assert_eq!(builds.get(), 2);
        assert_eq!((load(&cache, &a, &builds), load(&cache, &b, &builds)), (a.clone(), b.clone()));
        assert_eq!(builds.get(), 2);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries), (3, 2, 2));
        // Each entry counts its module and its copy of the bytes.
        assert_eq!(stats.bytes, 2 * (a.len() + b.len()));
        // Another form or config is another entry.
        let blob = cache.get_or_load_bytes((&a[..], Form::Blob, config()), || Ok::<_, ()>(vec![1]), |m| m.len());
        assert_eq!(blob.unwrap(), [1]);
    }

    #[test]
    fn evicted_entries_take_their_copies_with_them() {
        let builds = Cell::new(0);
        let a = vec![1u8; 4000];
        let b = vec![2u8; 4000];
        // Room for one module and its copy.
        let cache = ModuleCache::new(9000);
        load(&cache, &a, &builds);
        load(&cache, &b, &builds);
        assert_eq!(cache.stats().evictions, 1);
        let state = lock(&cache.state);
        let copies: usize = state.copies.values().map(Vec::len).sum();
        assert_eq!((state.entries.len(), copies), (1, 1));
        drop(state);
        assert_eq!(load(&cache, &a, &builds), a);
        assert_eq!(builds.get(), 3, "built again after its eviction");
        cache.clear();
        assert!(lock(&cache.state).copies.is_empty());
    }
}
