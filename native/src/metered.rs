//! The host side of components metered by our instrumenter (`meter.rs`, `watch.rs`), for an
//! Engine created with `meter: 'instrumented'`:
//!
//! ```js
//! const metered = meterComponent(bytes, (i, core) => instrumentModule(core, { refuel: false, stopFlag: true }).bytes);
//! const engine = new Engine({ meter: 'instrumented', meterKey });
//! const c = engine.compileMetered(metered, cacheDir, sha256(bytes));   // later: compileComponent(bytes, cacheDir, key) finds it
//! ```
//!
//! Fuel: the component's fuel global is set to the budget before every call (`set`) and read
//! after it (`get`); a charge that drives it negative traps, leaving the global's value in the
//! module's flag record, so `FUEL_EXHAUSTED` reports what was consumed exactly. Time: the
//! engine's ticker sets the flags of a call whose deadline passed (`TIMEOUT`) or whose caller
//! set the interrupt cell (`CANCELLED`); the guest traps at its next loop header or function
//! entry, leaving the fuel global too. After any other trap the store refuses to enter the
//! component again, so the fuel of that call is not known: it is reported as 0.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi::{Env, JsValue, Unknown};
use napi_derive::napi;
use wasmtime::component::{Instance as ComponentInstance, Linker, TypedFunc, WasmList};
use wasmtime::{AsContextMut, Store};

use crate::errors::{classify_exec, Coded};
use crate::js;
use crate::meter::{self, MeterError, BUDGET_IMPORT, GET_EXPORT, REGISTER_IMPORT, SET_EXPORT};
use crate::state::HostState;
use crate::watch::{Watch, STOP_CANCELLED, TRAP_FUEL, TRAP_STOPPED};
use crate::{internal, throw};

/// A component rewritten around instrumented core modules by `meterComponent`: the only input
/// an instrumented engine compiles (`compileMetered`, `inspectMetered`), so plain bytes never
/// run unmetered on it.
#[napi]
pub struct MeteredComponent {
    pub(crate) bytes: Arc<Vec<u8>>,
    /// SHA-256 (hex) of the component it was made from: the key it is cached under.
    pub(crate) source_key: String,
    modules: u32,
}

#[napi]
impl MeteredComponent {
    /// Core modules metered.
    #[napi(getter)]
    pub fn modules(&self) -> u32 {
        self.modules
    }

    /// SHA-256 (hex) of the bytes it was metered from.
    #[napi(getter)]
    pub fn source_key(&self) -> String {
        self.source_key.clone()
    }

    #[napi(getter)]
    pub fn byte_length(&self) -> u32 {
        self.bytes.len() as u32
    }

    /// A copy of the rewritten component (for tests and tools).
    #[napi]
    pub fn bytes(&self) -> Buffer {
        Buffer::from(self.bytes.as_slice())
    }
}

/// Meter a component: `instrument(index, coreModule)` returns each core module instrumented in
/// stop-flag mode (`Uint8Array`); a throw is rethrown as it is. Refused: not a component or an
/// instrumented module without the imports and exports the rewrite needs (`COMPONENT_INVALID`);
/// nested components that define core modules (`UNSUPPORTED`).
#[napi(ts_args_type = "bytes: Uint8Array, instrument: (index: number, module: Uint8Array) => Uint8Array")]
pub fn meter_component(env: Env, bytes: Uint8Array, instrument: Unknown<'_>) -> napi::Result<MeteredComponent> {
    let raw_env = env.raw();
    let func = instrument.raw();
    let is_fn = unsafe { js::type_of(raw_env, func) }.map(|t| t == napi::sys::ValueType::napi_function).unwrap_or(false);
    if !is_fn {
        return Err(internal(&env, "meterComponent: instrument must be a function (index, module) => Uint8Array"));
    }
    let mut thrown: Option<js::RawValue> = None;
    let mut callback = |index: u32, module: &[u8]| -> Result<Vec<u8>, String> {
        // SAFETY: called synchronously on this napi call's thread, within its scope.
        unsafe {
            let args = [js::number(raw_env, index as f64)?, js::buffer(raw_env, module)?];
            match js::call(raw_env, func, &args) {
                Ok(v) => js::uint8_bytes(raw_env, v)?.ok_or_else(|| "the instrument function must return a Uint8Array".to_string()),
                Err(js::CallError::Threw(exc)) => {
                    thrown = Some(exc);
                    Err(js::describe_exception(raw_env, exc))
                }
                Err(js::CallError::Napi(m)) => Err(m),
            }
        }
    };
    match meter::meter_component(&bytes, &mut callback) {
        Ok(m) => Ok(MeteredComponent { bytes: Arc::new(m.bytes), source_key: crate::cache::content_hash(&bytes), modules: m.modules }),
        Err(MeterError::Instrument(m)) => match thrown {
            Some(exc) => Err(unsafe { js::rethrow(raw_env, exc) }),
            None => Err(throw(&env, Coded::new("COMPONENT_INVALID", format!("instrumenting a core module failed: {m}")), &[])),
        },
        Err(MeterError::Invalid(m)) => Err(throw(&env, Coded::new("COMPONENT_INVALID", format!("the component cannot be metered: {m}")), &[])),
        Err(MeterError::Unsupported(m)) => Err(throw(&env, Coded::new("UNSUPPORTED", format!("the component cannot be metered on this engine: {m}")), &[])),
    }
}

