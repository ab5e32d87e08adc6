//! The public API: an [`Engine`] with a [`Config`] loads [`Module`]s
//! (decoded programs) and runs [`Instance`]s of them.
//!
//! ```
//! use javm::{Config, Engine, Exit};
//!
//! // `load_imm r7, 42; trap`, as a raw code blob (spec §4).
//! let blob = [0x00, 0x00, 0x04, 51, 0x07, 42, 0x00, 0b1001];
//! let engine = Engine::new(Config::default());
//! let module = engine.load_blob(&blob).unwrap();
//! let mut instance = module.instantiate_empty(0);
//! instance.set_gas(100);
//! assert_eq!(instance.run(), Exit::Panic);
//! assert_eq!(instance.reg(7), 42);
//! assert_eq!(instance.pc(), 3);
//! ```

use crate::cache::{CacheStats, DEFAULT_CACHE_BYTES, Form, Key, ModuleCache};
pub use crate::config::{Compilation, Config, EngineKind};
use crate::disk_cache::{DiskCache, DiskCacheStats};
use crate::interp::{self, InterpCode, Stop};
use javm_cap::image::{Image, ImageMapping, MappingSource};
use javm_cap::program::{CodeBlob, Decode, Program, ProgramError, StandardProgram};
use javm_cap::space::{Access, AddressSpace, Heap, SpaceError};
use javm_cap::vm::{Exit, GuestMemory, MemFault, Regs, VmState};
use javm_cap::{CapHash, DataCap, PAGE_SIZE};
use javm_recompiler::CompileContext;
use local::{LocalCopies, ThreadModule, ThreadModules};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use thiserror::Error;
use tier::TierUp;

mod local;
mod pages;
mod step;
mod tier;
pub use pages::PageAccess;
pub use step::{MemoryAccess, StepRecord};

/// Why a program could not be loaded or instantiated.
#[derive(Debug, Error)]
pub enum Error {
    /// The program is malformed.
    #[error("invalid program: {0}")]
    Program(#[from] ProgramError),
    /// The memory layout could not be built.
    #[error("memory: {0}")]
    Memory(#[from] SpaceError),
    /// The argument blob is larger than 16 MiB.
    #[error("arguments are {0} bytes, more than the 16 MiB limit")]
    ArgsTooLarge(usize),
    /// The image is invalid.
    #[error("invalid image: {0}")]
    Image(String),
    /// The image was made for another profile.
    #[error("the image is for profile p{image}, the engine runs p{engine}")]
    ImageProfile {
        /// The image's profile byte.
        image: u8,
        /// The engine's.
        engine: u8,
    },
    /// The recompiler refused the program or could not set up an instance.
    #[error("recompiler: {0}")]
    Recompiler(String),
    /// A snapshot was taken of another program, profile or gas model than
    /// the module it is to run on.
    #[error("the snapshot is of another program, profile or gas model than this module")]
    SnapshotMismatch,
    /// The persistent module cache's directory cannot be used.
    #[error("module cache directory {}: {reason}", path.display())]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// Why not.
        reason: String,
    },
}

/// Loads programs under one [`Config`], keeping the modules it built in a
/// bounded cache ([`crate::cache`]) so that the same bytes are decoded and
/// compiled once, and optionally the recompiler's code in a directory
/// ([`crate::disk_cache`]) so that a new process does not compile it again.
/// Clones share the caches.
#[derive(Clone, Debug)]
pub struct Engine {
    config: Config,
    compilation: Compilation,
    tier_up: u64,
    cache: Arc<ModuleCache<Module>>,
    disk: Option<Arc<DiskCache>>,
    /// The recompiler's compile buffers, reused by every module the engine
    /// (or a clone) compiles and by their lazily compiled regions.
    compile: Arc<CompileContext>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(Config::default())
    }
}

impl Engine {
    /// An engine with `config` and a module cache of
    /// [`DEFAULT_CACHE_BYTES`].
    pub fn new(config: Config) -> Engine {
        Engine::with_cache_capacity(config, DEFAULT_CACHE_BYTES)
    }

    /// An engine whose module cache keeps up to `bytes` of module footprint
    /// (0 turns the cache off).
    pub fn with_cache_capacity(config: Config, bytes: usize) -> Engine {
        Engine {
            config,
            compilation: Compilation::default(),
            tier_up: 0,
            cache: Arc::new(ModuleCache::new(bytes)),
            disk: None,
            compile: Arc::default(),
        }
    }

    /// The engine compiling for the recompiler as `compilation` says
    /// (lazily by default). Modules already cached keep how they were
    /// compiled; a persistent module cache always compiles whole programs.
    pub fn with_compilation(mut self, compilation: Compilation) -> Engine {
        self.compilation = compilation;
        self
    }

