//! [`BlockCosts`]: every block's gas cost, priced the first time it is
//! asked for.
//!
//! A block's cost depends on its code alone (spec §8.2), so pricing it when
//! execution first reaches it gives the value pricing every block at load
//! time would, while a load pays nothing for the blocks that never run.
//! Under the unit models the cost is the block's instruction count, read
//! off the block; only the pipeline model keeps a table.

use super::{BlockCoster, GasModel};
use crate::program::decode::Instruction;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

/// A cost not priced yet. No block is free: a unit-model block has at least
/// one instruction and a pipeline cost is at least 1 (spec §8.2).
pub const UNPRICED: u32 = 0;

/// The costs of one program's blocks, shared by every thread that runs it.
#[derive(Debug)]
pub(crate) struct BlockCosts {
    /// Pipeline model: each block's cost, or [`UNPRICED`]. Empty under the
    /// unit models.
    priced: Box<[AtomicU32]>,
}

impl BlockCosts {
    /// Nothing priced yet, for `blocks` blocks.
    pub fn new(model: GasModel, blocks: usize) -> BlockCosts {
        let priced = match model {
            GasModel::Pipeline => (0..blocks).map(|_| AtomicU32::new(UNPRICED)).collect(),
            GasModel::Block | GasModel::Instruction => Box::default(),
        };
        BlockCosts { priced }
    }

    /// The cost of block number `k`, of `len` instructions, whose body
    /// (block start through its terminator) `body` gives, in `code`
    /// (called only when the block is priced). Threads racing to price one
    /// block compute the same value, so either store is the answer.
    #[inline]
    pub fn get<'a>(&self, k: u32, len: u32, code: &[u8], body: impl FnOnce() -> &'a [Instruction]) -> u32 {
        let Some(slot) = self.priced.get(k as usize) else {
            return len;
        };
        match slot.load(Ordering::Relaxed) {
            UNPRICED => {
                let cost = price_pipeline(code, body());
                slot.store(cost, Ordering::Relaxed);
                cost
            }
            cost => cost,
        }
    }

    /// How many blocks are priced: those asked for under the pipeline model,
    /// all of `blocks` under the unit models.
    pub fn priced(&self, blocks: usize) -> usize {
        if self.priced.is_empty() {
            return blocks;
        }
        self.priced.iter().filter(|c| c.load(Ordering::Relaxed) != UNPRICED).count()
    }
}

impl Clone for BlockCosts {
    fn clone(&self) -> BlockCosts {
        let priced = self.priced.iter().map(|c| AtomicU32::new(c.load(Ordering::Relaxed))).collect();
        BlockCosts { priced }
    }
}

/// The pipeline cost of `body`, with this thread's buffers.
#[cold]
fn price_pipeline(code: &[u8], body: &[Instruction]) -> u32 {
    thread_local! {
        static COSTER: RefCell<BlockCoster> = RefCell::new(GasModel::Pipeline.coster());
    }
    // A fresh coster when this thread's is gone (thread exit) or in use.
    let cost = COSTER
        .try_with(|c| c.try_borrow_mut().ok().map(|mut c| c.cost(code, body)))
        .ok()
        .flatten()
        .unwrap_or_else(|| GasModel::Pipeline.coster().cost(code, body));
    debug_assert_ne!(cost, UNPRICED, "a pipeline cost is at least 1");
    cost.max(1)
}