/// Define the imports the rewrite adds (in every linker that instantiates metered components).
pub fn define_host(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let mut root = linker.root();
    // Called once, first thing in instantiation: the fuel of instantiation, and how many flag
    // memories (a page each) the metered modules will create, which are not the guest's.
    root.func_wrap(BUDGET_IMPORT, |mut cx: wasmtime::StoreContextMut<'_, HostState>, (flags,): (u32,)| {
        let st = cx.data_mut();
        st.limiter.allow_extra(flags as usize * crate::meter::FLAG_MEMORY_BYTES);
        Ok((st.watch.as_ref().map_or(0, |w| w.budget.load(std::sync::atomic::Ordering::Acquire)),))
    })?;
    root.func_wrap(REGISTER_IMPORT, |cx: wasmtime::StoreContextMut<'_, HostState>, (record,): (WasmList<u8>,)| {
        let slice = record.as_le_slice(&cx);
        let watch = cx.data().watch.clone().ok_or_else(|| wasmtime::format_err!("a metered component on an engine without a watch"))?;
        watch.register(slice).map_err(|e| wasmtime::format_err!("{e}"))
    })?;
    Ok(())
}

/// The exports through which the host sets and reads a metered instance's fuel.
pub struct FuelHandles {
    get: TypedFunc<(), (i64,)>,
    set: TypedFunc<(i64,), ()>,
}

impl FuelHandles {
    pub fn find(store: &mut Store<HostState>, instance: &ComponentInstance) -> wasmtime::Result<FuelHandles> {
        let get = instance.get_typed_func::<(), (i64,)>(store.as_context_mut(), GET_EXPORT)?;
        let set = instance.get_typed_func::<(i64,), ()>(store.as_context_mut(), SET_EXPORT)?;
        Ok(FuelHandles { get, set })
    }

    pub fn set(&self, store: &mut Store<HostState>, fuel: i64) -> wasmtime::Result<()> {
        self.set.call(store.as_context_mut(), (fuel,))
    }

    pub fn get(&self, store: &mut Store<HostState>) -> wasmtime::Result<i64> {
        Ok(self.get.call(store.as_context_mut(), ())?.0)
    }
}

/// The watch of a store on an instrumented engine.
pub fn watch_of(store: &Store<HostState>) -> Option<Arc<Watch>> {
    store.data().watch.clone()
}

/// A failed call of a metered instance (or its instantiation) that started with `budget`: the
/// error and the fuel consumed (see the module docs).
pub fn classify_trap(err: &wasmtime::Error, st: &HostState, watch: &Watch, budget: i64, phase: &str) -> (Coded, f64) {
    let used = |left: i64| (budget as i128 - left as i128).max(0) as f64;
    match watch.trap_record() {
        Some((TRAP_FUEL, left)) => (Coded::new("FUEL_EXHAUSTED", format!("agent used up its fuel during {phase}")), used(left)),
        Some((TRAP_STOPPED, left)) if watch.stopped() == STOP_CANCELLED => {
            (Coded::new("CANCELLED", format!("the run was cancelled by its caller (the guest was stopped during {phase})")), used(left))
        }
        Some((TRAP_STOPPED, left)) => (Coded::new("TIMEOUT", format!("agent ran past its deadline during {phase}")), used(left)),
        _ => (classify_exec(err, st, phase), 0.0),
    }
}

/// Throw what `classify_trap` found.
pub fn throw_trap(env: &Env, c: Coded, fuel: f64) -> napi::Error {
    throw(env, c, &[("fuelConsumed", fuel)])
}