    /// The engine assembling the recompiler's code in `context`'s buffers,
    /// which engines may share (every engine has a context of its own
    /// otherwise, which its clones share).
    pub fn with_compile_context(mut self, context: Arc<CompileContext>) -> Engine {
        self.compile = context;
        self
    }

    /// How the recompiler compiles.
    pub fn compilation(&self) -> Compilation {
        self.compilation
    }

    /// The engine interpreting each recompiler module it loads until the
    /// module's instances have run `gas` gas in total, and running it
    /// compiled from then on, switching in the middle of a run if need be
    /// (0, the default: compiled from the start). For many short runs of
    /// large programs, most of whose code runs once or never: those cost
    /// what the interpreter costs, and the programs that keep running pay
    /// for code generation once. Compiled code from the start stays the
    /// default: code compiled after a switch in the middle of a run is
    /// slower than code compiled from the program's entry (up to 1.25× on
    /// long runs measured; benches/README.md has the figures).
    pub fn with_tier_up(mut self, gas: u64) -> Engine {
        self.tier_up = gas;
        self
    }

    /// The gas each recompiler module runs interpreted first.
    pub fn tier_up(&self) -> u64 {
        self.tier_up
    }

    /// The engine with a persistent module cache in `dir` (created with mode
    /// 0700 if missing): the recompiler's modules are loaded from there when
    /// a valid file exists, else compiled and written there. The directory
    /// must be as trusted as the program binary, since its files hold
    /// native code that runs in the process: one that is not this user's,
    /// or that group or others may write, is refused. The interpreter
    /// keeps nothing there.
    pub fn with_disk_cache(mut self, dir: impl AsRef<Path>) -> Result<Engine, Error> {
        let dir = dir.as_ref();
        let disk = DiskCache::open(dir).map_err(|reason| Error::CacheDir { path: dir.to_path_buf(), reason })?;
        self.disk = Some(Arc::new(disk));
        Ok(self)
    }

    /// The persistent module cache's directory, if any.
    pub fn disk_cache_dir(&self) -> Option<&Path> {
        self.disk.as_deref().map(DiskCache::dir)
    }

