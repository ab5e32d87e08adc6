//! The PVM instruction set, declared once.
//!
//! Every instruction appears exactly once in `isa_table!`'s invocation below,
//! with its opcode byte in each [`Profile`], mnemonic, operand class,
//! terminator flag, register use and pipeline gas parameters (spec §6, §7.1,
//! §8.2). Everything else — the decoder, both engines, the disassembler, the
//! gas models and the fuzz generators — consumes the generated [`Opcode`] enum
//! through exhaustive `match`es, so an instruction a consumer forgets to
//! handle is a compile error.

use std::fmt;

/// Which Gray Paper revision's instruction numbering, validation and gas
/// rules apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Profile {
    /// GP 0.8.0 draft (PVM vectors v0.5): `unlikely`, no `sbrk`, blob
    /// validation, pipeline gas. The default.
    #[default]
    P8,
    /// GP 0.7.2 (PVM vectors v0.4): `sbrk`, no validation, unit gas.
    P7,
}

impl Profile {
    /// Both profiles, P8 first.
    pub const ALL: [Profile; 2] = [Profile::P8, Profile::P7];

    /// The lower-case name used on the command line (`p8`, `p7`).
    pub const fn name(self) -> &'static str {
        match self {
            Profile::P8 => "p8",
            Profile::P7 => "p7",
        }
    }

    /// The profile byte an [`Image`](crate::image::Image) records (8, 7).
    pub const fn image_byte(self) -> u8 {
        match self {
            Profile::P8 => 8,
            Profile::P7 => 7,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an instruction's operand bytes are laid out (spec §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OperandClass {
    /// No operands.
    None,
    /// One immediate `X`.
    Imm,
    /// `rA` and a full 8-byte immediate.
    RegImm64,
    /// Two immediates `X`, `Y`.
    ImmImm,
    /// One branch offset `T`.
    Off,
    /// `rA` and an immediate `X`.
    RegImm,
    /// `rA` and two immediates `X`, `Y`.
    RegImmImm,
    /// `rA`, an immediate `X` and a branch offset `T`.
    RegImmOff,
    /// `rD` (low nibble) and `rA` (high nibble).
    RegReg,
    /// `rA`, `rB` and an immediate `X`.
    RegRegImm,
    /// `rA`, `rB` and a branch offset `T`.
    RegRegOff,
    /// `rA`, `rB` and two immediates `X`, `Y`.
    RegRegImmImm,
    /// `rA`, `rB` and `rD`.
    RegRegReg,
}

/// Which registers an instruction reads and writes, for the pipeline gas
/// model's dependency tracking (spec §8.2, "Register sets").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegUse {
    /// Reads nothing, writes nothing.
    Nothing,
    /// Writes `rA`.
    WriteA,
    /// Reads `rA`.
    ReadA,
    /// Reads `rA`, writes `rD`.
    ReadAWriteD,
    /// Reads `rA` and `rB`.
    ReadAB,
    /// Reads `rB`, writes `rA`.
    ReadBWriteA,
    /// Reads `rA` and `rB`, writes `rA` (immediate conditional moves: the
    /// destination counts as a source, open question Q2).
    ReadABWriteA,
    /// Reads `rA` and `rB`, writes `rD`.
    ReadABWriteD,
    /// Reads `rA`, `rB` and `rD`, writes `rD` (register conditional moves:
    /// the destination counts as a source, open question Q2).
    ReadABDWriteD,
}

/// An instruction's result latency in the pipeline model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Latency {
    /// A fixed number of cycles.
    Cycles(u8),
    /// A branch: 1 cycle when the fall-through or target byte is `trap` or
    /// `unlikely`, otherwise 20 (spec §8.2).
    Branch,
}

/// An instruction's decode-slot cost in the pipeline model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeSlots {
    /// A fixed number of slots.
    Slots(u8),
    /// `ovl(a, b)`: `a` if the source and destination register sets meet,
    /// else `b`.
    Overlap(u8, u8),
    /// `ovs(a, b)`: `a` if the shifted register `rA` is the destination `rD`,
    /// else `b`.
    ShiftOverlap(u8, u8),
}

