//! `agentos-wasmtime`: a Node addon (napi-rs) that compiles, instantiates and runs agent
//! components on wasmtime with native fuel, epoch interruption, a store limiter and the pooling
//! allocator. The guest runs on the calling JS thread, inside the napi call.
//!
//! ```js
//! const { Engine } = require('./agentos-wasmtime.linux-x64.node');
//! const engine = new Engine({ epochTickMs: 10, maxInstances: 1000 });
//! const component = engine.compileComponent(bytes, cacheDir);   // component.cacheHit
//! const instance = engine.instantiate(component, { fuel: 1e9, memoryBytes: 64 << 20, timeoutMs: 5000 });
//! engine.run(instance, 'task');   // { ok: '…', fuelConsumed } | { err: '…', fuelConsumed }; traps throw { code }
//! instance.dispose();             // frees the pool slot now rather than at garbage collection
//! ```
//!
//! Errors are thrown as `Error` objects with a stable `code` (`FUEL_EXHAUSTED`, `TIMEOUT`,
//! `CANCELLED`, `MEMORY_LIMIT`, `AGENT_ERROR`, `COMPONENT_INVALID`, `QUOTA_EXCEEDED`, `INTERNAL`)
//! and, after a run or instantiation, `fuelConsumed`.

#![deny(clippy::all)]

mod bridge;
mod cache;
mod call;
mod describe;
mod errors;
mod interrupt;
mod js;
mod meter;
mod metered;
mod netns;
mod seccomp_notify;
mod state;
mod tiers;
mod watch;

use std::cell::{RefCell, RefMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::{AsyncTask, BigInt, Either, Uint8Array};
use napi::Task;
use napi::{Env, JsValue, Unknown};
use napi_derive::napi;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Func, InstancePre, Linker, Type, Val};
use wasmtime::{Config, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig, Store, Strategy};

use crate::bridge::{ImportItem, ResourceNames};
use crate::errors::{classify_compile, classify_exec, Coded};
use crate::interrupt::{EpochClock, InterruptCell};
use crate::js::{throw_coded, JsRef};
use crate::metered::{FuelHandles, MeteredComponent};
use crate::state::{CallCtx, HostState, Limiter, LimitsSpec};
use crate::tiers::{Baseline, Engines, Fallback, NotPrepared, Source};
use crate::watch::Watch;

const MIB: f64 = 1024.0 * 1024.0;
/// "No deadline": far enough that it never arrives, small enough not to overflow when added to
/// the current epoch.
const NO_DEADLINE: u64 = u64::MAX / 4;

/// Throw a JS `Error` with `code` and numeric extra properties (e.g. `fuelConsumed`).
fn throw(env: &Env, c: Coded, extra: &[(&str, f64)]) -> napi::Error {
    let mut props: Vec<(&str, f64)> = extra.to_vec();
    if let Some((_, requested)) = c.refused {
        props.push(("requested", requested));
    }
    unsafe { throw_coded(env.raw(), c.code, &c.message, &props, c.refused.map(|(l, _)| l)) }
}

fn internal(env: &Env, message: impl Into<String>) -> napi::Error {
    throw(env, Coded::new("INTERNAL", message), &[])
}

/// Options of `new Engine(options)`.
#[napi(object)]
pub struct EngineOptions {
    /// Milliseconds between epoch ticks of the background ticker thread; `timeoutMs` limits are
    /// counted in these ticks. 0 starts no thread: call `incrementEpoch()` yourself and give
    /// limits as `epochDeadline`. Default 10.
    pub epoch_tick_ms: Option<u32>,
    /// Use the pooling instance allocator. Default true.
    pub pooling: Option<bool>,
    /// Pool size: concurrent component instances (core instances 4×, memories 1×, tables 4×).
    /// Default 1000.
    pub max_instances: Option<u32>,
    /// Largest linear memory any instance may have (the pool's slot size), in bytes.
    /// Default 1 GiB. Per-instance limits (`memoryBytes`) are below this.
    pub max_memory_bytes: Option<f64>,
    /// Bytes of native stack wasm may use (wasmtime's `max_wasm_stack`). Default 512 KiB.
    pub max_wasm_stack: Option<u32>,
    /// Compile functions on several threads. Default true.
    pub parallel_compilation: Option<bool>,
    /// Count fuel (wasmtime's `consume_fuel`). Default true. An engine without it cannot take
    /// `limits.fuel` and reports `fuelConsumed` 0 (benchmarks measure the cost this way).
    pub fuel: Option<bool>,
    /// Epoch interruption (wasmtime's `epoch_interruption`). Default true. An engine without it
    /// cannot take `limits.timeoutMs` or `limits.epochDeadline`.
    pub epoch_interruption: Option<bool>,
    /// How guests are metered: `'wasmtime'` (default: wasmtime's fuel and epoch interruption, as
    /// `fuel` / `epochInterruption` say) or `'instrumented'`: components metered by our own
    /// instrumenter (`meterComponent`, see `metered.rs`), with wasmtime's fuel and epochs off.
    /// Such an engine compiles only `MeteredComponent`s (`compileMetered`, `inspectMetered`);
    /// `compileComponent` and `inspectComponent` only find what those left in the cache.
    pub meter: Option<String>,
    /// With `meter: 'instrumented'`: names the instrumenter's version and settings, and is part
    /// of the engine fingerprint, so artifacts of another instrumenter are never loaded.
    pub meter_key: Option<String>,
    /// With `meter: 'instrumented'`: compile a metered component missing from the cache with
    /// Winch first, and with Cranelift on a background thread (see `tiers.rs`). Default true.
    pub tiered: Option<bool>,
    /// Share one wasmtime engine with every other `shared` Engine of the same options in this
    /// process (every worker thread): one epoch ticker thread, and compiled components kept in
    /// memory (the most recent 32), so a later `compileComponent` of the same bytes on any thread
    /// neither compiles nor reads the disk cache. Default false.
    pub shared: Option<bool>,
}

/// A wasmtime engine shared by the `shared` Engines of one configuration (see `EngineOptions`).
pub struct Shared {
    engine: wasmtime::Engine,
    fingerprint: String,
    baseline: Option<Arc<Baseline>>,
    fallback: Option<Arc<Fallback>>,
    clock: EpochClock,
    /// Compiled components by content hash, most recently used last.
    components: Mutex<Vec<(String, Component)>>,
}

/// How many compiled components a shared engine keeps in memory.
const SHARED_COMPONENTS: usize = 32;

static SHARED: OnceLock<Mutex<HashMap<String, Arc<Shared>>>> = OnceLock::new();

impl Shared {
    pub(crate) fn get(&self, key: &str) -> Option<Component> {
        let mut g = self.components.lock().unwrap_or_else(|p| p.into_inner());
        let i = g.iter().position(|(k, _)| k == key)?;
        let entry = g.remove(i);
        let c = entry.1.clone();
        g.push(entry);
        Some(c)
    }

    pub(crate) fn put(&self, key: &str, c: &Component) {
        let mut g = self.components.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|(k, _)| k != key);
        g.push((key.to_string(), c.clone()));
        if g.len() > SHARED_COMPONENTS {
            g.remove(0);
        }
    }
}

