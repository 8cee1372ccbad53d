//! Stopping metered guests (`meter.rs`): their loop headers and function entries poll a byte in
//! each core module's flag memory, and the engine's ticker thread sets that byte when a call's
//! deadline has passed or its caller set the instance's interrupt cell.
//!
//! The guest thread registers each flag record while the component is instantiated (the
//! `register` import, called before the module's own start function), arms the watch around
//! every call, and releases it before the store, and with it the memories, goes away. The
//! ticker holds the watch's lock while it writes, so it never writes to a freed memory.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::meter::FLAG_BYTES;

/// Why the ticker stopped a call.
pub const STOP_TIMEOUT: u8 = 1;
pub const STOP_CANCELLED: u8 = 2;

/// What a metered module's trap left in its flag record (byte 1).
pub const TRAP_FUEL: u8 = 1;
pub const TRAP_STOPPED: u8 = 2;

const NOT_ARMED: u64 = u64::MAX;

/// The first byte of one module's flag record, in its flag memory (a page that never moves:
/// its minimum is its maximum).
struct Flag(NonNull<u8>);

// SAFETY: only touched through atomics, and only while the memory is alive (see the module docs).
unsafe impl Send for Flag {}

impl Flag {
    fn byte(&self, i: usize) -> &AtomicU8 {
        // SAFETY: the record has FLAG_BYTES bytes; the memory outlives the registration.
        unsafe { AtomicU8::from_ptr(self.0.as_ptr().add(i)) }
    }

    fn fuel(&self) -> i64 {
        // Bytes 8..16, written by the trapping guest on this thread before the trap unwound;
        // unaligned read, as wasm stored it (little-endian).
        let mut b = [0u8; 8];
        for (i, v) in b.iter_mut().enumerate() {
            *v = self.byte(8 + i).load(Ordering::Relaxed);
        }
        i64::from_le_bytes(b)
    }
}

/// The interrupt cell of an instance (`interrupt.rs`), kept alive by the store's
/// `InterruptCell` until [`Watch::release`].
struct Cell(NonNull<AtomicI32>);

// SAFETY: shared memory meant for atomic access from any thread (see `InterruptCell`).
unsafe impl Send for Cell {}

struct Inner {
    flags: Vec<Flag>,
    cell: Option<Cell>,
}

/// The stop state of one metered instance.
pub struct Watch {
    inner: Mutex<Inner>,
    /// The tick of the engine's clock at which the current call times out; NOT_ARMED between calls.
    deadline: AtomicU64,
    stop: AtomicU8,
    /// The fuel the current call (or instantiation) started with: what `budget()` returns.
    pub budget: AtomicI64,
}

impl Watch {
    /// `cell`: the instance's interrupt cell, valid until [`Watch::release`].
    pub fn new(cell: Option<NonNull<AtomicI32>>) -> Watch {
        Watch { inner: Mutex::new(Inner { flags: Vec::new(), cell: cell.map(Cell) }), deadline: AtomicU64::new(NOT_ARMED), stop: AtomicU8::new(0), budget: AtomicI64::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A module's flag record (the slice the `register` import received). Called on the guest
    /// thread during instantiation; the record must stay valid until [`Watch::release`].
    pub fn register(&self, record: &[u8]) -> Result<(), String> {
        if record.len() < FLAG_BYTES as usize {
            return Err(format!("the flag record is {} bytes, expected {FLAG_BYTES}", record.len()));
        }
        let ptr = NonNull::new(record.as_ptr() as *mut u8).ok_or("null flag record")?;
        let flag = Flag(ptr);
        // A stop already requested (during instantiation) applies to this module too.
        flag.byte(0).store(u8::from(self.stop.load(Ordering::Acquire) != 0), Ordering::Release);
        self.lock().flags.push(flag);
        Ok(())
    }

    /// Before a call: clear the flags and trap records, and time out at tick `deadline`.
    pub fn arm(&self, deadline: u64) {
        self.stop.store(0, Ordering::Release);
        for f in self.lock().flags.iter() {
            f.byte(0).store(0, Ordering::Release);
            f.byte(1).store(0, Ordering::Relaxed);
        }
        self.deadline.store(deadline, Ordering::Release);
    }

    /// After a call.
    pub fn disarm(&self) {
        self.deadline.store(NOT_ARMED, Ordering::Release);
    }

    fn cell_set(inner: &Inner) -> bool {
        // SAFETY: valid until `release`, which takes this lock.
        inner.cell.as_ref().is_some_and(|c| unsafe { c.0.as_ref() }.load(Ordering::Relaxed) != 0)
    }

    /// The ticker: stop an armed call whose caller cancelled it or whose deadline is `now`.
    fn tick(&self, now: u64) {
        let deadline = self.deadline.load(Ordering::Acquire);
        if deadline == NOT_ARMED || self.stop.load(Ordering::Acquire) != 0 {
            return;
        }
        let inner = self.lock();
        let why = if Self::cell_set(&inner) {
            STOP_CANCELLED
        } else if now >= deadline {
            STOP_TIMEOUT
        } else {
            return;
        };
        self.stop.store(why, Ordering::Release);
        for f in inner.flags.iter() {
            f.byte(0).store(1, Ordering::Release);
        }
    }

    /// Why the ticker stopped the last call (0: it did not).
    pub fn stopped(&self) -> u8 {
        self.stop.load(Ordering::Acquire)
    }

    /// After a trap: the record a module's trap left (kind, fuel global then), if any.
    pub fn trap_record(&self) -> Option<(u8, i64)> {
        self.lock().flags.iter().find_map(|f| {
            let kind = f.byte(1).load(Ordering::Acquire);
            (kind != 0).then(|| (kind, f.fuel()))
        })
    }

    /// Before the store (and so the flag memories) is dropped: forget every record.
    pub fn release(&self) {
        self.disarm();
        let mut inner = self.lock();
        inner.flags.clear();
        inner.cell = None;
    }
}

/// The watches an engine's ticker looks at, once per tick.
#[derive(Clone, Default)]
pub struct Watches(Arc<Mutex<Vec<Weak<Watch>>>>);

impl Watches {
    pub fn add(&self, w: &Arc<Watch>) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Forget dropped watches now and then rather than on every tick.
        if g.len() >= 64 && g.len().is_power_of_two() {
            g.retain(|w| w.strong_count() > 0);
        }
        g.push(Arc::downgrade(w));
    }

    /// Called by the ticker thread after it advanced the clock to `now`.
    pub fn tick(&self, now: u64) {
        let live: Vec<Arc<Watch>> = {
            let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
            g.retain(|w| w.strong_count() > 0);
            g.iter().filter_map(Weak::upgrade).collect()
        };
        for w in live {
            w.tick(now);
        }
    }
}