    /// The persistent module cache's counters, if there is one.
    pub fn disk_cache_stats(&self) -> Option<DiskCacheStats> {
        self.disk.as_deref().map(DiskCache::stats)
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The module cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Drops every cached module (modules in use stay valid).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Decodes a raw code blob (spec §4), or returns the module already
    /// built from the same bytes.
    pub fn load_blob(&self, blob: &[u8]) -> Result<Module, Error> {
        self.cache.get_or_load_bytes(
            (blob, Form::Blob, self.config),
            || {
                let program = self.decode(blob)?;
                self.module(program, Template::default())
            },
            Module::footprint,
        )
    }

    /// Loads a standard program, a service blob with metadata, or a
    /// `.polkavm` container (detected from the bytes), or returns the module
    /// already built from the same bytes (found by comparing them with the
    /// copy the cache keeps, not by hashing them again).
    pub fn load(&self, bytes: &[u8]) -> Result<Module, Error> {
        self.cache.get_or_load_bytes(
            (bytes, Form::Standard, self.config),
            || self.load_standard(StandardProgram::load(bytes)?),
            Module::footprint,
        )
    }

    /// Like [`Engine::load`], for a program its caller names by `hash` (for
    /// a JAM node, the service's code hash): a hit costs one lookup, without
    /// reading or hashing any bytes, and `bytes` is called only on a miss.
    /// The hash must identify the bytes `bytes` returns: javm does not check
    /// it. Modules loaded this way are found only by `load_by_hash`.
    pub fn load_by_hash<B: AsRef<[u8]>>(&self, hash: [u8; 32], bytes: impl FnOnce() -> B) -> Result<Module, Error> {
        self.cache.get_or_load(
            || Key::named(hash, self.config),
            || self.load_standard(StandardProgram::load(bytes().as_ref())?),
            Module::footprint,
        )
    }

    /// Loads a parsed standard program.
    pub fn load_standard(&self, standard: StandardProgram) -> Result<Module, Error> {
        let program = self.decode(&standard.code)?;
        let mut template = AddressSpace::new();
        let regions = [
            (standard.ro_region(), &standard.ro_data[..]),
            (standard.rw_region(), &standard.rw_data[..]),
            (standard.stack_region(), &[][..]),
        ];
        for (region, content) in regions {
            if region.len > 0 {
                let cap = DataCap::from_bytes_sized(content, u64::from(region.len)).map_err(SpaceError::from)?;
                let access = if region.writable { Access::Write } else { Access::Read };
                template.map_cap(region.start / PAGE_SIZE as u32, cap, access)?;
            }
        }
        let rw = standard.rw_region();
        let (_, limit_page) = standard.heap_bounds();
        template.set_heap(Some(Heap { top: rw.start + rw.len, limit: limit_page * PAGE_SIZE as u32 }));
        let memory = Template {
            space: template,
            regs: [0; 13],
            standard: Some(StandardProgram { code: Vec::new(), ..standard }),
        };
        self.module(program, memory)
    }

    /// Loads an [`Image`]: its code under this engine's profile (the image's
    /// profile byte, 7 or 8, must agree), its memory mappings (shared, not
    /// copied, by every instance) and initial registers.
    pub fn load_image(&self, image: &Image) -> Result<Module, Error> {
        let want = self.config.profile.image_byte();
        if image.profile != want {
            return Err(Error::ImageProfile { image: image.profile, engine: want });
        }
        image.validate().map_err(|e| Error::Image(e.to_string()))?;
        let program = self.decode(&image.code)?;
        let mut space = AddressSpace::new();
        // A mapping of no pages maps nothing (a cap has at least one page).
        for m in image.mappings.iter().filter(|m| m.page_count > 0) {
            let size = u64::from(m.page_count) * PAGE_SIZE as u64;
            let cap = match &m.source {
                MappingSource::Zero => DataCap::zeroed(size),
                MappingSource::Data(data) if data.content_len() == size => Ok(data.clone()),
                MappingSource::Data(data) => DataCap::zeroed(size).and_then(|mut cap| {
                    cap.place_shared(0, data)?;
                    Ok(cap)
                }),
            }
            .map_err(SpaceError::from)?;
            space.map_cap(m.start_page, cap, m.access)?;
        }
        self.module(program, Template { space, regs: image.regs, standard: None })
    }

    /// Parses and validates a code blob (spec §4) into a program for this
    /// engine: decoded a span at a time as it is run or compiled, or whole
    /// now where the whole program is translated at load.
    fn decode(&self, blob: &[u8]) -> Result<Program, Error> {
        // The whole program is translated at load by a recompiler compiling
        // eagerly, unless a disk cache may hold the compiled code.
        let whole = self.config.engine == EngineKind::Recompiler
            && self.compilation == Compilation::Eager
            && self.disk.is_none();
        let decode = if whole { Decode::Eager } else { Decode::Lazy };
        let blob = CodeBlob::parse(blob)?;
        Ok(Program::with_decode(blob, self.config.profile, self.config.effective_gas_model(), decode)?)
    }

    /// The module of a decoded `program` with `memory`.
    fn module(&self, program: Program, memory: Template) -> Result<Module, Error> {
        let tier = TierUp::new(if self.config.engine == EngineKind::Recompiler { self.tier_up } else { 0 });
        let compile = Compile { compilation: self.compilation, disk: self.disk.as_deref(), context: &self.compile };
        Module::new(self.config, compile, program, memory, tier)
    }
}

/// The memory every instance starts from: an address space whose caps are
/// shared (reference-counted) by all instances, and initial registers.
#[derive(Clone, Debug, Default)]
struct Template {
    space: AddressSpace,
    regs: Regs,
    /// The standard program's header fields, when loaded from one.
    standard: Option<StandardProgram>,
}

/// A decoded program, ready to instantiate. Cheap to clone: two reference
/// counts. Its instances count on a handle of their thread's instead, so
/// that instances made and dropped on several threads at once share as few
/// counters as possible.
#[derive(Clone)]
pub struct Module {
    config: Config,
    parts: Arc<Parts>,
    /// The per-thread handles for instances: `None` in a handle's own
    /// module (what [`Instance::module`] gives), whose instances each
    /// count on the module.
    threads: Option<Arc<ThreadModules>>,
}

/// What a module's clones share. Aligned to two cache lines so that, in
/// the `Arc`, the reference counts that instances on other threads write
/// are not on a line with what every run reads.
#[repr(align(128))]
struct Parts {
    program: Arc<Program>,
    /// Built on first use when the recompiler runs the module (it needs it
    /// only for the rare stretches it hands to the interpreter).
    interp: OnceLock<InterpCode>,
    jit: Option<Arc<javm_recompiler::CompiledModule>>,
    memory: Template,
    /// Per-thread copies of the template's space, to clone instances'
    /// spaces from.
    local: LocalCopies,
    tier: TierUp,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("config", &self.config)
            .field("code_len", &self.parts.program.code().len())
            .finish()
    }
}

/// How an engine makes the recompiler's form of a program.
struct Compile<'a> {
    compilation: Compilation,
    disk: Option<&'a DiskCache>,
    context: &'a Arc<CompileContext>,
}