/// Limits of one instance, given to `instantiate`. Fuel, memory and deadline apply to
/// instantiation (start functions) and again to each `run` (fuel and deadline are re-armed).
#[napi(object)]
pub struct InstanceLimits {
    /// Fuel units per run (number or bigint). Default: unlimited (fuel is still counted).
    pub fuel: Option<Either<f64, BigInt>>,
    /// Bytes of linear memory the instance may use in all its memories. Default: the engine's
    /// `maxMemoryBytes`.
    pub memory_bytes: Option<f64>,
    /// Elements any one table may grow to. Default: unlimited (the pool caps at 20 000).
    pub table_elements: Option<u32>,
    /// Core instances the component may create. Default 10 000.
    pub instances: Option<u32>,
    /// Tables the component may create. Default 10 000.
    pub tables: Option<u32>,
    /// Linear memories the component may create. Default 10 000.
    pub memories: Option<u32>,
    /// Wall-clock limit per run, counted in epoch ticks (needs the ticker thread); fires between
    /// `timeoutMs` and `timeoutMs + epochTickMs` after the run starts.
    pub timeout_ms: Option<f64>,
    /// Alternatively, a deadline in raw epoch ticks beyond the current epoch.
    pub epoch_deadline: Option<f64>,
}

/// Options of `instantiateWithHost` (read from the JS object by hand: `interrupt` must stay a
/// reference to the JS value, not a copy).
struct HostOptions {
    /// `jcoResults`: jco's host convention for imported functions returning `result<T, E>`: the
    /// host returns the `ok` payload and throws the `err` payload (`{ payload }`, or any
    /// non-`Error` value); a thrown `Error` still traps. Default false: results are explicit
    /// `{ tag, val }` objects.
    jco_results: bool,
    /// `interrupt`: an `Int32Array` on a `SharedArrayBuffer` that another thread sets to non-zero
    /// to stop the guest: the running call (or instantiation) then fails with `CANCELLED` within
    /// an epoch tick (see `interrupt.rs`). It is never reset: a cancelled instance is done.
    interrupt: Option<InterruptCell>,
}

impl HostOptions {
    unsafe fn parse(env: js::RawEnv, options: Option<js::RawValue>) -> Result<HostOptions, String> {
        let mut o = HostOptions { jco_results: false, interrupt: None };
        let Some(v) = options else { return Ok(o) };
        if js::is_nullish(env, v)? {
            return Ok(o);
        }
        js::expect_type(env, v, napi::sys::ValueType::napi_object, "options")?;
        let jco = js::get(env, v, "jcoResults")?;
        if !js::is_nullish(env, jco)? {
            o.jco_results = js::get_bool(env, jco, "options.jcoResults")?;
        }
        let cell = js::get(env, v, "interrupt")?;
        if !js::is_nullish(env, cell)? {
            o.interrupt = Some(InterruptCell::new(env, cell)?);
        }
        Ok(o)
    }
}

struct Limits {
    spec: LimitsSpec,
    fuel: u64,
    deadline: u64,
}

/// What an engine counts: limits it cannot enforce are refused rather than ignored.
#[derive(Clone, Copy)]
struct Meters {
    fuel: bool,
    epoch: bool,
    /// Components metered by our instrumenter (fuel and deadlines: `metered.rs`).
    instrumented: bool,
}

impl Meters {
    /// Whether the engine enforces fuel limits.
    fn counts_fuel(&self) -> bool {
        self.fuel || self.instrumented
    }
    /// Whether the engine enforces deadlines (needs the ticker).
    fn keeps_time(&self) -> bool {
        self.epoch || self.instrumented
    }
}

fn parse_limits(l: Option<InstanceLimits>, tick_ms: u32, max_memory: usize, meters: Meters) -> Result<Limits, Coded> {
    let l =
        l.unwrap_or(InstanceLimits { fuel: None, memory_bytes: None, table_elements: None, instances: None, tables: None, memories: None, timeout_ms: None, epoch_deadline: None });
    let bad = |m: String| Coded::new("INTERNAL", m);
    if !meters.counts_fuel() && l.fuel.is_some() {
        return Err(bad("limits.fuel needs an engine that counts fuel (Engine option fuel: true)".into()));
    }
    if !meters.keeps_time() && (l.timeout_ms.is_some() || l.epoch_deadline.is_some()) {
        return Err(bad("limits.timeoutMs and limits.epochDeadline need an engine with epoch interruption (Engine option epochInterruption: true)".into()));
    }
    let fuel = match l.fuel {
        None => u64::MAX,
        Some(Either::A(n)) if n.is_finite() && n >= 0.0 => n as u64,
        Some(Either::A(n)) => return Err(bad(format!("limits.fuel must be a non-negative number, got {n}"))),
        Some(Either::B(b)) => {
            let (neg, v, lossless) = b.get_u64();
            if neg || !lossless {
                return Err(bad("limits.fuel must be a non-negative bigint below 2^64".into()));
            }
            v
        }
    };
    let memory_bytes = match l.memory_bytes {
        None => max_memory,
        Some(n) if n.is_finite() && n >= 0.0 => (n as usize).min(max_memory),
        Some(n) => return Err(bad(format!("limits.memoryBytes must be a non-negative number, got {n}"))),
    };
    let deadline = match (l.epoch_deadline, l.timeout_ms) {
        (Some(t), _) if t.is_finite() && t >= 0.0 => t as u64,
        (Some(t), _) => return Err(bad(format!("limits.epochDeadline must be a non-negative number, got {t}"))),
        (None, Some(ms)) if ms.is_finite() && ms >= 0.0 => {
            if tick_ms == 0 {
                return Err(bad("limits.timeoutMs needs the epoch ticker (epochTickMs > 0); give epochDeadline instead".into()));
            }
            (ms / tick_ms as f64).ceil() as u64 + 1
        }
        (None, Some(ms)) => return Err(bad(format!("limits.timeoutMs must be a non-negative number, got {ms}"))),
        (None, None) => NO_DEADLINE,
    };
    Ok(Limits {
        spec: LimitsSpec {
            memory_bytes: Some(memory_bytes),
            table_elements: l.table_elements.map(|n| n as usize),
            instances: l.instances.map(|n| n as usize),
            tables: l.tables.map(|n| n as usize),
            memories: l.memories.map(|n| n as usize),
        },
        fuel,
        deadline,
    })
}

#[napi(js_name = "Engine")]
pub struct JsEngine {
    engine: wasmtime::Engine,
    fingerprint: String,
    /// An instrumented engine's baseline tier (Winch; see `tiers.rs`).
    baseline: Option<Arc<Baseline>>,
    /// An instrumented engine's engine for components it cannot meter (`tiers.rs`).
    fallback: Option<Arc<Fallback>>,
    tick_ms: u32,
    max_memory: usize,
    max_instances: u32,
    pooling: bool,
    meters: Meters,
    /// The ticks of the epoch (the shared engine's clock for a `shared` engine).
    clock: EpochClock,
    stop: Arc<AtomicBool>,
    /// Set for a `shared` engine (whose ticker lives as long as the process).
    shared: Option<Arc<Shared>>,
}

