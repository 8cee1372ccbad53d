//! Finding or compiling a component, in two tiers for metered components.
//!
//! Cranelift takes ~12 s on two cores for the 17 MiB StarlingMonkey agent once metered (25 MB),
//! where jco's cold load takes 2.5 s (V8 compiles lazily). An instrumented engine therefore has a
//! baseline tier: Winch, wasmtime's single-pass compiler, which compiles the same component in
//! ~3.5 s into code that runs 1.5–3× slower. A metered component missing from the cache is
//! compiled with Winch, and a background thread (lowest priority, one core) then writes that
//! artifact, compiles the component with Cranelift, writes that artifact and puts the result in
//! the shared engine's memory: instances made from then on, and later processes, get Cranelift
//! code. `agentos build` compiles the Cranelift artifact straight away (`optimized`).
//!
//! Artifacts of the two tiers live side by side in the cache directory under their engines'
//! fingerprints (`cache.rs`); a lookup prefers the optimized one.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::{cache, Shared};

/// What `load` may compile when neither memory nor the cache has the component.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// These bytes, whose SHA-256 is the key; `checked`: the caller gave the key, so it is
    /// verified before anything is compiled or written under it (a memory or disk hit trusts
    /// it, as it trusts the bytes themselves).
    Bytes { bytes: &'a [u8], checked: bool },
    /// A metered component (`meterComponent`), cached under the key of the bytes it was made
    /// from; `optimized`: compile with Cranelift now even if a baseline tier exists.
    Metered { bytes: &'a Arc<Vec<u8>>, optimized: bool },
    /// Nothing: an instrumented engine given plain bytes only finds what was metered before.
    Lookup,
    /// Plain bytes our rewrite cannot meter (nested components that define core modules):
    /// compiled by the instrumented engine's fallback, with wasmtime's own fuel and epochs.
    Fallback(&'a [u8]),
}

/// Raised by `load` for `Source::Lookup` when nothing was found.
#[derive(Debug)]
pub struct NotPrepared;

impl std::fmt::Display for NotPrepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this engine meters components with our instrumenter and has not compiled this one (meterComponent + compileMetered / inspectMetered first)")
    }
}

impl std::error::Error for NotPrepared {}

/// An instrumented engine's baseline tier (see the module docs).
pub struct Baseline {
    pub engine: Engine,
    pub fingerprint: String,
    /// The optimizing compiler for the background thread: the main engine's code settings on
    /// one thread, so that it leaves the other cores to the guests already running.
    pub background: Engine,
}

/// An instrumented engine's fallback for components it cannot meter: wasmtime's own fuel and
/// epoch interruption (1.4× on compute-bound code, fuel in wasmtime's units).
pub struct Fallback {
    pub engine: Engine,
    pub fingerprint: String,
}

/// The engines one `load` may use.
pub struct Engines<'a> {
    pub main: &'a Engine,
    pub fingerprint: &'a str,
    pub baseline: Option<&'a Arc<Baseline>>,
    pub fallback: Option<&'a Arc<Fallback>>,
    pub shared: Option<&'a Arc<Shared>>,
}

/// A component found or compiled.
pub struct Loaded {
    pub component: Component,
    pub cache_hit: bool,
    pub cache_note: Option<String>,
    /// Compiled by Winch (the optimized artifact is on its way) rather than Cranelift.
    pub baseline: bool,
}

/// Whether `component` was compiled by the baseline engine.
fn is_baseline(e: &Engines<'_>, component: &Component) -> bool {
    e.baseline.is_some_and(|b| Engine::same(&b.engine, component.engine()))
}

