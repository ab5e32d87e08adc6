//! The buffer code generation assembles into, and the other per-compile
//! scratch, kept from one compile to the next by a
//! [`CompileContext`](crate::CompileContext).
//!
//! [`Assembler`] is dynasm's label and relocation registries over a byte
//! buffer, like `dynasmrt::VecAssembler`, except that resolving the labels
//! leaves the bytes in place (they are copied into executable memory from
//! there) and everything can be cleared without giving its memory back. A
//! compile takes a [`Scratch`] from its context and returns it, so loading
//! one module after another reuses the same multi-megabyte buffers instead
//! of allocating (and page-faulting in) fresh ones every time.

use super::Stub;
use dynasmrt::components::{LabelRegistry, PatchLoc, RelocRegistry};
use dynasmrt::x64::X64Relocation;
use dynasmrt::{AssemblyOffset, DynamicLabel, DynasmApi, DynasmError, DynasmLabelApi, LabelKind, TargetKind};

/// Only dynamic labels are supported (code generation uses no others); a
/// static label or reference is reported as an unknown label.
#[derive(Debug)]
pub(crate) struct Assembler {
    ops: Vec<u8>,
    labels: LabelRegistry,
    relocs: RelocRegistry<X64Relocation>,
    /// Labels that stand for code outside the buffer, each with its
    /// position relative to the buffer's start (wrapping: it may lie
    /// before it).
    external: Vec<(DynamicLabel, usize)>,
    error: Option<DynasmError>,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler {
            ops: Vec::new(),
            labels: LabelRegistry::new(),
            relocs: RelocRegistry::new(),
            external: Vec::new(),
            error: None,
        }
    }
}

impl Assembler {
    /// Empties the assembler, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.labels.clear();
        self.relocs.take_dynamics().for_each(drop);
        self.relocs.take_statics().for_each(drop);
        self.external.clear();
        self.error = None;
    }

    /// Makes `label`, which is never defined in the buffer, stand for the
    /// code at `offset` from the buffer's start (wrapping: code already in
    /// place before it). Only relative references (jumps) may use it.
    pub(crate) fn bind_external(&mut self, label: DynamicLabel, offset: usize) {
        self.external.push((label, offset));
    }

    /// A new label, defined later with `=>label`.
    pub(crate) fn new_dynamic_label(&mut self) -> DynamicLabel {
        self.labels.new_dynamic_label()
    }

    /// Reserves room for `bytes` more bytes of code.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.ops.reserve(bytes);
    }

    /// Resolves every reference to a label and returns the finished code.
    pub(crate) fn commit(&mut self) -> Result<&[u8], DynasmError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for (loc, id) in self.relocs.take_dynamics() {
            let target = match self.external.iter().find(|(label, _)| *label == id) {
                Some(&(_, offset)) => offset,
                None => self.labels.resolve_dynamic(id)?.0,
            };
            if loc.patch(&mut self.ops[loc.range(0)], 0, target).is_err() {
                return Err(DynasmError::ImpossibleRelocation(TargetKind::Dynamic(id)));
            }
        }
        Ok(&self.ops)
    }
}

impl Extend<u8> for Assembler {
    fn extend<T: IntoIterator<Item = u8>>(&mut self, iter: T) {
        self.ops.extend(iter)
    }
}

impl<'a> Extend<&'a u8> for Assembler {
    fn extend<T: IntoIterator<Item = &'a u8>>(&mut self, iter: T) {
        self.ops.extend(iter)
    }
}

impl DynasmApi for Assembler {
    fn offset(&self) -> AssemblyOffset {
        AssemblyOffset(self.ops.len())
    }

    fn push(&mut self, byte: u8) {
        self.ops.push(byte);
    }

    fn align(&mut self, alignment: usize, with: u8) {
        let pad = self.ops.len().wrapping_neg() % alignment;
        self.ops.resize(self.ops.len() + pad, with);
    }
}

impl DynasmLabelApi for Assembler {
    type Relocation = X64Relocation;

    fn local_label(&mut self, name: &'static str) {
        self.error = Some(DynasmError::UnknownLabel(LabelKind::Local(name)));
    }

    fn global_label(&mut self, name: &'static str) {
        self.error = Some(DynasmError::UnknownLabel(LabelKind::Global(name)));
    }