impl Module {
    /// Builds the engine's form of `program`; the recompiler's comes from
    /// the disk cache when it holds it, else is compiled as `compile` says.
    fn new(
        config: Config,
        compile: Compile<'_>,
        program: Program,
        memory: Template,
        tier: TierUp,
    ) -> Result<Module, Error> {
        let program = Arc::new(program);
        let interp = OnceLock::new();
        if config.engine == EngineKind::Interpreter {
            interp.get_or_init(|| InterpCode::new(&program));
        }
        let jit = match config.engine {
            EngineKind::Interpreter => None,
            EngineKind::Recompiler => Some(Arc::new(
                match compile.disk {
                    Some(disk) => disk.compiled(&program, &config, compile.context),
                    None => javm_recompiler::CompiledModule::compile_in(
                        program.clone(),
                        &compile.compilation.options(),
                        compile.context,
                    ),
                }
                .map_err(|e| Error::Recompiler(e.to_string()))?,
            )),
        };
        Ok(Module {
            config,
            parts: Arc::new(Parts { program, interp, jit, memory, local: LocalCopies::default(), tier }),
            threads: Some(Arc::default()),
        })
    }

    /// An estimate of the bytes the module holds: code, decoded program and
    /// tables, native code, and the memory pages of its template. What the
    /// module cache counts against its bound.
    pub fn footprint(&self) -> usize {
        let program = &*self.parts.program;
        let decoded = std::mem::size_of::<javm_cap::program::Instruction>() * program.instruction_count()
            + std::mem::size_of_val(program.blocks())
            + std::mem::size_of::<u32>() * program.blocks().len()
            + std::mem::size_of_val(program.jump_targets());
        // The interpreter's ops and the recompiler's per-instruction tables
        // are a few words per instruction; the code's bitmask and pc map
        // under half a byte per code byte.
        let per_instruction = 4 * std::mem::size_of::<u64>() * program.instruction_count();
        // A lazily compiled module grows its code as it runs: counted as if
        // compiled whole (about 16 bytes of native code per code byte).
        let native = self.parts.jit.as_ref().map_or(0, |jit| jit.code_size().max(16 * program.code().len()));
        let pages: usize = self.parts.memory.space.mappings().iter().map(|m| m.cap.pages().count() * PAGE_SIZE).sum();
        program.code().len() * 3 / 2 + decoded + per_instruction + native + pages
    }

    /// The interpreter's form of the program.
    fn interp_code(&self) -> &InterpCode {
        self.parts.interp.get_or_init(|| InterpCode::new(&self.parts.program))
    }

    /// Runs the block at `state.pc` to its end for the recompiler (which
    /// left it to the interpreter: an `sbrk`, a run it cannot pre-pay),
    /// through the interpreter's form of the program, which builds only
    /// the span of blocks it enters. (Stepping such blocks from the decoded
    /// program instead, until enough had been handed over, paid while that
    /// form was built whole; a cold JIP-6 replay measured the same either
    /// way once it was built a span at a time.)
    fn hand_over_block<M: GuestMemory>(
        &self,
        state: &mut VmState,
        mem: &mut M,
        registers: &mut interp::RegisterFile,
    ) -> Stop {
        interp::run(&self.parts.program, self.interp_code(), state, mem, registers, true)
    }

    /// The decoded program.
    pub fn program(&self) -> &Program {
        &self.parts.program
    }

    /// Gas the module's instances ran on the interpreter before it tiered
    /// up to compiled code ([`Engine::with_tier_up`]).
    pub fn gas_interpreted(&self) -> u64 {
        self.parts.tier.interpreted()
    }

    /// For a recompiler module, how many of the program's instructions are
    /// compiled so far (all once compiled whole; see [`Compilation`]).
    pub fn compiled_instructions(&self) -> Option<usize> {
        self.parts.jit.as_ref().map(|jit| jit.compiled_instructions())
    }

    /// The recompiler's x86-64 per guest instruction, when the module was
    /// compiled (compiled lazily: the instructions compiled so far).
    pub fn native_disasm(&self) -> Option<String> {
        self.parts.jit.as_ref().map(|jit| jit.native_disasm())
    }

    /// The configuration it was loaded with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The standard program it came from, if any (code omitted).
    pub fn standard(&self) -> Option<&StandardProgram> {
        self.parts.memory.standard.as_ref()
    }

    /// An instance over `space`, starting at `pc` with zero registers and
    /// gas.
    pub fn instantiate(&self, space: AddressSpace, pc: u32) -> Result<Instance, Error> {
        let own = space.clone();
        let origin = Snapshot(Arc::new(Frozen {
            module: self.clone(),
            state: VmState { pc, ..VmState::default() },
            space,
            local: LocalCopies::default(),
            after_host: false,
            entry_checked: false,
        }));
        Instance::start(Origin::Snapshot { snapshot: origin, module: self.thread_module() }, own)
    }

    /// An instance in the state `snapshot` holds, sharing its pages until
    /// either writes them. The snapshot may come from an instance of either
    /// engine; it must be of this module's program, profile and gas model.
    pub fn instantiate_from(&self, snapshot: &Snapshot) -> Result<Instance, Error> {
        if !self.same_program(&snapshot.0.module) {
            return Err(Error::SnapshotMismatch);
        }
        Instance::from_snapshot(self.thread_module(), snapshot)
    }