impl Drop for JsEngine {
    fn drop(&mut self) {
        if self.shared.is_none() {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Growths the caps refused during the instance's last call (or its instantiation): the guest
/// saw -1 from `memory.grow` / `table.grow`. The host records them as `limit_exceeded`.
#[napi(object)]
pub struct GrowRefusals {
    pub memory: u32,
    pub table: u32,
    /// Bytes the last refused memory growth asked for (the memory's new total size).
    pub memory_requested: Option<f64>,
    /// Elements the last refused table growth asked for (the table's new size).
    pub table_requested: Option<f64>,
}

#[napi(object)]
pub struct RunResult {
    /// The agent's answer (`ok` arm of `result<string, string>`).
    pub ok: Option<String>,
    /// The agent's error (`err` arm), reported as `AGENT_ERROR` by the sandbox.
    pub err: Option<String>,
    /// Fuel used by this run.
    pub fuel_consumed: f64,
}

#[napi]
impl JsEngine {
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<EngineOptions>) -> napi::Result<Self> {
        let o = options.unwrap_or(EngineOptions {
            epoch_tick_ms: None,
            pooling: None,
            max_instances: None,
            max_memory_bytes: None,
            max_wasm_stack: None,
            parallel_compilation: None,
            fuel: None,
            epoch_interruption: None,
            meter: None,
            meter_key: None,
            tiered: None,
            shared: None,
        });
        let instrumented = match o.meter.as_deref() {
            None | Some("wasmtime") => false,
            Some("instrumented") => true,
            Some(other) => return Err(internal(&env, format!("meter must be 'wasmtime' or 'instrumented', got {other:?}"))),
        };
        let meter_key = match (instrumented, o.meter_key.as_deref()) {
            (true, Some(k)) if !k.is_empty() => k.to_string(),
            (true, _) => return Err(internal(&env, "meter: 'instrumented' needs meterKey (the instrumenter's version and settings)")),
            (false, _) => String::new(),
        };
        // Metered code needs neither wasmtime's fuel nor its epoch checks (`metered.rs`).
        let meters = if instrumented {
            Meters { fuel: false, epoch: false, instrumented }
        } else {
            Meters { fuel: o.fuel.unwrap_or(true), epoch: o.epoch_interruption.unwrap_or(true), instrumented }
        };
        let tick_ms = if meters.keeps_time() { o.epoch_tick_ms.unwrap_or(10) } else { 0 };
        let pooling = o.pooling.unwrap_or(true);
        let max_instances = o.max_instances.unwrap_or(1000).max(1);
        let max_memory = o.max_memory_bytes.unwrap_or(1024.0 * MIB);
        if !(max_memory.is_finite() && max_memory >= 65536.0) {
            return Err(internal(&env, format!("maxMemoryBytes must be at least 65536, got {max_memory}")));
        }
        let max_memory = max_memory as usize;

        let tiered = meters.instrumented && o.tiered.unwrap_or(true);
        type Built = (wasmtime::Engine, String, Option<Arc<Baseline>>, Option<Arc<Fallback>>, EpochClock, Arc<AtomicBool>);
        let build = || -> Result<Built, String> {
            let mut cfg = Config::new();
            cfg.wasm_component_model(true)
                .consume_fuel(meters.fuel)
                .epoch_interruption(meters.epoch)
                .strategy(Strategy::Cranelift)
                .cranelift_opt_level(OptLevel::Speed)
                .parallel_compilation(o.parallel_compilation.unwrap_or(true));
            if meters.instrumented {
                // The stop flag is polled with an atomic load from a second memory.
                cfg.wasm_threads(true).wasm_multi_memory(true);
            }
            if let Some(s) = o.max_wasm_stack {
                cfg.max_wasm_stack(s as usize);
            }
            if pooling {
                let mut p = PoolingAllocationConfig::default();
                // A metered module has a second memory, its stop flag (`meter.rs`).
                let memories = if meters.instrumented { 4 } else { 1 };
                p.total_component_instances(max_instances)
                    .total_core_instances(max_instances.saturating_mul(4))
                    .total_memories(max_instances.saturating_mul(memories))
                    .max_memories_per_module(if meters.instrumented { 2 } else { 1 })
                    .total_tables(max_instances.saturating_mul(4))
                    .max_memory_size(max_memory)
                    // Keep a little of each slot resident so reuse does not fault every page again.
                    .linear_memory_keep_resident(64 * 1024)
                    .table_keep_resident(16 * 1024);
                cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
            }
            let engine = wasmtime::Engine::new(&cfg).map_err(|e| format!("creating the wasmtime engine failed: {}", errors::chain(&e)))?;
            let fingerprint = cache::engine_fingerprint(&engine, &meter_key);
            let baseline = if tiered {
                let mut winch = cfg.clone();
                winch.strategy(Strategy::Winch);
                let b = wasmtime::Engine::new(&winch).map_err(|e| format!("creating the baseline (Winch) engine failed: {}", errors::chain(&e)))?;
                let mut one = cfg.clone();
                one.parallel_compilation(false);
                // Its artifacts must load into the main engine: the same code settings.
                let background = wasmtime::Engine::new(&one).ok().filter(|x| cache::engine_fingerprint(x, &meter_key) == fingerprint);
                let fingerprint = cache::engine_fingerprint(&b, &meter_key);
                Some(Arc::new(Baseline { engine: b, fingerprint, background: background.unwrap_or_else(|| engine.clone()) }))
            } else {
                None
            };
            // Components the rewrite cannot meter run with wasmtime's own fuel and epochs.
            let fallback = if meters.instrumented {
                let mut native = cfg.clone();
                native.consume_fuel(true).epoch_interruption(true);
                let f = wasmtime::Engine::new(&native).map_err(|e| format!("creating the fallback engine failed: {}", errors::chain(&e)))?;
                let fingerprint = cache::engine_fingerprint(&f, "");
                Some(Arc::new(Fallback { engine: f, fingerprint }))
            } else {
                None
            };
            let stop = Arc::new(AtomicBool::new(false));
            let clock = EpochClock::default();
            if tick_ms > 0 {
                let (e, s, c) = (engine.clone(), stop.clone(), clock.clone());
                let f = fallback.as_ref().map(|f| f.engine.clone());
                std::thread::Builder::new()
                    .name("agentos-epoch".into())
                    .spawn(move || {
                        let tick = Duration::from_millis(tick_ms as u64);
                        while !s.load(Ordering::Relaxed) {
                            std::thread::sleep(tick);
                            match &f {
                                Some(f) => c.tick(&[&e, f]),
                                None => c.tick(&[&e]),
                            }
                        }
                    })
                    .map_err(|e| format!("starting the epoch thread failed: {e}"))?;
            }
            Ok((engine, fingerprint, baseline, fallback, clock, stop))
        };
        if o.shared.unwrap_or(false) {
            let key = format!("{tick_ms}/{pooling}/{max_instances}/{max_memory}/{:?}/{:?}/{}/{}/{meter_key}/{tiered}", o.max_wasm_stack, o.parallel_compilation, meters.fuel, meters.epoch);
            let mut registry = SHARED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
            let shared = match registry.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let (engine, fingerprint, baseline, fallback, clock, _stop) = build().map_err(|m| internal(&env, m))?;
                    let s = Arc::new(Shared { engine, fingerprint, baseline, fallback, clock, components: Mutex::new(Vec::new()) });
                    registry.insert(key, s.clone());
                    s
                }
            };
            return Ok(JsEngine {
                engine: shared.engine.clone(),
                fingerprint: shared.fingerprint.clone(),
                baseline: shared.baseline.clone(),
                fallback: shared.fallback.clone(),
                tick_ms,
                max_memory,
                max_instances,
                pooling,
                meters,
                clock: shared.clock.clone(),
                stop: Arc::new(AtomicBool::new(false)),
                shared: Some(shared),
            });
        }
        let (engine, fingerprint, baseline, fallback, clock, stop) = build().map_err(|m| internal(&env, m))?;
        Ok(JsEngine { engine, fingerprint, baseline, fallback, tick_ms, max_memory, max_instances, pooling, meters, clock, stop, shared: None })
    }

    /// The wasmtime release inside this addon.
    #[napi(getter)]
    pub fn wasmtime_version(&self) -> String {
        cache::WASMTIME_VERSION.to_string()
    }