    fn dynamic_label(&mut self, id: DynamicLabel) {
        let offset = self.offset();
        if let Err(e) = self.labels.define_dynamic(id, offset) {
            self.error = Some(e);
        }
    }

    fn forward_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: X64Relocation) {
        self.local_label(name);
    }

    fn backward_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: X64Relocation) {
        self.local_label(name);
    }

    fn global_relocation(&mut self, name: &'static str, _: isize, _: u8, _: u8, _: X64Relocation) {
        self.global_label(name);
    }

    fn dynamic_relocation(&mut self, id: DynamicLabel, target: isize, field: u8, reference: u8, kind: X64Relocation) {
        let location = self.offset();
        self.relocs.add_dynamic(id, PatchLoc::new(location, target, field, reference, kind));
    }

    fn value_relocation(&mut self, value: usize, field: u8, reference: u8, kind: X64Relocation) {
        let loc = PatchLoc::new(self.offset(), 0, field, reference, kind);
        if loc.patch(&mut self.ops[loc.range(0)], 0, value).is_err() {
            self.error = Some(DynasmError::ImpossibleRelocation(TargetKind::Value(value)));
        }
    }
}

/// Everything a compile needs only while it runs.
#[derive(Default)]
pub(crate) struct Scratch {
    pub asm: Assembler,
    /// Per instruction: the label of its segment's gas prologue, if it
    /// starts one.
    pub prologues: Vec<Option<DynamicLabel>>,
    pub stubs: Vec<Stub>,
    /// Per instruction: whether it starts a 64-byte aligned segment.
    pub aligned: Vec<bool>,
    /// Per instruction: whether it starts a segment.
    pub segment_start: Vec<bool>,
}

impl Scratch {
    /// Empties everything, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.asm.clear();
        self.prologues.clear();
        self.stubs.clear();
        self.aligned.clear();
        self.segment_start.clear();
    }

    /// Whether everything is empty.
    #[cfg(test)]
    pub(crate) fn is_clear(&self) -> bool {
        self.asm.ops.is_empty()
            && self.prologues.is_empty()
            && self.stubs.is_empty()
            && self.aligned.is_empty()
            && self.segment_start.is_empty()
    }

    /// Bytes the code buffer can hold without growing.
    pub(crate) fn code_capacity(&self) -> usize {
        self.asm.ops.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::emit;

    /// `jmp` forward over a `nop` to a label.
    fn jump_over(asm: &mut Assembler) -> Vec<u8> {
        let label = asm.new_dynamic_label();
        emit!(asm ; jmp =>label ; nop ; =>label ; ret);
        asm.commit().unwrap().to_vec()
    }

    #[test]
    fn cleared_assemblers_start_over() {
        let mut asm = Assembler::default();
        let first = jump_over(&mut asm);
        assert_eq!(first, [0xE9, 1, 0, 0, 0, 0x90, 0xC3]);
        asm.clear();
        emit!(asm ; nop);
        asm.clear();
        assert_eq!(jump_over(&mut asm), first);
    }

    #[test]
    fn external_labels_are_code_before_or_after_the_buffer() {
        let mut asm = Assembler::default();
        let (before, after) = (asm.new_dynamic_label(), asm.new_dynamic_label());
        asm.bind_external(before, 0usize.wrapping_sub(0x10));
        asm.bind_external(after, 0x1000);
        emit!(asm ; jmp =>before ; je =>after);
        // `jmp rel32` ends at 5: -0x10 - 5; `je rel32` ends at 11: 0x1000 - 11.
        let mut expected = vec![0xE9];
        expected.extend((-0x15i32).to_le_bytes());
        expected.extend([0x0F, 0x84]);
        expected.extend((0x1000i32 - 11).to_le_bytes());
        assert_eq!(asm.commit().unwrap(), expected);
        asm.clear();
        emit!(asm ; jmp =>before);
        assert!(asm.commit().is_err(), "cleared with the rest");
    }

    #[test]
    fn undefined_and_static_labels_are_errors() {
        let mut asm = Assembler::default();
        let label = asm.new_dynamic_label();
        emit!(asm ; jmp =>label);
        assert!(matches!(asm.commit(), Err(DynasmError::UnknownLabel(LabelKind::Dynamic(_)))));
        asm.clear();
        emit!(asm ; start: ; jmp <start);
        assert!(matches!(asm.commit(), Err(DynasmError::UnknownLabel(LabelKind::Local("start")))));
    }
}
