//! What each `Store` holds: the resource limiter and, while a napi call is running the guest,
//! that call's `napi_env` and host function (the import bridge reads them from here).

use std::sync::Arc;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use crate::interrupt::{EpochClock, InterruptCell};
use crate::js::{JsRef, RawEnv, RawValue};
use crate::watch::Watch;

/// The napi call currently running the guest. Valid only until that call returns: the owner
/// sets it right before entering wasm and clears it right after (see `CallGuard`).
#[derive(Clone, Copy)]
pub struct CallCtx {
    pub env: RawEnv,
    pub host: Option<RawValue>,
}

// SAFETY: only read on the JS thread that set it, while the napi call that set it is on the
// stack; the store (and so this value) never leaves that thread while it is set.
unsafe impl Send for CallCtx {}
unsafe impl Sync for CallCtx {}

pub struct HostState {
    pub limiter: Limiter,
    pub call: Option<CallCtx>,
    /// A JS exception thrown by the host function during the current call; rethrown as-is.
    pub thrown: Option<JsRef>,
    /// jco's host convention for `result<T, E>` imports (`instantiateWithHost(…, { jcoResults:
    /// true })`): return = `ok`, throw = `err` (see `bridge.rs`). Fixed per instance.
    pub jco_results: bool,
    /// The engine's tick count, and the tick at which the current call times out (see
    /// `interrupt.rs`).
    pub clock: EpochClock,
    pub deadline_at: u64,
    /// Set by another thread to stop the guest with `CANCELLED` (`instantiateWithHost`'s
    /// `interrupt`). Fixed per instance.
    pub interrupt: Option<InterruptCell>,
    /// On an instrumented engine (`metered.rs`): the instance's stop flags and fuel of the
    /// current call, shared with the engine's ticker thread.
    pub watch: Option<Arc<Watch>>,
}

/// Limits of one instance (one `Store`).
#[derive(Clone, Debug, Default)]
pub struct LimitsSpec {
    /// Total bytes of linear memory across the instance's memories (also the per-memory cap).
    pub memory_bytes: Option<usize>,
    pub table_elements: Option<usize>,
    pub instances: Option<usize>,
    pub tables: Option<usize>,
    pub memories: Option<usize>,
}

/// `StoreLimits` (per-memory size, table elements, instance/table/memory counts;
/// `trap_on_grow_failure(false)`, so a refused `memory.grow` returns -1 to the guest) plus a cap on
/// the total memory of the instance and a record of refusals, which is how a trap that follows a
/// refused growth, or a refused initial size, is reported as `MEMORY_LIMIT`.
pub struct Limiter {
    inner: StoreLimits,
    total_cap: Option<usize>,
    /// Memory the rewrite of a metered component adds (its flag memories, `meter.rs`), not
    /// counted against the guest's cap.
    extra: usize,
    total: usize,
    pub memory_refused: Option<String>,
    pub table_refused: Option<String>,
    /// The size (bytes / elements) of the last refused growth.
    pub memory_requested: Option<usize>,
    pub table_requested: Option<usize>,
    /// Growths refused by the caps since the last clear (the guest saw -1, or the load failed).
    pub memory_refusals: u32,
    pub table_refusals: u32,
}

impl Limiter {
    pub fn new(spec: &LimitsSpec) -> Limiter {
        let mut b = StoreLimitsBuilder::new().trap_on_grow_failure(false);
        if let Some(m) = spec.memory_bytes {
            b = b.memory_size(m);
        }
        if let Some(t) = spec.table_elements {
            b = b.table_elements(t);
        }
        if let Some(n) = spec.instances {
            b = b.instances(n);
        }
        if let Some(n) = spec.tables {
            b = b.tables(n);
        }
        if let Some(n) = spec.memories {
            b = b.memories(n);
        }
        Limiter { inner: b.build(), total_cap: spec.memory_bytes, extra: 0, total: 0, memory_refused: None, table_refused: None, memory_requested: None, table_requested: None, memory_refusals: 0, table_refusals: 0 }
    }

    pub fn clear_refusals(&mut self) {
        self.memory_refused = None;
        self.table_refused = None;
        self.memory_requested = None;
        self.table_requested = None;
        self.memory_refusals = 0;
        self.table_refusals = 0;
    }

    /// Let `bytes` more be allocated than the cap (the flag memories of a metered component).
    pub fn allow_extra(&mut self, bytes: usize) {
        self.extra = self.extra.saturating_add(bytes);
    }

    pub fn memory_in_use(&self) -> usize {
        self.total
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let new_total = self.total.saturating_sub(current).saturating_add(desired);
        let total_ok = self.total_cap.is_none_or(|cap| new_total <= cap.saturating_add(self.extra));
        let ok = total_ok && self.inner.memory_growing(current, desired, maximum)?;
        if ok {
            self.total = new_total;
        } else {
            self.memory_refusals = self.memory_refusals.saturating_add(1);
            self.memory_requested = Some(desired);
            self.memory_refused = Some(match self.total_cap {
                Some(cap) => format!("growing a memory from {current} to {desired} bytes was refused (the instance may use {cap} bytes in all)"),
                None => format!("growing a memory from {current} to {desired} bytes was refused (over the memory's own maximum)"),
            });
        }
        Ok(ok)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = Some(format!("growing a memory failed: {error}"));
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let ok = self.inner.table_growing(current, desired, maximum)?;
        if !ok {
            self.table_refusals = self.table_refusals.saturating_add(1);
            self.table_requested = Some(desired);
            self.table_refused = Some(format!("growing a table from {current} to {desired} elements was refused"));
        }
        Ok(ok)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_refused = Some(format!("growing a table failed: {error}"));
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}