/// Execution units an instruction occupies, as counts of
/// (ALU, LOAD, STORE, MUL, DIV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Units(pub [u8; 5]);

impl Units {
    /// No execution unit (handled in the front end).
    pub const NONE: Units = Units([0, 0, 0, 0, 0]);
    /// One ALU.
    pub const ALU: Units = Units([1, 0, 0, 0, 0]);
    /// ALU and a load unit.
    pub const LOAD: Units = Units([1, 1, 0, 0, 0]);
    /// ALU and a store unit.
    pub const STORE: Units = Units([1, 0, 1, 0, 0]);
    /// ALU and the multiplier.
    pub const MUL: Units = Units([1, 0, 0, 1, 0]);
    /// ALU and the divider.
    pub const DIV: Units = Units([1, 0, 0, 0, 1]);
}

/// The pipeline gas parameters of one instruction (spec §8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PipelineParams {
    /// Cycles until the result is ready.
    pub latency: Latency,
    /// Decode slots used.
    pub decode: DecodeSlots,
    /// Execution units needed.
    pub units: Units,
}

/// Number of distinct instructions across both profiles (139 each; `sbrk` is
/// P7-only and `unlikely` P8-only).
pub const OPCODE_COUNT: usize = 140;

macro_rules! isa_table {
    ($d:tt $(
        $name:ident $mnemonic:literal
            p8 $p8:expr, p7 $p7:expr,
            $class:ident, term $term:literal, $regs:ident,
            lat $lat:expr, dec $dec:expr, $units:ident;
    )*) => {
        /// Calls `$callback! { PREFIX Trap, Fallthrough, … }`: the leading
        /// tokens given, then every [`Opcode`] variant name in table order,
        /// each followed by a comma. For consumers that generate code per
        /// instruction (a dispatch enum, say) from the one table.
        #[macro_export]
        macro_rules! with_opcodes {
            ($d callback:ident $d($d prefix:tt)*) => {
                $d callback! { $d($d prefix)* $($name,)* }
            };
        }

        /// A PVM instruction, independent of profile. Its byte in a given
        /// profile is [`Opcode::code`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Opcode {
            $(
                #[doc = concat!("`", $mnemonic, "`")]
                $name,
            )*
        }

        impl Opcode {
            /// Every instruction of both profiles, in table order.
            pub const ALL: [Opcode; OPCODE_COUNT] = [$(Opcode::$name),*];

            /// The mnemonic used by the spec and the disassembler.
            pub const fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$name => $mnemonic,)* }
            }

            /// The opcode byte in `profile`, or `None` if the instruction
            /// does not exist there.
            pub const fn code(self, profile: Profile) -> Option<u8> {
                match profile {
                    Profile::P8 => match self { $(Opcode::$name => $p8,)* },
                    Profile::P7 => match self { $(Opcode::$name => $p7,)* },
                }
            }

            /// The operand layout.
            #[inline]
            pub const fn class(self) -> OperandClass {
                const TABLE: [OperandClass; OPCODE_COUNT] = [$(OperandClass::$class),*];
                TABLE[self as usize]
            }

            /// Whether the instruction ends a basic block (spec §7.1).
            #[inline]
            pub const fn is_terminator(self) -> bool {
                const TABLE: [bool; OPCODE_COUNT] = [$($term),*];
                TABLE[self as usize]
            }

            /// Registers read and written, for the pipeline gas model.
            #[inline]
            pub const fn reg_use(self) -> RegUse {
                const TABLE: [RegUse; OPCODE_COUNT] = [$(RegUse::$regs),*];
                TABLE[self as usize]
            }

            /// Pipeline gas parameters (spec §8.2).
            #[inline]
            pub const fn pipeline(self) -> PipelineParams {
                use DecodeSlots::*;
                use Latency::*;
                const TABLE: [PipelineParams; OPCODE_COUNT] = [$(PipelineParams {
                    latency: $lat,
                    decode: $dec,
                    units: Units::$units,
                }),*];
                TABLE[self as usize]
            }
        }
    };
}