    /// 16 hex digits over the wasmtime version and engine settings (part of every cache key).
    #[napi(getter)]
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    #[napi(getter)]
    pub fn epoch_tick_ms(&self) -> u32 {
        self.tick_ms
    }

    #[napi(getter)]
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    #[napi(getter)]
    pub fn max_instances(&self) -> u32 {
        self.max_instances
    }

    /// Advance the epoch by one tick (for engines built with `epochTickMs: 0`, or to interrupt
    /// every running guest whose deadline is the next tick).
    #[napi]
    pub fn increment_epoch(&self) {
        match &self.fallback {
            Some(f) => self.clock.tick(&[&self.engine, &f.engine]),
            None => self.clock.tick(&[&self.engine]),
        }
    }

    /// Compile a component (binary), or load it from `cacheDir` when this engine configuration
    /// compiled the same bytes before. The result says whether it was a cache hit. `key`, when
    /// given, is the SHA-256 of the bytes (lowercase hex) the caller already computed: a hit in a
    /// shared engine's memory then costs no hashing (it is checked before anything is compiled).
    #[napi]
    pub fn compile_component(&self, env: Env, bytes: Uint8Array, cache_dir: Option<String>, key: Option<String>) -> napi::Result<CompiledComponent> {
        let started = Instant::now();
        let bytes: &[u8] = &bytes;
        let given = key.is_some();
        let key = match key {
            Some(k) if k.len() == 64 && k.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => k,
            Some(k) => return Err(internal(&env, format!("key must be the SHA-256 of the bytes in lowercase hex, got {k:?}"))),
            None => cache::content_hash(bytes),
        };
        let source = if self.meters.instrumented { Source::Lookup } else { Source::Bytes { bytes, checked: given } };
        self.compiled(&env, source, cache_dir.as_deref(), key, started)
    }

    /// Compile a metered component (`meterComponent`) on an engine with `meter: 'instrumented'`,
    /// or load what a previous compile of it left in `cacheDir`. It is cached under the SHA-256
    /// of the bytes it was metered from, so `compileComponent(thoseBytes, cacheDir)` finds it.
    /// On a tiered engine a component missing from the cache is compiled by Winch first and by
    /// Cranelift in the background (`tiers.rs`); `optimized: true` compiles with Cranelift now.
    #[napi]
    pub fn compile_metered(&self, env: Env, metered: &MeteredComponent, cache_dir: Option<String>, optimized: Option<bool>) -> napi::Result<CompiledComponent> {
        let started = Instant::now();
        if !self.meters.instrumented {
            return Err(internal(&env, "compileMetered needs an Engine with meter: 'instrumented'"));
        }
        let source = Source::Metered { bytes: &metered.bytes, optimized: optimized.unwrap_or(false) };
        self.compiled(&env, source, cache_dir.as_deref(), metered.source_key.clone(), started)
    }

    /// `inspectComponent` for a metered component, on an engine with `meter: 'instrumented'`:
    /// compiled on a libuv thread and cached as `compileMetered` does (`optimized` likewise).
    #[napi(ts_return_type = "Promise<ComponentInfo>")]
    pub fn inspect_metered(&self, env: Env, metered: &MeteredComponent, cache_dir: Option<String>, optimized: Option<bool>) -> napi::Result<AsyncTask<InspectTask>> {
        if !self.meters.instrumented {
            return Err(internal(&env, "inspectMetered needs an Engine with meter: 'instrumented'"));
        }
        Ok(AsyncTask::new(self.inspect_task(metered.bytes.clone(), InspectWhat::Metered { optimized: optimized.unwrap_or(false) }, Some(metered.source_key.clone()), cache_dir)))
    }

    /// On an engine with `meter: 'instrumented'`: compile a component `meterComponent` refused as
    /// `UNSUPPORTED` (nested components that define core modules) with wasmtime's own fuel and
    /// epoch interruption instead; its instances count fuel in wasmtime's units. A later
    /// `compileComponent(bytes, cacheDir)` finds it. `inspectFallback` is the same on a libuv thread.
    #[napi]
    pub fn compile_fallback(&self, env: Env, bytes: Uint8Array, cache_dir: Option<String>) -> napi::Result<CompiledComponent> {
        let started = Instant::now();
        if self.fallback.is_none() {
            return Err(internal(&env, "compileFallback needs an Engine with meter: 'instrumented'"));
        }
        let key = cache::content_hash(&bytes);
        self.compiled(&env, Source::Fallback(&bytes), cache_dir.as_deref(), key, started)
    }

    #[napi(ts_return_type = "Promise<ComponentInfo>")]
    pub fn inspect_fallback(&self, env: Env, bytes: Uint8Array, cache_dir: Option<String>) -> napi::Result<AsyncTask<InspectTask>> {
        if self.fallback.is_none() {
            return Err(internal(&env, "inspectFallback needs an Engine with meter: 'instrumented'"));
        }
        Ok(AsyncTask::new(self.inspect_task(Arc::new(bytes.to_vec()), InspectWhat::Fallback, None, cache_dir)))
    }
}

impl JsEngine {
    fn engines(&self) -> Engines<'_> {
        Engines { main: &self.engine, fingerprint: &self.fingerprint, baseline: self.baseline.as_ref(), fallback: self.fallback.as_ref(), shared: self.shared.as_ref() }
    }

    fn inspect_task(&self, bytes: Arc<Vec<u8>>, what: InspectWhat, key: Option<String>, cache_dir: Option<String>) -> InspectTask {
        InspectTask {
            engine: self.engine.clone(),
            fingerprint: self.fingerprint.clone(),
            baseline: self.baseline.clone(),
            fallback: self.fallback.clone(),
            shared: self.shared.clone(),
            bytes,
            what,
            key,
            cache_dir,
        }
    }

    /// The compiled component `key` names (see `tiers::load`), checked for `run`.
    fn compiled(&self, env: &Env, source: Source<'_>, cache_dir: Option<&str>, key: String, started: Instant) -> napi::Result<CompiledComponent> {
        let loaded = tiers::load(&self.engines(), source, cache_dir, &key).map_err(|e| {
            if e.to_string().starts_with("the key given") || e.is::<NotPrepared>() {
                internal(env, e.to_string())
            } else {
                throw(env, classify_compile(&e), &[])
            }
        })?;
        let component = loaded.component;
        let run_index = check_run_export(component.engine(), &component).map_err(|c| throw(env, c, &[]))?;
        let imports = bridge::list_imports(component.engine(), &component);
        Ok(CompiledComponent {
            component,
            run_index,
            imports,
            baseline: loaded.baseline,
            cache_hit: loaded.cache_hit,
            cache_note: loaded.cache_note,
            key,
            compile_ms: started.elapsed().as_secs_f64() * 1000.0,
            plain: RefCell::new(None),
            bridged: RefCell::new(None),
        })
    }
}

#[napi]
impl JsEngine {
    /// Compile a component (or load it from `cacheDir`) on a libuv worker thread, off the JS
    /// thread, and describe it: its top-level imports and exports. Resolves to
    /// `{ imports, exports, cacheHit, compileMs, key }`, or to `{ errorCode, errorMessage }` when
    /// the bytes are not a valid component or lack the `run` export (never rejects for those).
    /// A later `compileComponent` of the same bytes with the same `cacheDir` on an engine of the
    /// same configuration loads the artifact this left. On an engine with `meter: 'instrumented'`
    /// nothing is compiled: it resolves to `{ errorCode: 'NOT_PREPARED' }` unless `inspectMetered`
    /// (or `compileMetered`) of the metered bytes ran before, here or with the same `cacheDir`.
    #[napi]
    pub fn inspect_component(&self, bytes: Uint8Array, cache_dir: Option<String>) -> AsyncTask<InspectTask> {
        let what = if self.meters.instrumented { InspectWhat::Lookup } else { InspectWhat::Bytes };
        AsyncTask::new(self.inspect_task(Arc::new(bytes.to_vec()), what, None, cache_dir))
    }