    /// The module's memory (this thread's copy, sharing its pages) with
    /// `args`, when given, mapped read-only at the argument address.
    fn module_space(&self, args: Option<&DataCap>) -> Result<AddressSpace, Error> {
        let mut space = self.parts.local.clone_of(&self.parts.memory.space, usize::from(args.is_some()));
        if let Some(cap) = args {
            space.map_cap(javm_cap::program::standard::ARGS_START / PAGE_SIZE as u32, cap.clone(), Access::Read)?;
        }
        Ok(space)
    }

    /// The module as this thread's instances hold it.
    fn thread_module(&self) -> Arc<ThreadModule> {
        let own = || Module { config: self.config, parts: self.parts.clone(), threads: None };
        match &self.threads {
            Some(threads) => threads.get(own),
            None => Arc::new(ThreadModule::new(own())),
        }
    }

    /// Whether `other` runs the same program under the same profile and gas
    /// model (it may be of the other engine).
    fn same_program(&self, other: &Module) -> bool {
        let (a, b) = (&self.config, &other.config);
        a.profile == b.profile
            && a.effective_gas_model() == b.effective_gas_model()
            && (Arc::ptr_eq(&self.parts.program, &other.parts.program)
                || self.parts.program.blob() == other.parts.program.blob())
    }

    /// An instance with no memory mapped (infallible for the interpreter).
    ///
    /// # Panics
    ///
    /// If the recompiler cannot set up an instance window.
    pub fn instantiate_empty(&self, pc: u32) -> Instance {
        self.instantiate(AddressSpace::new(), pc).expect("an empty instance")
    }

    /// An instance of a standard program with GP initialisation (spec §11):
    /// memory layout with `args`, registers, entry `pc`. For a module that
    /// is not a standard program, the module's memory and registers with
    /// `args` mapped read-only at the argument address.
    pub fn instantiate_standard(&self, args: &[u8], pc: u32) -> Result<Instance, Error> {
        if args.len() > javm_cap::program::standard::MAX_ARGS as usize {
            return Err(Error::ArgsTooLarge(args.len()));
        }
        let args_region = StandardProgram::args_region(args.len());
        let cap = if args_region.len > 0 {
            Some(DataCap::from_bytes_sized(args, u64::from(args_region.len)).map_err(SpaceError::from)?)
        } else {
            None
        };
        let regs = javm_cap::program::standard::initial_registers(args.len());
        let space = self.module_space(cap.as_ref())?;
        Instance::start(Origin::Module { module: self.thread_module(), args: cap, regs, pc }, space)
    }

    /// An instance with the module's memory (shared with the module until
    /// written) and initial registers, starting at `pc`.
    pub fn instantiate_at(&self, pc: u32) -> Result<Instance, Error> {
        let space = self.module_space(None)?;
        let regs = self.parts.memory.regs;
        Instance::start(Origin::Module { module: self.thread_module(), args: None, regs, pc }, space)
    }

    /// The module as an [`Image`]: code, memory mappings (sharing the
    /// module's pages), registers and the given entry points.
    pub fn to_image(&self, entry_points: Vec<u32>) -> Image {
        let mappings = self
            .parts
            .memory
            .space
            .mappings()
            .iter()
            .map(|m| ImageMapping {
                start_page: m.start_page,
                page_count: m.cap.page_count(),
                source: MappingSource::Data(m.cap.clone()),
                access: m.access,
            })
            .collect();
        Image {
            code: self.parts.program.blob().to_bytes(),
            profile: self.config.profile.image_byte(),
            mappings,
            regs: self.parts.memory.regs,
            entry_points,
        }
    }
}

enum Backend {
    Interp(AddressSpace),
    Jit(javm_recompiler::JitInstance),
}

/// The state an instance was created in, which [`Instance::reset`]
/// returns to, and the instance's module.
#[derive(Clone)]
enum Origin {
    /// A snapshot's state; the instance runs `module` (of the snapshot's
    /// program; it may be of the other engine).
    Snapshot { snapshot: Snapshot, module: Arc<ThreadModule> },
    /// The memory of `module`, with `args` mapped at the argument address
    /// when given, `regs` and `pc`, and no gas: kept as these parts rather
    /// than a copy of the memory's mappings, which most instances never
    /// need.
    Module { module: Arc<ThreadModule>, args: Option<DataCap>, regs: Regs, pc: u32 },
}

impl Origin {
    /// The module the instance runs.
    fn module(&self) -> &Module {
        &self.thread().module
    }

    /// The instance's thread's handle on it.
    fn thread(&self) -> &Arc<ThreadModule> {
        match self {
            Origin::Snapshot { module, .. } | Origin::Module { module, .. } => module,
        }
    }