isa_table! {
    $
    // NONE
    Trap "trap"                         p8 Some(0),   p7 Some(0),   None, term true,  Nothing, lat Cycles(2), dec Slots(1), NONE;
    Fallthrough "fallthrough"           p8 Some(1),   p7 Some(1),   None, term true,  Nothing, lat Cycles(2), dec Slots(1), NONE;
    Unlikely "unlikely"                 p8 Some(2),   p7 None,      None, term false, Nothing, lat Cycles(40), dec Slots(1), NONE;
    // IMM
    Ecalli "ecalli"                     p8 Some(10),  p7 Some(10),  Imm, term false, Nothing, lat Cycles(100), dec Slots(4), ALU;
    // REG_IMM64
    LoadImm64 "load_imm_64"             p8 Some(20),  p7 Some(20),  RegImm64, term false, WriteA, lat Cycles(1), dec Slots(2), NONE;
    // IMM_IMM
    StoreImmU8 "store_imm_u8"           p8 Some(30),  p7 Some(30),  ImmImm, term false, Nothing, lat Cycles(25), dec Slots(1), STORE;
    StoreImmU16 "store_imm_u16"         p8 Some(31),  p7 Some(31),  ImmImm, term false, Nothing, lat Cycles(25), dec Slots(1), STORE;
    StoreImmU32 "store_imm_u32"         p8 Some(32),  p7 Some(32),  ImmImm, term false, Nothing, lat Cycles(25), dec Slots(1), STORE;
    StoreImmU64 "store_imm_u64"         p8 Some(33),  p7 Some(33),  ImmImm, term false, Nothing, lat Cycles(25), dec Slots(1), STORE;
    // OFF
    Jump "jump"                         p8 Some(40),  p7 Some(40),  Off, term true, Nothing, lat Cycles(15), dec Slots(1), NONE;
    // REG_IMM
    JumpInd "jump_ind"                  p8 Some(50),  p7 Some(50),  RegImm, term true,  ReadA,  lat Cycles(22), dec Slots(1), NONE;
    LoadImm "load_imm"                  p8 Some(51),  p7 Some(51),  RegImm, term false, WriteA, lat Cycles(1), dec Slots(1), NONE;
    LoadU8 "load_u8"                    p8 Some(52),  p7 Some(52),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadI8 "load_i8"                    p8 Some(53),  p7 Some(53),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadU16 "load_u16"                  p8 Some(54),  p7 Some(54),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadI16 "load_i16"                  p8 Some(55),  p7 Some(55),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadU32 "load_u32"                  p8 Some(56),  p7 Some(56),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadI32 "load_i32"                  p8 Some(57),  p7 Some(57),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadU64 "load_u64"                  p8 Some(58),  p7 Some(58),  RegImm, term false, WriteA, lat Cycles(25), dec Slots(1), LOAD;
    StoreU8 "store_u8"                  p8 Some(59),  p7 Some(59),  RegImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreU16 "store_u16"                p8 Some(60),  p7 Some(60),  RegImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreU32 "store_u32"                p8 Some(61),  p7 Some(61),  RegImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreU64 "store_u64"                p8 Some(62),  p7 Some(62),  RegImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    // REG_IMM_IMM
    StoreImmIndU8 "store_imm_ind_u8"    p8 Some(70),  p7 Some(70),  RegImmImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreImmIndU16 "store_imm_ind_u16"  p8 Some(71),  p7 Some(71),  RegImmImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreImmIndU32 "store_imm_ind_u32"  p8 Some(72),  p7 Some(72),  RegImmImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    StoreImmIndU64 "store_imm_ind_u64"  p8 Some(73),  p7 Some(73),  RegImmImm, term false, ReadA, lat Cycles(25), dec Slots(1), STORE;
    // REG_IMM_OFF
    LoadImmJump "load_imm_jump"         p8 Some(80),  p7 Some(80),  RegImmOff, term true, WriteA, lat Cycles(15), dec Slots(1), NONE;
    BranchEqImm "branch_eq_imm"         p8 Some(81),  p7 Some(81),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchNeImm "branch_ne_imm"         p8 Some(82),  p7 Some(82),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchLtUImm "branch_lt_u_imm"      p8 Some(83),  p7 Some(83),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchLeUImm "branch_le_u_imm"      p8 Some(84),  p7 Some(84),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchGeUImm "branch_ge_u_imm"      p8 Some(85),  p7 Some(85),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchGtUImm "branch_gt_u_imm"      p8 Some(86),  p7 Some(86),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchLtSImm "branch_lt_s_imm"      p8 Some(87),  p7 Some(87),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchLeSImm "branch_le_s_imm"      p8 Some(88),  p7 Some(88),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchGeSImm "branch_ge_s_imm"      p8 Some(89),  p7 Some(89),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    BranchGtSImm "branch_gt_s_imm"      p8 Some(90),  p7 Some(90),  RegImmOff, term true, ReadA, lat Branch, dec Slots(1), ALU;
    // REG_REG (numbering differs between profiles)
    MoveReg "move_reg"                  p8 Some(100), p7 Some(100), RegReg, term false, ReadAWriteD, lat Cycles(0), dec Slots(1), NONE;
    Sbrk "sbrk"                         p8 None,      p7 Some(101), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    CountSetBits64 "count_set_bits_64"  p8 Some(101), p7 Some(102), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    CountSetBits32 "count_set_bits_32"  p8 Some(102), p7 Some(103), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    LeadingZeroBits64 "leading_zero_bits_64" p8 Some(103), p7 Some(104), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    LeadingZeroBits32 "leading_zero_bits_32" p8 Some(104), p7 Some(105), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    TrailingZeroBits64 "trailing_zero_bits_64" p8 Some(105), p7 Some(106), RegReg, term false, ReadAWriteD, lat Cycles(2), dec Slots(1), ALU;
    TrailingZeroBits32 "trailing_zero_bits_32" p8 Some(106), p7 Some(107), RegReg, term false, ReadAWriteD, lat Cycles(2), dec Slots(1), ALU;
    SignExtend8 "sign_extend_8"         p8 Some(107), p7 Some(108), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    SignExtend16 "sign_extend_16"       p8 Some(108), p7 Some(109), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    ZeroExtend16 "zero_extend_16"       p8 Some(109), p7 Some(110), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Slots(1), ALU;
    ReverseBytes "reverse_bytes"        p8 Some(110), p7 Some(111), RegReg, term false, ReadAWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    // REG_REG_IMM
    StoreIndU8 "store_ind_u8"           p8 Some(120), p7 Some(120), RegRegImm, term false, ReadAB, lat Cycles(25), dec Slots(1), STORE;
    StoreIndU16 "store_ind_u16"         p8 Some(121), p7 Some(121), RegRegImm, term false, ReadAB, lat Cycles(25), dec Slots(1), STORE;
    StoreIndU32 "store_ind_u32"         p8 Some(122), p7 Some(122), RegRegImm, term false, ReadAB, lat Cycles(25), dec Slots(1), STORE;
    StoreIndU64 "store_ind_u64"         p8 Some(123), p7 Some(123), RegRegImm, term false, ReadAB, lat Cycles(25), dec Slots(1), STORE;
    LoadIndU8 "load_ind_u8"             p8 Some(124), p7 Some(124), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndI8 "load_ind_i8"             p8 Some(125), p7 Some(125), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndU16 "load_ind_u16"           p8 Some(126), p7 Some(126), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndI16 "load_ind_i16"           p8 Some(127), p7 Some(127), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndU32 "load_ind_u32"           p8 Some(128), p7 Some(128), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndI32 "load_ind_i32"           p8 Some(129), p7 Some(129), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    LoadIndU64 "load_ind_u64"           p8 Some(130), p7 Some(130), RegRegImm, term false, ReadBWriteA, lat Cycles(25), dec Slots(1), LOAD;
    AddImm32 "add_imm_32"               p8 Some(131), p7 Some(131), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Overlap(2, 3), ALU;
    AndImm "and_imm"                    p8 Some(132), p7 Some(132), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    XorImm "xor_imm"                    p8 Some(133), p7 Some(133), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    OrImm "or_imm"                      p8 Some(134), p7 Some(134), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    MulImm32 "mul_imm_32"               p8 Some(135), p7 Some(135), RegRegImm, term false, ReadBWriteA, lat Cycles(4), dec Overlap(2, 3), MUL;
    SetLtUImm "set_lt_u_imm"            p8 Some(136), p7 Some(136), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Slots(3), ALU;
    SetLtSImm "set_lt_s_imm"            p8 Some(137), p7 Some(137), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Slots(3), ALU;
    ShloLImm32 "shlo_l_imm_32"          p8 Some(138), p7 Some(138), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Overlap(2, 3), ALU;
    ShloRImm32 "shlo_r_imm_32"          p8 Some(139), p7 Some(139), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Overlap(2, 3), ALU;
    SharRImm32 "shar_r_imm_32"          p8 Some(140), p7 Some(140), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Overlap(2, 3), ALU;
    NegAddImm32 "neg_add_imm_32"        p8 Some(141), p7 Some(141), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Slots(4), ALU;
    SetGtUImm "set_gt_u_imm"            p8 Some(142), p7 Some(142), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Slots(3), ALU;
    SetGtSImm "set_gt_s_imm"            p8 Some(143), p7 Some(143), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Slots(3), ALU;
    ShloLImmAlt32 "shlo_l_imm_alt_32"   p8 Some(144), p7 Some(144), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Slots(4), ALU;
    ShloRImmAlt32 "shlo_r_imm_alt_32"   p8 Some(145), p7 Some(145), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Slots(4), ALU;
    SharRImmAlt32 "shar_r_imm_alt_32"   p8 Some(146), p7 Some(146), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Slots(4), ALU;
    CmovIzImm "cmov_iz_imm"             p8 Some(147), p7 Some(147), RegRegImm, term false, ReadABWriteA, lat Cycles(2), dec Slots(3), ALU;
    CmovNzImm "cmov_nz_imm"             p8 Some(148), p7 Some(148), RegRegImm, term false, ReadABWriteA, lat Cycles(2), dec Slots(3), ALU;
    AddImm64 "add_imm_64"               p8 Some(149), p7 Some(149), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    MulImm64 "mul_imm_64"               p8 Some(150), p7 Some(150), RegRegImm, term false, ReadBWriteA, lat Cycles(3), dec Overlap(1, 2), MUL;
    ShloLImm64 "shlo_l_imm_64"          p8 Some(151), p7 Some(151), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    ShloRImm64 "shlo_r_imm_64"          p8 Some(152), p7 Some(152), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    SharRImm64 "shar_r_imm_64"          p8 Some(153), p7 Some(153), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    NegAddImm64 "neg_add_imm_64"        p8 Some(154), p7 Some(154), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Slots(3), ALU;
    ShloLImmAlt64 "shlo_l_imm_alt_64"   p8 Some(155), p7 Some(155), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Slots(3), ALU;
    ShloRImmAlt64 "shlo_r_imm_alt_64"   p8 Some(156), p7 Some(156), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Slots(3), ALU;
    SharRImmAlt64 "shar_r_imm_alt_64"   p8 Some(157), p7 Some(157), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Slots(3), ALU;
    RotR64Imm "rot_r_64_imm"            p8 Some(158), p7 Some(158), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Overlap(1, 2), ALU;
    RotR64ImmAlt "rot_r_64_imm_alt"     p8 Some(159), p7 Some(159), RegRegImm, term false, ReadBWriteA, lat Cycles(1), dec Slots(3), ALU;
    RotR32Imm "rot_r_32_imm"            p8 Some(160), p7 Some(160), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Overlap(2, 3), ALU;
    RotR32ImmAlt "rot_r_32_imm_alt"     p8 Some(161), p7 Some(161), RegRegImm, term false, ReadBWriteA, lat Cycles(2), dec Slots(4), ALU;
    // REG_REG_OFF
    BranchEq "branch_eq"                p8 Some(170), p7 Some(170), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    BranchNe "branch_ne"                p8 Some(171), p7 Some(171), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    BranchLtU "branch_lt_u"             p8 Some(172), p7 Some(172), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    BranchLtS "branch_lt_s"             p8 Some(173), p7 Some(173), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    BranchGeU "branch_ge_u"             p8 Some(174), p7 Some(174), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    BranchGeS "branch_ge_s"             p8 Some(175), p7 Some(175), RegRegOff, term true, ReadAB, lat Branch, dec Slots(1), ALU;
    // REG_REG_IMM_IMM
    LoadImmJumpInd "load_imm_jump_ind"  p8 Some(180), p7 Some(180), RegRegImmImm, term true, ReadBWriteA, lat Cycles(22), dec Slots(1), NONE;
    // REG_REG_REG
    Add32 "add_32"                      p8 Some(190), p7 Some(190), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec Overlap(2, 3), ALU;
    Sub32 "sub_32"                      p8 Some(191), p7 Some(191), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec Overlap(2, 3), ALU;
    Mul32 "mul_32"                      p8 Some(192), p7 Some(192), RegRegReg, term false, ReadABWriteD, lat Cycles(4), dec Overlap(2, 3), MUL;
    DivU32 "div_u_32"                   p8 Some(193), p7 Some(193), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    DivS32 "div_s_32"                   p8 Some(194), p7 Some(194), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    RemU32 "rem_u_32"                   p8 Some(195), p7 Some(195), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    RemS32 "rem_s_32"                   p8 Some(196), p7 Some(196), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    ShloL32 "shlo_l_32"                 p8 Some(197), p7 Some(197), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec ShiftOverlap(3, 4), ALU;
    ShloR32 "shlo_r_32"                 p8 Some(198), p7 Some(198), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec ShiftOverlap(3, 4), ALU;
    SharR32 "shar_r_32"                 p8 Some(199), p7 Some(199), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec ShiftOverlap(3, 4), ALU;
    Add64 "add_64"                      p8 Some(200), p7 Some(200), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    Sub64 "sub_64"                      p8 Some(201), p7 Some(201), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    Mul64 "mul_64"                      p8 Some(202), p7 Some(202), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Overlap(1, 2), MUL;
    DivU64 "div_u_64"                   p8 Some(203), p7 Some(203), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    DivS64 "div_s_64"                   p8 Some(204), p7 Some(204), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    RemU64 "rem_u_64"                   p8 Some(205), p7 Some(205), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    RemS64 "rem_s_64"                   p8 Some(206), p7 Some(206), RegRegReg, term false, ReadABWriteD, lat Cycles(60), dec Slots(4), DIV;
    ShloL64 "shlo_l_64"                 p8 Some(207), p7 Some(207), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec ShiftOverlap(2, 3), ALU;
    ShloR64 "shlo_r_64"                 p8 Some(208), p7 Some(208), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec ShiftOverlap(2, 3), ALU;
    SharR64 "shar_r_64"                 p8 Some(209), p7 Some(209), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec ShiftOverlap(2, 3), ALU;
    And "and"                           p8 Some(210), p7 Some(210), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    Xor "xor"                           p8 Some(211), p7 Some(211), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    Or "or"                             p8 Some(212), p7 Some(212), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec Overlap(1, 2), ALU;
    MulUpperSS "mul_upper_s_s"          p8 Some(213), p7 Some(213), RegRegReg, term false, ReadABWriteD, lat Cycles(4), dec Slots(4), MUL;
    MulUpperUU "mul_upper_u_u"          p8 Some(214), p7 Some(214), RegRegReg, term false, ReadABWriteD, lat Cycles(4), dec Slots(4), MUL;
    MulUpperSU "mul_upper_s_u"          p8 Some(215), p7 Some(215), RegRegReg, term false, ReadABWriteD, lat Cycles(6), dec Slots(4), MUL;
    SetLtU "set_lt_u"                   p8 Some(216), p7 Some(216), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Slots(3), ALU;
    SetLtS "set_lt_s"                   p8 Some(217), p7 Some(217), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Slots(3), ALU;
    CmovIz "cmov_iz"                    p8 Some(218), p7 Some(218), RegRegReg, term false, ReadABDWriteD, lat Cycles(2), dec Slots(2), ALU;
    CmovNz "cmov_nz"                    p8 Some(219), p7 Some(219), RegRegReg, term false, ReadABDWriteD, lat Cycles(2), dec Slots(2), ALU;
    RotL64 "rot_l_64"                   p8 Some(220), p7 Some(220), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec ShiftOverlap(2, 3), ALU;
    RotL32 "rot_l_32"                   p8 Some(221), p7 Some(221), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec ShiftOverlap(3, 4), ALU;
    RotR64 "rot_r_64"                   p8 Some(222), p7 Some(222), RegRegReg, term false, ReadABWriteD, lat Cycles(1), dec ShiftOverlap(2, 3), ALU;
    RotR32 "rot_r_32"                   p8 Some(223), p7 Some(223), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec ShiftOverlap(3, 4), ALU;
    AndInv "and_inv"                    p8 Some(224), p7 Some(224), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec Slots(3), ALU;
    OrInv "or_inv"                      p8 Some(225), p7 Some(225), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec Slots(3), ALU;
    Xnor "xnor"                         p8 Some(226), p7 Some(226), RegRegReg, term false, ReadABWriteD, lat Cycles(2), dec Overlap(2, 3), ALU;
    Max "max"                           p8 Some(227), p7 Some(227), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Overlap(2, 3), ALU;
    MaxU "max_u"                        p8 Some(228), p7 Some(228), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Overlap(2, 3), ALU;
    Min "min"                           p8 Some(229), p7 Some(229), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Overlap(2, 3), ALU;
    MinU "min_u"                        p8 Some(230), p7 Some(230), RegRegReg, term false, ReadABWriteD, lat Cycles(3), dec Overlap(2, 3), ALU;
}