    /// Instantiate a component that has no imports. A component with imports fails with
    /// `COMPONENT_INVALID` naming the first import this engine does not provide.
    #[napi]
    pub fn instantiate(&self, env: Env, component: &CompiledComponent, limits: Option<InstanceLimits>) -> napi::Result<Instance> {
        self.same_engine(&env, component)?;
        let pre = component.plain_pre(component.component.engine()).map_err(|c| throw(&env, c, &[]))?;
        let limits = parse_limits(limits, self.tick_ms, self.max_memory, self.meters).map_err(|c| throw(&env, c, &[]))?;
        self.instantiate_pre(&env, component, &pre, limits, None, HostOptions { jco_results: false, interrupt: None })
    }

    /// Prototype of the generic import bridge: instantiate with EVERY import of the component
    /// routed to `host(interfaceName, funcName, args)`, a JS function called synchronously on
    /// this thread while the guest runs (see `bridge.rs` for the value conventions).
    /// `options.jcoResults` switches `result<T, E>` imports to jco's return/throw convention;
    /// `options.interrupt` (an `Int32Array` on a `SharedArrayBuffer`) lets another thread stop
    /// the guest with `CANCELLED` by setting it to non-zero (see `HostOptions`).
    #[napi]
    pub fn instantiate_with_host(
        &self,
        env: Env,
        component: &CompiledComponent,
        limits: Option<InstanceLimits>,
        host: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Instance> {
        self.same_engine(&env, component)?;
        let raw = host.raw();
        let is_fn = unsafe { js::type_of(env.raw(), raw) }.map(|t| t == napi::sys::ValueType::napi_function).unwrap_or(false);
        if !is_fn {
            return Err(internal(&env, "instantiateWithHost: host must be a function (interfaceName, funcName, args) => value"));
        }
        let (pre, resources) = component.bridged_pre(component.component.engine()).map_err(|c| throw(&env, c, &[]))?;
        let limits = parse_limits(limits, self.tick_ms, self.max_memory, self.meters).map_err(|c| throw(&env, c, &[]))?;
        let options = unsafe { HostOptions::parse(env.raw(), options.map(|o| o.raw())) }.map_err(|e| internal(&env, format!("instantiateWithHost: {e}")))?;
        let host_ref = unsafe { JsRef::new(env.raw(), raw) }.map_err(|e| internal(&env, e))?;
        self.instantiate_pre(&env, component, &pre, limits, Some((host_ref, resources)), options)
    }

    /// Call the component's `run: func(task: string) -> result<string, string>`. `timeoutMs`
    /// replaces the instance's `limits.timeoutMs` for this call (what is left of a run's budget).
    #[napi]
    pub fn run(&self, env: Env, instance: &Instance, task: String, timeout_ms: Option<f64>) -> napi::Result<RunResult> {
        let deadline = self.call_deadline(&env, timeout_ms)?;
        instance.run(&env, task, deadline)
    }

    /// Call the exported function `func` (in the exported interface `iface` as the component
    /// spells it, `test:typed/shapes@0.1.0`; at the world level when `iface` is null) with `args`
    /// in jco's conventions, as `run` calls `run`: fuel and the deadline re-armed, `timeoutMs`
    /// replacing the instance's time limit for this call. Returns `{ value, fuelConsumed }`:
    /// `value` is the function's result (undefined when it has none; a `result<T, E>` whole, as
    /// `{ tag: 'ok' | 'err', val }`). Traps throw as in `run`; a missing export, a wrong number
    /// of arguments or an argument that does not convert throws `USAGE` before the guest is
    /// entered, leaving the instance usable. See `call.rs`.
    #[napi(ts_return_type = "{ value: unknown; fuelConsumed: number }")]
    pub fn call<'a>(&self, env: &'a Env, instance: &Instance, iface: Option<String>, func: String, args: Unknown<'_>, timeout_ms: Option<f64>) -> napi::Result<Unknown<'a>> {
        call::call(self, env, instance, iface, func, args, timeout_ms)
    }

    /// Benchmark helper: `iterations` warm instantiations from the component's `InstancePre`
    /// (store + limiter + fuel + deadline + instantiate + export lookup + drop), timed in Rust
    /// without napi overhead. Returns nanoseconds per iteration.
    #[napi]
    pub fn bench_instantiate(&self, env: Env, component: &CompiledComponent, iterations: u32) -> napi::Result<Vec<f64>> {
        let pre = component.plain_pre(component.component.engine()).map_err(|c| throw(&env, c, &[]))?;
        let limits = parse_limits(None, self.tick_ms, self.max_memory, self.meters).map_err(|c| throw(&env, c, &[]))?;
        let mut out = Vec::with_capacity(iterations as usize);
        for _ in 0..iterations {
            let t = Instant::now();
            let mut store = self.new_store(component.component.engine(), self.meters_for(component), &limits, None).map_err(|e| internal(&env, e))?;
            let inst = pre.instantiate(&mut store).map_err(|e| throw(&env, classify_exec(&e, store.data(), "instantiation"), &[]))?;
            let _run = inst.get_func(&mut store, component.run_index);
            if let Some(w) = &store.data().watch {
                w.release();
            }
            drop(store);
            out.push(t.elapsed().as_nanos() as f64);
        }
        Ok(out)
    }

    /// Benchmark helper: `iterations` calls of `run(task)` on one instance, timed in Rust without
    /// napi overhead. Returns nanoseconds per call.
    #[napi]
    pub fn bench_run(&self, env: Env, instance: &Instance, task: String, iterations: u32) -> napi::Result<Vec<f64>> {
        let mut guard = instance.inner.try_borrow_mut().map_err(|_| internal(&env, "instance is busy"))?;
        let live = guard.as_mut().ok_or_else(|| internal(&env, "instance was disposed"))?;
        let mut out = Vec::with_capacity(iterations as usize);
        let params = [Val::String(task)];
        let mut results = [Val::Bool(false)];
        for _ in 0..iterations {
            let t = Instant::now();
            instance.arm(live, None).map_err(|e| internal(&env, e))?;
            live.func.call(&mut live.store, &params, &mut results).map_err(|e| throw(&env, classify_exec(&e, live.store.data(), "run"), &[]))?;
            if let Some(w) = metered::watch_of(&live.store) {
                w.disarm();
            }
            out.push(t.elapsed().as_nanos() as f64);
        }
        Ok(out)
    }
}

impl JsEngine {
    /// The epoch deadline of one call that gives its own `timeoutMs` (`run`, `call`).
    fn call_deadline(&self, env: &Env, timeout_ms: Option<f64>) -> napi::Result<Option<u64>> {
        Ok(match timeout_ms {
            None => None,
            Some(ms) if !(ms.is_finite() && ms >= 0.0) => return Err(internal(env, format!("timeoutMs must be a non-negative number, got {ms}"))),
            Some(_) if !self.meters.keeps_time() || self.tick_ms == 0 => {
                return Err(internal(env, "timeoutMs needs the epoch ticker (an engine with epochInterruption and epochTickMs > 0)"));
            }
            Some(ms) => Some((ms / self.tick_ms as f64).ceil() as u64 + 1),
        })
    }