    /// Its machine state, whether it resumes after a host call, and whether
    /// the entry check is done.
    fn state(&self) -> (VmState, bool, bool) {
        match self {
            Origin::Snapshot { snapshot, .. } => {
                let frozen = &snapshot.0;
                (frozen.state, frozen.after_host, frozen.entry_checked)
            }
            &Origin::Module { regs, pc, .. } => (VmState { regs, pc, ..VmState::default() }, false, false),
        }
    }
}

impl ThreadModule {
    /// The engine's side of an instance over `space`.
    fn backend(&self, space: AddressSpace) -> Result<Backend, Error> {
        Ok(match &self.jit {
            None => Backend::Interp(space),
            Some(jit) => Backend::Jit(
                javm_recompiler::JitInstance::with_handle(jit.clone(), space)
                    .map_err(|e| Error::Recompiler(e.to_string()))?,
            ),
        })
    }
}

/// A running (or runnable) guest: registers, pc, gas and memory.
pub struct Instance {
    state: VmState,
    backend: Backend,
    /// The interpreter's registers between runs.
    registers: interp::RegisterFile,
    /// The last exit was a host call: the next run resumes after it.
    after_host: bool,
    /// The state it was created in, for [`Instance::reset`], and its module.
    origin: Origin,
    /// The P8 entry-point check has been done.
    entry_checked: bool,
    /// While set, what [`read_memory`](Instance::read_memory) and
    /// [`write_memory`](Instance::write_memory) did (see
    /// [`log_memory_accesses`](Instance::log_memory_accesses)).
    access_log: Option<Vec<MemoryAccess>>,
}

impl Instance {
    /// The module it runs. Instances made from this clone of it each
    /// allocate a handle of their own (the module's per-thread handles live
    /// with the clones the embedder holds): to make many, use one of those.
    pub fn module(&self) -> &Module {
        self.origin.module()
    }

    /// The machine state (the pc is the one the last exit reported).
    pub fn state(&self) -> &VmState {
        &self.state
    }

    /// All registers.
    pub fn regs(&self) -> &Regs {
        &self.state.regs
    }

    /// Register `i` (0..=12).
    pub fn reg(&self, i: usize) -> u64 {
        self.state.regs[i]
    }

    /// Sets register `i` (0..=12).
    pub fn set_reg(&mut self, i: usize, value: u64) {
        self.state.regs[i] = value;
    }

    /// The program counter: where the next run starts, or after an exit the
    /// pc it reported (a host call reports the `ecalli`'s pc; the next run
    /// resumes after it).
    pub fn pc(&self) -> u32 {
        self.state.pc
    }

    /// Moves execution to `pc` (cancels resuming after a host call).
    pub fn set_pc(&mut self, pc: u32) {
        self.state.pc = pc;
        self.after_host = false;
    }

    /// Gas left.
    pub fn gas(&self) -> i64 {
        self.state.gas
    }

    /// Sets the gas left.
    pub fn set_gas(&mut self, gas: i64) {
        self.state.gas = gas;
    }

    /// The guest's memory.
    pub fn address_space(&mut self) -> &mut AddressSpace {
        match &mut self.backend {
            Backend::Interp(space) => space,
            Backend::Jit(jit) => jit.address_space(),
        }
    }

    /// Reads guest memory with guest access rules.
    pub fn read_memory(&mut self, address: u32, out: &mut [u8]) -> Result<(), MemFault> {
        match &mut self.backend {
            Backend::Interp(space) => space.read(address, out),
            Backend::Jit(jit) => jit.memory().read_bytes(address, out),
        }?;
        self.log_access(address, out, false);
        Ok(())
    }

    /// Writes guest memory with guest access rules (writable pages only).
    pub fn write_memory(&mut self, address: u32, data: &[u8]) -> Result<(), MemFault> {
        match &mut self.backend {
            Backend::Interp(space) => space.write(address, data),
            Backend::Jit(jit) => jit.memory().write_bytes(address, data),
        }?;
        self.log_access(address, data, true);
        Ok(())
    }

    /// Starts (`true`) or stops logging the accesses that
    /// [`read_memory`](Instance::read_memory) and
    /// [`write_memory`](Instance::write_memory) make — a host's, as trace
    /// recording needs them; returns what was logged since the last call.
    /// Accesses through [`address_space`](Instance::address_space) are not
    /// logged.
    pub fn log_memory_accesses(&mut self, on: bool) -> Vec<MemoryAccess> {
        let logged = self.access_log.take().unwrap_or_default();
        if on {
            self.access_log = Some(Vec::new());
        }
        logged
    }

    fn log_access(&mut self, address: u32, bytes: &[u8], write: bool) {
        if let Some(log) = &mut self.access_log {
            log.push(MemoryAccess { address, bytes: bytes.to_vec(), write });
        }
    }