/// Per-profile byte → instruction lookup tables, built at compile time from
/// the table above.
const fn decode_table(profile: Profile) -> [Option<Opcode>; 256] {
    let mut table = [None; 256];
    let mut i = 0;
    while i < OPCODE_COUNT {
        let op = Opcode::ALL[i];
        if let Some(code) = op.code(profile) {
            table[code as usize] = Some(op);
        }
        i += 1;
    }
    table
}

static DECODE_P8: [Option<Opcode>; 256] = decode_table(Profile::P8);
static DECODE_P7: [Option<Opcode>; 256] = decode_table(Profile::P7);

impl Opcode {
    /// The instruction with byte `code` in `profile`, if any.
    #[inline]
    pub fn from_code(profile: Profile, code: u8) -> Option<Opcode> {
        match profile {
            Profile::P8 => DECODE_P8[code as usize],
            Profile::P7 => DECODE_P7[code as usize],
        }
    }

    /// The instruction with this mnemonic, if any.
    pub fn from_mnemonic(mnemonic: &str) -> Option<Opcode> {
        Opcode::ALL.into_iter().find(|op| op.mnemonic() == mnemonic)
    }

    /// Whether the instruction exists in `profile`.
    pub const fn in_profile(self, profile: Profile) -> bool {
        self.code(profile).is_some()
    }