    /// What instances of `component` count: a fallback component (`tiers.rs`) uses wasmtime's
    /// own fuel and epochs; everything else this engine's meters.
    fn meters_for(&self, component: &CompiledComponent) -> Meters {
        match &self.fallback {
            Some(f) if wasmtime::Engine::same(&f.engine, component.component.engine()) => Meters { fuel: true, epoch: true, instrumented: false },
            _ => self.meters,
        }
    }

    fn same_engine(&self, env: &Env, component: &CompiledComponent) -> napi::Result<()> {
        let e = component.component.engine();
        let ours = |x: &wasmtime::Engine| wasmtime::Engine::same(x, e);
        if ours(&self.engine) || self.baseline.as_ref().is_some_and(|b| ours(&b.engine)) || self.fallback.as_ref().is_some_and(|f| ours(&f.engine)) {
            Ok(())
        } else {
            Err(internal(env, "the component was compiled by another Engine"))
        }
    }

    /// A store on `engine` (the component's: the main engine, the baseline tier's or the
    /// fallback), counting what `meters` says.
    fn new_store(&self, engine: &wasmtime::Engine, meters: Meters, limits: &Limits, interrupt: Option<InterruptCell>) -> Result<Store<HostState>, String> {
        // An instrumented engine's ticker stops the instance through its watch (`watch.rs`),
        // which looks at the interrupt cell the store keeps alive.
        let watch = meters.instrumented.then(|| {
            let w = Arc::new(Watch::new(interrupt.as_ref().map(InterruptCell::cell)));
            w.budget.store(metered_fuel(limits.fuel), Ordering::Release);
            self.clock.watches.add(&w);
            w
        });
        let state = HostState { limiter: Limiter::new(&limits.spec), call: None, thrown: None, jco_results: false, clock: self.clock.clone(), deadline_at: 0, interrupt, watch };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        if meters.fuel {
            store.set_fuel(limits.fuel).map_err(|e| e.to_string())?;
        }
        if meters.epoch {
            store.epoch_deadline_callback(interrupt::on_epoch);
            interrupt::arm(&mut store, limits.deadline);
        }
        Ok(store)
    }

    fn instantiate_pre(
        &self,
        env: &Env,
        component: &CompiledComponent,
        pre: &InstancePre<HostState>,
        limits: Limits,
        host: Option<(JsRef, Arc<ResourceNames>)>,
        options: HostOptions,
    ) -> napi::Result<Instance> {
        let (host, resources) = match host {
            Some((h, r)) => (Some(h), r),
            None => (None, Arc::default()),
        };
        if options.interrupt.is_some() && !self.meters.keeps_time() {
            return Err(internal(env, "options.interrupt needs an engine with epoch interruption (Engine option epochInterruption: true) or meter: 'instrumented'"));
        }
        let meters = self.meters_for(component);
        let mut store = self.new_store(component.component.engine(), meters, &limits, options.interrupt).map_err(|e| internal(env, e))?;
        store.data_mut().jco_results = options.jco_results;
        let host_val = match &host {
            Some(r) => Some(unsafe { r.value(env.raw()) }.map_err(|e| internal(env, e))?),
            None => None,
        };
        store.data_mut().call = Some(CallCtx { env: env.raw(), host: host_val });
        let watch = metered::watch_of(&store);
        if let Some(w) = &watch {
            w.arm(self.clock.now().saturating_add(limits.deadline));
        }
        let result = pre.instantiate(&mut store);
        store.data_mut().call = None;
        let mut fuel_used = if meters.fuel { limits.fuel - store.get_fuel().unwrap_or(0) } else { 0 };
        let mut fuel = None;
        let instance = match result {
            Ok(i) => {
                if let Some(w) = &watch {
                    w.disarm();
                    let handles = FuelHandles::find(&mut store, &i).and_then(|h| h.get(&mut store).map(|left| (h, left)));
                    let (handles, left) =
                        handles.map_err(|e| throw(env, Coded::new("COMPONENT_INVALID", format!("the metered component has no fuel exports: {}", errors::chain(&e))), &[]))?;
                    fuel_used = (metered_fuel(limits.fuel) as i128 - left as i128).max(0) as u64;
                    fuel = Some(handles);
                }
                i
            }
            Err(e) => {
                if let Some(w) = &watch {
                    w.disarm();
                }
                if let Some(exc) = store.data_mut().thrown.take() {
                    return Err(unsafe { js::rethrow(env.raw(), exc.value(env.raw()).map_err(|e| internal(env, e))?) });
                }
                if let Some(w) = &watch {
                    let (c, used) = metered::classify_trap(&e, store.data(), w, metered_fuel(limits.fuel), "instantiation");
                    w.release();
                    return Err(metered::throw_trap(env, c, used));
                }
                let c = classify_exec(&e, store.data(), "instantiation");
                return Err(throw(env, c, &[("fuelConsumed", fuel_used as f64)]));
            }
        };
        let func = instance.get_func(&mut store, component.run_index).ok_or_else(|| throw(env, Coded::new("COMPONENT_INVALID", "the instance has no `run` export"), &[]))?;
        Ok(Instance {
            inner: RefCell::new(Some(Live { store, instance, func, trapped: None, fuel })),
            host,
            resources,
            fuel: limits.fuel,
            deadline: limits.deadline,
            meters,
            instantiate_fuel: fuel_used,
        })
    }
}

/// The work of `Engine.inspectComponent`, done on a libuv worker thread.
pub struct InspectTask {
    engine: wasmtime::Engine,
    fingerprint: String,
    baseline: Option<Arc<Baseline>>,
    fallback: Option<Arc<Fallback>>,
    shared: Option<Arc<Shared>>,
    bytes: Arc<Vec<u8>>,
    what: InspectWhat,
    /// The cache key (default: the SHA-256 of `bytes`).
    key: Option<String>,
    cache_dir: Option<String>,
}

/// What an `InspectTask` may compile (see `tiers::Source`).
#[derive(Clone, Copy)]
enum InspectWhat {
    Bytes,
    Metered { optimized: bool },
    Lookup,
    Fallback,
}

/// One export of a component: its name and kind (`function`, `instance`, `module`, …).
#[napi(object)]
pub struct ExportInfo {
    pub name: String,
    pub kind: String,
}

/// What `inspectComponent` resolves to.
#[napi(object)]
#[derive(Default)]
pub struct ComponentInfo {
    /// Set when the component was refused (`COMPONENT_INVALID`, `INTERNAL`): nothing else is.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Top-level import names as the component spells them (`wasi:cli/stdout@0.2.0`).
    pub imports: Vec<String>,
    pub exports: Vec<ExportInfo>,
    pub cache_hit: bool,
    pub compile_ms: f64,
    /// SHA-256 (hex) of the component bytes.
    pub key: String,
    /// `'optimized'` (Cranelift) or `'baseline'` (Winch, while Cranelift compiles in the background).
    pub tier: String,
}

fn item_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "function",
        ComponentItem::CoreFunc(_) => "core-function",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

impl Task for InspectTask {
    type Output = ComponentInfo;
    type JsValue = ComponentInfo;