    /// The memory root (flushes every mapping's overlay).
    pub fn memory_root(&mut self) -> CapHash {
        let root = self.address_space().root();
        self.park();
        root
    }

    /// Lets the recompiler's windows short of kernel mappings take this
    /// instance's until its next use (after a use of its address space).
    fn park(&mut self) {
        if let Backend::Jit(jit) = &mut self.backend {
            jit.park();
        }
    }

    /// What every run and step does first: the P8 entry-point check (an
    /// invalid entry is a panic), and moving past the `ecalli` a host call
    /// exited at.
    fn begin(&mut self) -> Result<(), Exit> {
        let program = &*self.origin.module().parts.program;
        if !self.entry_checked {
            self.entry_checked = true;
            if !program.is_valid_entry(self.state.pc) {
                return Err(Exit::Panic);
            }
        }
        if std::mem::take(&mut self.after_host) {
            let index = program.index_of(self.state.pc).expect("a host call exits at an instruction");
            self.state.pc = program.instruction(index).next_pc;
        }
        Ok(())
    }

    /// Runs until the next exit.
    pub fn run(&mut self) -> Exit {
        if let Err(exit) = self.begin() {
            return exit;
        }
        let (module, state, registers) = (self.origin.module(), &mut self.state, &mut self.registers);
        // The interpreter to the next exit, or with `to_block_end` to the
        // end of the block, over `mem`.
        fn interpret<M: GuestMemory>(
            module: &Module,
            state: &mut VmState,
            mem: &mut M,
            registers: &mut interp::RegisterFile,
            to_block_end: bool,
        ) -> Stop {
            interp::run(&module.parts.program, module.interp_code(), state, mem, registers, to_block_end)
        }
        let exit = match &mut self.backend {
            Backend::Interp(space) => match interpret(module, state, &mut space.cached(), registers, false) {
                Stop::Exit(exit) => exit,
                Stop::BlockEnd => unreachable!("not asked to stop at block ends"),
            },
            Backend::Jit(jit) => loop {
                // Not hot yet: the interpreter, for as much gas as is left
                // to interpret, over the caps.
                if let Some(slice) = module.parts.tier.remaining() {
                    let mut mem = jit.cap_memory();
                    let sliced =
                        module.parts.tier.run_slice(state, slice, |s| interpret(module, s, &mut mem, registers, false));
                    drop(mem);
                    match sliced {
                        Some(Stop::Exit(exit)) => break exit,
                        Some(Stop::BlockEnd) => unreachable!("not asked to stop at block ends"),
                        // Hot: compiled code takes over the pages written.
                        None => {
                            jit.adopt_written_pages();
                            continue;
                        }
                    }
                }
                let stop = match jit.run(state) {
                    javm_recompiler::JitExit::Exit(exit) => break exit,
                    // No mappings to spare: interpret to the next exit rather
                    // than empty the window once per block.
                    javm_recompiler::JitExit::Interpret if jit.mappings_scarce() => {
                        interpret(module, state, &mut jit.cap_memory(), registers, false)
                    }
                    javm_recompiler::JitExit::Interpret => module.hand_over_block(state, &mut jit.memory(), registers),
                };
                match stop {
                    Stop::Exit(exit) => break exit,
                    Stop::BlockEnd => continue,
                }
            },
        };
        self.after_host = matches!(exit, Exit::Host(_));
        exit
    }

    /// Runs, handing every host call to `host`, until an exit the host does
    /// not continue from.
    pub fn run_with(&mut self, host: &mut impl HostCalls) -> Exit {
        self.drive(host, |instance| Some(instance.run()))
    }

    /// Calls `advance` (a run, or a step) until it exits, handing every host
    /// call to `host`, until an exit the host does not continue from.
    fn drive(&mut self, host: &mut impl HostCalls, mut advance: impl FnMut(&mut Instance) -> Option<Exit>) -> Exit {
        loop {
            let Some(exit) = advance(self) else { continue };
            let Exit::Host(id) = exit else { return exit };
            match host.call(id, self) {
                HostResult::Continue => {}
                HostResult::Exit(exit) => {
                    self.after_host = false;
                    return exit;
                }
                HostResult::Stop => return exit,
            }
        }
    }
}

/// The frozen state of an instance: module, registers, pc, gas and memory
/// (cloning it costs a reference count per mapping and overlay page).
struct Frozen {
    module: Module,
    state: VmState,
    space: AddressSpace,
    /// Per-thread copies of `space`, for [`Module::instantiate_from`].
    local: LocalCopies,
    after_host: bool,
    entry_checked: bool,
}

/// An instance's state at one moment — registers, pc, gas and memory —
/// from which any number of instances start ([`Module::instantiate_from`],
/// [`Instance::reset_to`]), on either engine. Its memory pages are shared
/// with the instances, copied only when one of them writes. Cheap to clone.
#[derive(Clone)]
pub struct Snapshot(Arc<Frozen>);