    /// Whether the instruction accesses guest memory (loads and stores).
    pub const fn is_memory_access(self) -> bool {
        let units = self.pipeline().units.0;
        units[1] != 0 || units[2] != 0
    }

    /// For an indirect load (`load_ind_*`): the bytes it reads and whether
    /// it sign-extends them.
    pub const fn indirect_load(self) -> Option<(u8, bool)> {
        Some(match self {
            Opcode::LoadIndU8 => (1, false),
            Opcode::LoadIndI8 => (1, true),
            Opcode::LoadIndU16 => (2, false),
            Opcode::LoadIndI16 => (2, true),
            Opcode::LoadIndU32 => (4, false),
            Opcode::LoadIndI32 => (4, true),
            Opcode::LoadIndU64 => (8, false),
            _ => return None,
        })
    }

    /// For an indirect store (`store_ind_*`, `store_imm_ind_*`): the bytes
    /// it writes and whether it stores an immediate (not a register).
    pub const fn indirect_store(self) -> Option<(u8, bool)> {
        Some(match self {
            Opcode::StoreIndU8 => (1, false),
            Opcode::StoreIndU16 => (2, false),
            Opcode::StoreIndU32 => (4, false),
            Opcode::StoreIndU64 => (8, false),
            Opcode::StoreImmIndU8 => (1, true),
            Opcode::StoreImmIndU16 => (2, true),
            Opcode::StoreImmIndU32 => (4, true),
            Opcode::StoreImmIndU64 => (8, true),
            _ => return None,
        })
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn each_profile_has_139_distinct_opcodes() {
        for profile in Profile::ALL {
            let codes: Vec<u8> = Opcode::ALL.iter().filter_map(|op| op.code(profile)).collect();
            assert_eq!(codes.len(), 139, "{profile}");
            assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 139, "{profile}");
        }
    }