    fn compute(&mut self) -> napi::Result<ComponentInfo> {
        let started = Instant::now();
        let key = self.key.clone().unwrap_or_else(|| cache::content_hash(&self.bytes));
        let refused = |c: Coded| ComponentInfo { error_code: Some(c.code.to_string()), error_message: Some(c.message), ..Default::default() };
        let source = match self.what {
            InspectWhat::Metered { optimized } => Source::Metered { bytes: &self.bytes, optimized },
            InspectWhat::Lookup => Source::Lookup,
            InspectWhat::Bytes => Source::Bytes { bytes: &self.bytes, checked: false },
            InspectWhat::Fallback => Source::Fallback(&self.bytes),
        };
        let engines = Engines { main: &self.engine, fingerprint: &self.fingerprint, baseline: self.baseline.as_ref(), fallback: self.fallback.as_ref(), shared: self.shared.as_ref() };
        let loaded = match tiers::load(&engines, source, self.cache_dir.as_deref(), &key) {
            Ok(l) => l,
            Err(e) if e.is::<NotPrepared>() => return Ok(refused(Coded::new("NOT_PREPARED", e.to_string()))),
            Err(e) => return Ok(refused(classify_compile(&e))),
        };
        let engine = loaded.component.engine();
        if let Err(c) = check_run_export(engine, &loaded.component) {
            return Ok(refused(c));
        }
        let ty = loaded.component.component_type();
        // What the metering rewrite added is the host's, not the component's.
        let ours = |name: &str| name.starts_with(meter::RESERVED_PREFIX);
        let imports = ty.imports(engine).filter(|(name, _)| !ours(name)).map(|(name, _)| name.to_string()).collect();
        let exports =
            ty.exports(engine).filter(|(name, _)| !ours(name)).map(|(name, ext)| ExportInfo { name: name.to_string(), kind: item_kind(&ext.ty).to_string() }).collect();
        let tier = if loaded.baseline { "baseline" } else { "optimized" }.to_string();
        Ok(ComponentInfo { imports, exports, cache_hit: loaded.cache_hit, compile_ms: started.elapsed().as_secs_f64() * 1000.0, key, tier, ..Default::default() })
    }

    fn resolve(&mut self, _env: Env, output: ComponentInfo) -> napi::Result<ComponentInfo> {
        Ok(output)
    }
}

/// `run` must be `func(task: string) -> result<string, string>`.
fn check_run_export(engine: &wasmtime::Engine, component: &Component) -> Result<ComponentExportIndex, Coded> {
    let ty = component.component_type();
    let Some(ext) = ty.get_export(engine, "run") else {
        return Err(Coded::new("COMPONENT_INVALID", "the component does not export `run: func(task: string) -> result<string, string>`"));
    };
    let ComponentItem::ComponentFunc(f) = ext.ty else {
        return Err(Coded::new("COMPONENT_INVALID", "the component's `run` export is not a function"));
    };
    let params: Vec<Type> = f.params().map(|(_, t)| t).collect();
    let results: Vec<Type> = f.results().collect();
    let result_ok = match results.as_slice() {
        [Type::Result(r)] => r.ok() == Some(Type::String) && r.err() == Some(Type::String),
        _ => false,
    };
    if params != [Type::String] || !result_ok {
        return Err(Coded::new("COMPONENT_INVALID", "the component's `run` export must be `func(task: string) -> result<string, string>`"));
    }
    component.get_export_index(None, "run").ok_or_else(|| Coded::new("COMPONENT_INVALID", "the component does not export `run`"))
}

/// A compiled component: its `run` export, its imports and the `InstancePre`s made from it.
#[napi]
pub struct CompiledComponent {
    component: Component,
    /// Compiled by the baseline tier (Winch; `tiers.rs`).
    baseline: bool,
    run_index: ComponentExportIndex,
    imports: Vec<ImportItem>,
    cache_hit: bool,
    cache_note: Option<String>,
    key: String,
    compile_ms: f64,
    plain: RefCell<Option<InstancePre<HostState>>>,
    bridged: RefCell<Option<(InstancePre<HostState>, Arc<ResourceNames>)>>,
}

#[napi]
impl CompiledComponent {
    /// `'optimized'` (Cranelift) or `'baseline'` (Winch: the optimized code is being compiled in
    /// the background, for later instances and processes).
    #[napi(getter)]
    pub fn tier(&self) -> String {
        if self.baseline { "baseline" } else { "optimized" }.to_string()
    }

    /// True when the compiled artifact came from the cache directory.
    #[napi(getter)]
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Why the cache was bypassed or not written, when it was.
    #[napi(getter)]
    pub fn cache_note(&self) -> Option<String> {
        self.cache_note.clone()
    }

    /// SHA-256 (hex) of the component bytes.
    #[napi(getter)]
    pub fn key(&self) -> String {
        self.key.clone()
    }

    /// Milliseconds spent compiling or loading from the cache.
    #[napi(getter)]
    pub fn compile_ms(&self) -> f64 {
        self.compile_ms
    }

    /// The component's imports as "interface#name" (functions and resources), in order.
    #[napi(getter)]
    pub fn imports(&self) -> Vec<String> {
        self.imports
            .iter()
            .map(|i| {
                let kind = if i.kind == "func" { String::new() } else { format!(" ({})", i.kind) };
                if i.name.is_empty() {
                    format!("{}{kind}", i.interface)
                } else {
                    format!("{}#{}{kind}", i.interface, i.name)
                }
            })
            .collect()
    }
}

impl CompiledComponent {
    fn plain_pre(&self, engine: &wasmtime::Engine) -> Result<InstancePre<HostState>, Coded> {
        if let Some(p) = self.plain.borrow().as_ref() {
            return Ok(p.clone());
        }
        if let Some(first) = self.imports.first() {
            let what = if first.name.is_empty() { first.interface.clone() } else { format!("{}#{}", first.interface, first.name) };
            return Err(Coded::new(
                "COMPONENT_INVALID",
                format!(
                    "the component imports `{what}` ({} import(s) in all), which this engine does not provide yet; only components without imports can be instantiated (or use instantiateWithHost)",
                    self.imports.len()
                ),
            ));
        }
        let mut linker = Linker::<HostState>::new(engine);
        if self.component.component_type().get_import(engine, meter::BUDGET_IMPORT).is_some() {
            metered::define_host(&mut linker).map_err(|e| Coded::new("INTERNAL", errors::chain(&e)))?;
        }
        let pre = linker.instantiate_pre(&self.component).map_err(|e| Coded::new("COMPONENT_INVALID", errors::chain(&e)))?;
        *self.plain.borrow_mut() = Some(pre.clone());
        Ok(pre)
    }

    fn bridged_pre(&self, engine: &wasmtime::Engine) -> Result<(InstancePre<HostState>, Arc<ResourceNames>), Coded> {
        if let Some((p, r)) = self.bridged.borrow().as_ref() {
            return Ok((p.clone(), r.clone()));
        }
        let (linker, resources) = bridge::bridge_linker(engine, &self.component).map_err(|e| Coded::new("COMPONENT_INVALID", errors::chain(&e)))?;
        let pre = linker.instantiate_pre(&self.component).map_err(|e| Coded::new("COMPONENT_INVALID", errors::chain(&e)))?;
        *self.bridged.borrow_mut() = Some((pre.clone(), resources.clone()));
        Ok((pre, resources))
    }
}

struct Live {
    store: Store<HostState>,
    /// The component instance (`Engine.call` looks its other exports up here).
    instance: wasmtime::component::Instance,
    func: Func,
    /// Set after a trap: wasmtime does not let a component instance be entered again.
    trapped: Option<String>,
    /// On an instrumented engine: the exports that set and read the component's fuel.
    fuel: Option<FuelHandles>,
}

impl Drop for Live {
    fn drop(&mut self) {
        // The ticker must let go of the flag memories before the store frees them.
        if let Some(w) = &self.store.data().watch {
            w.release();
        }
    }
}

/// A fuel budget (u64::MAX: unlimited) as the i64 our instrumented code counts down.
fn metered_fuel(fuel: u64) -> i64 {
    fuel.min(i64::MAX as u64) as i64
}

/// A live instance: its own `Store` (limits, fuel, deadline) and its `run` export.
#[napi]
pub struct Instance {
    inner: RefCell<Option<Live>>,
    host: Option<JsRef>,
    /// The host resource types of the import bridge (empty without a host), for `Engine.call`.
    resources: Arc<ResourceNames>,
    fuel: u64,
    deadline: u64,
    meters: Meters,
    instantiate_fuel: u64,
}

#[napi]
impl Instance {
    /// Drop the store now, returning its slot to the engine's pool.
    #[napi]
    pub fn dispose(&self, env: Env) -> napi::Result<()> {
        let mut g = self.inner.try_borrow_mut().map_err(|_| internal(&env, "cannot dispose an instance while it is running"))?;
        *g = None;
        Ok(())
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.inner.try_borrow().map(|g| g.is_none()).unwrap_or(false)
    }

