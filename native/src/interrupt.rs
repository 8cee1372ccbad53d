//! Ending a running guest: its own deadline (`TIMEOUT`) and its caller's cancellation
//! (`CANCELLED`), both on wasmtime's epoch callback.
//!
//! The guest runs inside a napi call on its JS thread, which nothing on that thread can
//! interrupt (a worker's `terminate()` waits for the call to return). An instance may therefore
//! be given an interrupt cell: an `Int32Array` on a `SharedArrayBuffer` that another thread sets
//! to non-zero (`Atomics.store(cell, 0, 1)`) to stop the guest. The store's epoch callback checks
//! it at every tick of the engine's epoch while the guest runs and then fails the call with
//! `CANCELLED`; without a cell the callback runs once, at the deadline.
//!
//! wasmtime does not tell the current epoch, so each engine counts its ticks in an [`EpochClock`]
//! too (incremented right before the engine's epoch); the deadline of a call is kept as a tick of
//! that clock, and the epoch deadline only says when to look next.

use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

use napi::sys;
use wasmtime::{Store, StoreContextMut, UpdateDeadline};

use crate::js::{self, JsRef, JsResult, RawEnv, RawValue};
use crate::state::HostState;
use crate::watch::Watches;

/// The ticks an engine's epoch has advanced (see the module docs), and the stop flags of the
/// engine's metered instances (`watch.rs`), which the ticker looks at after every tick.
#[derive(Clone, Default)]
pub struct EpochClock {
    ticks: Arc<AtomicU64>,
    pub watches: Watches,
}

impl EpochClock {
    /// Advance this clock, then the engines' epochs (in that order: the clock is never behind),
    /// then stop the metered calls whose time is up.
    pub fn tick(&self, engines: &[&wasmtime::Engine]) {
        let now = self.ticks.fetch_add(1, Ordering::AcqRel) + 1;
        for e in engines {
            e.increment_epoch();
        }
        self.watches.tick(now);
    }

    pub fn now(&self) -> u64 {
        self.ticks.load(Ordering::Acquire)
    }
}

/// The error the epoch callback fails a cancelled call with (`classify_exec` reports it as
/// `CANCELLED`).
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the run was cancelled by its caller")
    }
}

impl std::error::Error for Cancelled {}

/// An instance's interrupt cell: the first element of an `Int32Array` on a `SharedArrayBuffer`,
/// kept alive by a reference for as long as the store that reads it.
pub struct InterruptCell {
    cell: NonNull<AtomicI32>,
    _keep: JsRef,
}

// SAFETY: the cell is shared memory meant for atomic access from any thread; the reference is
// only dropped on its JS thread (see `JsRef`).
unsafe impl Send for InterruptCell {}
unsafe impl Sync for InterruptCell {}

impl InterruptCell {
    /// The cell of `value`, which must be an `Int32Array` of at least one element on a
    /// `SharedArrayBuffer` (whose memory never moves nor goes away while referenced).
    pub unsafe fn new(env: RawEnv, value: RawValue) -> JsResult<InterruptCell> {
        let mut is_ta = false;
        js_check(sys::napi_is_typedarray(env, value, &mut is_ta), "is typedarray")?;
        if !is_ta {
            return Err("interrupt must be an Int32Array on a SharedArrayBuffer".into());
        }
        let (mut ty, mut len, mut data, mut buffer, mut offset) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
        js_check(sys::napi_get_typedarray_info(env, value, &mut ty, &mut len, &mut data, &mut buffer, &mut offset), "typedarray info")?;
        if ty != sys::TypedarrayType::int32_array || len == 0 {
            return Err("interrupt must be an Int32Array (of at least one element) on a SharedArrayBuffer".into());
        }
        let mut global = ptr::null_mut();
        js_check(sys::napi_get_global(env, &mut global), "get global")?;
        let ctor = js::get(env, global, "SharedArrayBuffer")?;
        let mut shared = false;
        js_check(sys::napi_instanceof(env, buffer, ctor, &mut shared), "instanceof")?;
        if !shared {
            return Err("interrupt must be on a SharedArrayBuffer (another thread sets it)".into());
        }
        let cell = NonNull::new(data.cast::<AtomicI32>()).ok_or("interrupt: the Int32Array has no memory")?;
        if !cell.as_ptr().is_aligned() {
            return Err("interrupt: the Int32Array is not 4-byte aligned".into());
        }
        Ok(InterruptCell { cell, _keep: JsRef::new(env, value)? })
    }

    /// The cell itself, for a [`crate::watch::Watch`] (which must let go of it before this
    /// reference is dropped: `Watch::release`).
    pub fn cell(&self) -> NonNull<AtomicI32> {
        self.cell
    }

    pub fn is_set(&self) -> bool {
        // SAFETY: the reference keeps the shared memory alive; it is aligned and 4 bytes long.
        unsafe { self.cell.as_ref() }.load(Ordering::Relaxed) != 0
    }
}

fn js_check(status: sys::napi_status, what: &str) -> JsResult<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(format!("{what}: Node-API status {status}"))
    }
}

/// Arm the deadline of the next call: `ticks` from now. With an interrupt cell the callback
/// looks at it every tick; without, only at the deadline.
pub fn arm(store: &mut Store<HostState>, ticks: u64) {
    let data = store.data_mut();
    data.deadline_at = data.clock.now().saturating_add(ticks);
    let next = if data.interrupt.is_some() { ticks.min(1) } else { ticks };
    store.set_epoch_deadline(next);
}

/// The store's epoch callback: `CANCELLED` once the cell is set, `TIMEOUT` (wasmtime's
/// `Trap::Interrupt`) at the deadline, otherwise look again at the next tick (or the deadline).
pub fn on_epoch(cx: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    let st = cx.data();
    if st.interrupt.as_ref().is_some_and(InterruptCell::is_set) {
        return Err(Cancelled.into());
    }
    let now = st.clock.now();
    if now >= st.deadline_at {
        return Ok(UpdateDeadline::Interrupt);
    }
    let left = st.deadline_at - now;
    Ok(UpdateDeadline::Continue(if st.interrupt.is_some() { 1 } else { left }))
}