/// Find or compile the component `key` names, as `source` allows (see the module docs).
pub fn load(e: &Engines<'_>, source: Source<'_>, cache_dir: Option<&str>, key: &str) -> wasmtime::Result<Loaded> {
    let dir = cache_dir.map(Path::new);
    let optimized_now = matches!(source, Source::Metered { optimized: true, .. });
    if let Some(c) = e.shared.and_then(|s| s.get(key)) {
        let baseline = is_baseline(e, &c);
        if !(optimized_now && baseline) {
            // Given the bytes again for a baseline: make sure the optimized tier is on its way
            // (it is not when the baseline came from the cache of a process that ended first).
            if let (true, Source::Metered { bytes, .. }, Some(b)) = (baseline, source, e.baseline) {
                optimize_later(e, b, bytes.clone(), cache_dir, key);
            }
            return Ok(Loaded { baseline, component: c, cache_hit: true, cache_note: None });
        }
    }
    let hit = |component: Component, baseline: bool| {
        if let Some(s) = e.shared {
            s.put(key, &component);
        }
        Ok(Loaded { component, cache_hit: true, cache_note: None, baseline })
    };
    if let Some(c) = dir.and_then(|d| cache::find(e.main, d, key, e.fingerprint)) {
        return hit(c, false);
    }
    let tiered = e.baseline.filter(|_| !optimized_now);
    match source {
        Source::Bytes { bytes, checked } => {
            if checked && cache::content_hash(bytes) != key {
                wasmtime::bail!("the key given is not the SHA-256 of the component bytes");
            }
            let loaded = cache::load_or_compile(e.main, bytes, dir, key, e.fingerprint)?;
            if let Some(s) = e.shared {
                s.put(key, &loaded.component);
            }
            Ok(Loaded { component: loaded.component, cache_hit: loaded.cache_hit, cache_note: loaded.cache_note, baseline: false })
        }
        Source::Lookup => {
            if let Some(c) = e.baseline.zip(dir).and_then(|(b, d)| cache::find(&b.engine, d, key, &b.fingerprint)) {
                return hit(c, true);
            }
            match e.fallback.zip(dir).and_then(|(f, d)| cache::find(&f.engine, d, key, &f.fingerprint)) {
                Some(c) => hit(c, false),
                None => Err(NotPrepared.into()),
            }
        }
        Source::Fallback(bytes) => {
            let f = e.fallback.ok_or_else(|| wasmtime::format_err!("this engine has no fallback for components it cannot meter"))?;
            let loaded = cache::load_or_compile(&f.engine, bytes, dir, key, &f.fingerprint)?;
            if let Some(s) = e.shared {
                s.put(key, &loaded.component);
            }
            Ok(Loaded { component: loaded.component, cache_hit: loaded.cache_hit, cache_note: loaded.cache_note, baseline: false })
        }
        Source::Metered { bytes, .. } => {
            let Some(b) = tiered else {
                let loaded = cache::load_or_compile(e.main, bytes, dir, key, e.fingerprint)?;
                if let Some(s) = e.shared {
                    s.put(key, &loaded.component);
                }
                return Ok(Loaded { component: loaded.component, cache_hit: loaded.cache_hit, cache_note: loaded.cache_note, baseline: false });
            };
            let found = dir.and_then(|d| cache::find(&b.engine, d, key, &b.fingerprint));
            let cache_hit = found.is_some();
            let mut cache_note = None;
            let component = match found {
                Some(c) => c,
                None => {
                    let c = Component::from_binary(&b.engine, bytes)?;
                    // Written now, not in the background: a short-lived process (`agentos run`)
                    // often ends before the optimized tier is done, and the next one then finds
                    // at least this instead of compiling again.
                    if let Some(d) = dir {
                        if let Err(e) = cache::save(d, key, &b.fingerprint, &c) {
                            cache_note = Some(format!("could not write the cache: {e}"));
                        }
                    }
                    c
                }
            };
            if let Some(s) = e.shared {
                s.put(key, &component);
            }
            optimize_later(e, b, bytes.clone(), cache_dir, key);
            Ok(Loaded { component, cache_hit, cache_note, baseline: true })
        }
    }
}

/// Keys (engine fingerprint + component key) whose optimized tier is being compiled.
static OPTIMIZING: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// On a background thread: compile `bytes` with Cranelift, write that artifact and put it in the
/// shared engine's memory in place of the baseline. At most one such compile per component and
/// engine at a time.
fn optimize_later(e: &Engines<'_>, b: &Arc<Baseline>, bytes: Arc<Vec<u8>>, cache_dir: Option<&str>, key: &str) {
    let id = format!("{}/{key}", e.fingerprint);
    if !OPTIMIZING.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone()) {
        return;
    }
    let (main, fingerprint, b, shared) = (e.main.clone(), e.fingerprint.to_string(), b.clone(), e.shared.cloned());
    let (dir, key) = (cache_dir.map(str::to_string), key.to_string());
    let running = id.clone();
    let work = move || {
        lower_priority();
        // Another process may have written it meanwhile; otherwise compile on the one-thread
        // engine and load the result into the main one (the same code settings).
        let written = dir.as_deref().and_then(|d| cache::find(&main, Path::new(d), &key, &fingerprint));
        let optimized = match written {
            Some(c) => Ok(c),
            None => Component::from_binary(&b.background, &bytes).and_then(|c| c.serialize()).and_then(|data| {
                // SAFETY: bytes serialized just now by an engine of the same compatibility hash.
                unsafe { Component::deserialize(&main, &data) }
            }),
        };
        if let Ok(c) = optimized {
            // The baseline artifact is of no use once the optimized one is there.
            if let Some(d) = &dir {
                if cache::save(Path::new(d), &key, &fingerprint, &c).is_ok() {
                    cache::remove(Path::new(d), &key, &b.fingerprint);
                }
            }
            if let Some(s) = &shared {
                s.put(&key, &c);
            }
        }
        OPTIMIZING.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    };
    if std::thread::Builder::new().name("agentos-optimize".into()).spawn(work).is_err() {
        OPTIMIZING.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner()).remove(&running);
    }
}

/// The calling thread at the lowest scheduling priority (Linux: per-thread nice 19).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
    }
}