    #[test]
    fn mnemonics_are_unique_and_round_trip() {
        let names: HashSet<_> = Opcode::ALL.iter().map(|op| op.mnemonic()).collect();
        assert_eq!(names.len(), OPCODE_COUNT);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_mnemonic(op.mnemonic()), Some(op));
        }
    }

    #[test]
    fn decode_tables_invert_code() {
        for profile in Profile::ALL {
            for byte in 0..=255u8 {
                if let Some(op) = Opcode::from_code(profile, byte) {
                    assert_eq!(op.code(profile), Some(byte));
                }
            }
        }
    }

    #[test]
    fn profiles_differ_only_in_none_and_reg_reg_groups() {
        for op in Opcode::ALL {
            let (p8, p7) = (op.code(Profile::P8), op.code(Profile::P7));
            if p8 != p7 {
                assert!(
                    matches!(op.class(), OperandClass::None | OperandClass::RegReg),
                    "{op} renumbered outside NONE/REG_REG"
                );
            }
        }
        assert_eq!(Opcode::ReverseBytes.code(Profile::P8), Some(110));
        assert_eq!(Opcode::ReverseBytes.code(Profile::P7), Some(111));
        assert_eq!(Opcode::from_code(Profile::P7, 2), None);
        assert_eq!(Opcode::from_code(Profile::P8, 2), Some(Opcode::Unlikely));
    }

    #[test]
    fn terminator_set_has_22_members() {
        let terms: Vec<_> = Opcode::ALL.iter().filter(|op| op.is_terminator()).collect();
        assert_eq!(terms.len(), 22);
        assert!(!Opcode::Ecalli.is_terminator());
        assert!(!Opcode::Unlikely.is_terminator());
    }

    #[test]
    fn memory_access_instructions_are_the_30_loads_and_stores() {
        let mem: Vec<_> = Opcode::ALL.iter().filter(|op| op.is_memory_access()).collect();
        assert_eq!(mem.len(), 14 + 16);
    }

    #[test]
    fn indirect_accesses_are_read_from_their_names() {
        // `load_ind_i16`: 2 bytes, sign-extended; `store_imm_ind_u32`: 4
        // bytes of an immediate.
        let width = |name: &str| match &name[name.len() - 2..] {
            "u8" | "i8" => 1,
            "16" => 2,
            "32" => 4,
            "64" => 8,
            other => panic!("{name}: width {other}"),
        };
        let (mut loads, mut stores) = (0, 0);
        for &op in Opcode::ALL.iter() {
            let name = op.mnemonic();
            let load = name.strip_prefix("load_ind_").map(|t| (width(name), t.starts_with('i')));
            let store = if name.starts_with("store_imm_ind_") {
                Some((width(name), true))
            } else {
                name.starts_with("store_ind_").then(|| (width(name), false))
            };
            assert_eq!(op.indirect_load(), load, "{name}");
            assert_eq!(op.indirect_store(), store, "{name}");
            loads += usize::from(load.is_some());
            stores += usize::from(store.is_some());
        }
        assert_eq!((loads, stores), (7, 8));
    }
}