    /// Fuel used by instantiation (start functions, initializers).
    #[napi(getter)]
    pub fn instantiate_fuel(&self) -> f64 {
        self.instantiate_fuel as f64
    }

    /// Growths the caps refused during the last call (or instantiation), see `GrowRefusals`.
    #[napi(getter)]
    pub fn refusals(&self) -> GrowRefusals {
        let none = GrowRefusals { memory: 0, table: 0, memory_requested: None, table_requested: None };
        let Ok(g) = self.inner.try_borrow() else { return none };
        let Some(live) = g.as_ref() else { return none };
        let l = &live.store.data().limiter;
        GrowRefusals {
            memory: l.memory_refusals,
            table: l.table_refusals,
            memory_requested: l.memory_requested.map(|b| b as f64),
            table_requested: l.table_requested.map(|n| n as f64),
        }
    }

    /// Bytes of linear memory the instance holds now.
    #[napi(getter)]
    pub fn memory_bytes(&self) -> f64 {
        self.inner.try_borrow().ok().and_then(|g| g.as_ref().map(|l| l.store.data().limiter.memory_in_use() as f64)).unwrap_or(0.0)
    }
}

impl Instance {
    /// Re-arm fuel and the deadline for one call (`deadline`: the call's own, in ticks from now;
    /// otherwise the instance's).
    fn arm(&self, live: &mut Live, deadline: Option<u64>) -> Result<(), String> {
        let store = &mut live.store;
        if self.meters.fuel {
            store.set_fuel(self.fuel).map_err(|e| e.to_string())?;
        }
        if self.meters.epoch {
            interrupt::arm(store, deadline.unwrap_or(self.deadline));
        }
        if let (Some(h), Some(w)) = (&live.fuel, metered::watch_of(store)) {
            h.set(store, metered_fuel(self.fuel)).map_err(|e| format!("setting the fuel failed: {}", errors::chain(&e)))?;
            w.arm(store.data().clock.now().saturating_add(deadline.unwrap_or(self.deadline)));
        }
        Ok(())
    }

    /// Fuel used by the call that just returned.
    fn fuel_consumed(&self, live: &mut Live) -> f64 {
        if let Some(h) = &live.fuel {
            return match h.get(&mut live.store) {
                Ok(left) => (metered_fuel(self.fuel) as i128 - left as i128).max(0) as f64,
                Err(_) => 0.0,
            };
        }
        if self.meters.fuel {
            (self.fuel - live.store.get_fuel().unwrap_or(0)) as f64
        } else {
            0.0
        }
    }

    /// The live instance for one call: not running already (a host function calling back into
    /// it), not disposed, not trapped before.
    fn live(&self, env: &Env) -> napi::Result<RefMut<'_, Live>> {
        let guard = self.inner.try_borrow_mut().map_err(|_| internal(env, "the instance is already running (a host function called back into it)"))?;
        let live = RefMut::filter_map(guard, Option::as_mut).map_err(|_| internal(env, "the instance was disposed"))?;
        if let Some(t) = &live.trapped {
            return Err(throw(env, Coded::new("AGENT_ERROR", format!("the instance cannot run again after it trapped ({t}); instantiate a new one")), &[]));
        }
        Ok(live)
    }

    /// Call `func` of the guest with fuel and the deadline re-armed (`deadline`: this call's own,
    /// in ticks from now) and this napi call's host function in reach of the import bridge.
    /// Returns the fuel used. A trap marks the instance as trapped and throws the classified
    /// error (`phase` names the call in its message), or rethrows what the host function threw.
    #[allow(clippy::too_many_arguments)]
    fn invoke(&self, env: &Env, live: &mut Live, func: Func, params: &[Val], results: &mut [Val], deadline: Option<u64>, phase: &str) -> napi::Result<f64> {
        let host_val = match &self.host {
            Some(r) => Some(unsafe { r.value(env.raw()) }.map_err(|e| internal(env, e))?),
            None => None,
        };
        self.arm(live, deadline).map_err(|e| internal(env, e))?;
        {
            let data = live.store.data_mut();
            data.limiter.clear_refusals();
            data.thrown = None;
            data.call = Some(CallCtx { env: env.raw(), host: host_val });
        }
        let outcome = func.call(&mut live.store, params, results);
        live.store.data_mut().call = None;
        let watch = metered::watch_of(&live.store);
        if let Some(w) = &watch {
            w.disarm();
        }
        match outcome {
            Ok(()) => Ok(self.fuel_consumed(live)),
            Err(e) => {
                let (c, fuel_consumed) = match &watch {
                    Some(w) => metered::classify_trap(&e, live.store.data(), w, metered_fuel(self.fuel), phase),
                    None => (classify_exec(&e, live.store.data(), phase), self.fuel_consumed(live)),
                };
                live.trapped = Some(c.message.clone());
                if let Some(exc) = live.store.data_mut().thrown.take() {
                    return Err(unsafe { js::rethrow(env.raw(), exc.value(env.raw()).map_err(|e| internal(env, e))?) });
                }
                Err(throw(env, c, &[("fuelConsumed", fuel_consumed)]))
            }
        }
    }

    fn run(&self, env: &Env, task: String, deadline: Option<u64>) -> napi::Result<RunResult> {
        let mut live = self.live(env)?;
        let func = live.func;
        let mut results = [Val::Bool(false)];
        let fuel_consumed = self.invoke(env, &mut live, func, &[Val::String(task)], &mut results, deadline, "run")?;
        match &results[0] {
            Val::Result(Ok(Some(v))) => match &**v {
                Val::String(s) => Ok(RunResult { ok: Some(s.clone()), err: None, fuel_consumed }),
                other => Err(internal(env, format!("run returned ok({other:?}), not a string"))),
            },
            Val::Result(Err(Some(v))) => match &**v {
                Val::String(s) => Ok(RunResult { ok: None, err: Some(s.clone()), fuel_consumed }),
                other => Err(internal(env, format!("run returned err({other:?}), not a string"))),
            },
            other => Err(internal(env, format!("run returned {other:?}, not result<string, string>"))),
        }
    }
}

/// Listen on 127.0.0.1:`port` inside the network namespace of process `pid` (root only);
/// returns the listening descriptor for `net.Server.listen({ fd })`. Used by the native
/// sandbox's egress: the host serves the sandbox's proxy address, nothing runs inside.
#[napi]
pub fn listen_in_netns(pid: u32, port: u32) -> napi::Result<i32> {
    let port = u16::try_from(port).map_err(|_| napi::Error::from_reason(format!("port {port} is out of range")))?;
    netns::listen_in_netns(pid, port).map_err(napi::Error::from_reason)
}