impl Snapshot {
    /// The module of the instance it was taken from.
    pub fn module(&self) -> &Module {
        &self.0.module
    }

    /// Registers, pc and gas.
    pub fn state(&self) -> &VmState {
        &self.0.state
    }

    /// The memory root of the snapshot (equal to the instance's at the
    /// moment it was taken).
    pub fn memory_root(&self) -> CapHash {
        self.0.space.clone().root()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("state", &self.0.state).field("module", &self.0.module).finish()
    }
}

impl Instance {
    /// An instance over `space` (made from `origin`) in the state `origin`
    /// holds, which `reset` returns to.
    fn start(origin: Origin, space: AddressSpace) -> Result<Instance, Error> {
        let (state, after_host, entry_checked) = origin.state();
        Ok(Instance {
            state,
            backend: origin.thread().backend(space)?,
            registers: interp::RegisterFile::new(),
            after_host,
            entry_checked,
            origin,
            access_log: None,
        })
    }

    /// An instance of `module` in the state `snapshot` (of its program)
    /// holds, over this thread's copy of the snapshot's memory.
    fn from_snapshot(module: Arc<ThreadModule>, snapshot: &Snapshot) -> Result<Instance, Error> {
        let space = snapshot.0.local.clone_of(&snapshot.0.space, 0);
        Instance::start(Origin::Snapshot { snapshot: snapshot.clone(), module }, space)
    }

    /// The instance's state now, as a [`Snapshot`]: registers, pc, gas and
    /// memory, also mid-run (after a host call, a fault or out-of-gas). Costs
    /// a reference count per page written since the instance started; the
    /// instance goes on unchanged and copies a shared page again when it next
    /// writes it (the recompiler maps its pages again on demand).
    pub fn snapshot(&mut self) -> Snapshot {
        // Not flushed: a clone shares the overlay pages by reference, so the
        // snapshot costs the pages written (a flush would copy the slot
        // vector of every backing shared with the module).
        let space = self.address_space().clone();
        self.park();
        Snapshot(Arc::new(Frozen {
            module: self.module().clone(),
            state: self.state,
            space,
            local: LocalCopies::default(),
            after_host: self.after_host,
            entry_checked: self.entry_checked,
        }))
    }

    /// An independent copy of the instance: same registers, pc, gas and
    /// memory; both go on copy-on-write from the pages they share, and a
    /// fork can be forked again. [`Instance::reset`] of the fork returns to
    /// the original's starting state.
    pub fn fork(&mut self) -> Result<Instance, Error> {
        let snapshot = self.snapshot();
        // Through the instance's own handle: the module it gives out has
        // none, and would make one per fork.
        let mut fork = Instance::from_snapshot(self.origin.thread().clone(), &snapshot)?;
        fork.origin.clone_from(&self.origin);
        Ok(fork)
    }

    /// Returns to the state the instance was created in (registers, pc, gas
    /// and memory as instantiated). Costs the pages written since (the
    /// recompiler's window is reset) and those the origin holds in overlays,
    /// not the memory's size.
    pub fn reset(&mut self) -> Result<(), Error> {
        let space = match &self.origin {
            Origin::Snapshot { snapshot, .. } => {
                let snapshot = snapshot.clone();
                return self.reset_to(&snapshot);
            }
            Origin::Module { module, args, .. } => module.module.module_space(args.as_ref())?,
        };
        self.backend = self.origin.thread().backend(space)?;
        (self.state, self.after_host, self.entry_checked) = self.origin.state();
        Ok(())
    }

    /// Moves the instance to the state `snapshot` holds. The snapshot must be
    /// of this instance's program, profile and gas model (either engine).
    pub fn reset_to(&mut self, snapshot: &Snapshot) -> Result<(), Error> {
        let frozen = &snapshot.0;
        if !self.module().same_program(&frozen.module) {
            return Err(Error::SnapshotMismatch);
        }
        self.backend = self.origin.thread().backend(frozen.space.clone())?;
        self.state = frozen.state;
        self.after_host = frozen.after_host;
        self.entry_checked = frozen.entry_checked;
        Ok(())
    }
}

/// What a host call wants to happen next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostResult {
    /// Resume the guest after the `ecalli`.
    Continue,
    /// End the run with this exit (e.g. out-of-gas, panic).
    Exit(Exit),
    /// Stop and return the host-call exit to the caller unhandled.
    Stop,
}

/// Host functions called from `ecalli`. The instance's registers, gas and
/// memory are the guest's at the call; the pc is the `ecalli`'s.
pub trait HostCalls {
    /// Handles host call `id`.
    fn call(&mut self, id: u32, instance: &mut Instance) -> HostResult;
}
