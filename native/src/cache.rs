//! On-disk cache of compiled components: `Component::serialize` output stored as
//! `<cacheDir>/<sha256(component bytes)>-<engine fingerprint>.cwasm`.
//!
//! The fingerprint is SHA-256 over the wasmtime version and `Engine::precompile_compatibility_hash`
//! (compiler settings, enabled wasm features, target), so a different wasmtime or engine
//! configuration never reads another's artifact. Files are written atomically (temporary file in
//! the same directory, then rename), so a reader sees either nothing or a complete artifact.
//!
//! Trust: `Component::deserialize_file` maps the file as executable code. Only files this module
//! wrote are read, but anyone who can write to the cache directory can make this process run
//! arbitrary native code: the directory must be private to the host's user (created 0700 here).
//! An artifact that fails to deserialize (truncated, other version) is recompiled and replaced.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The wasmtime release this crate is pinned to (Cargo.toml says `=48.0.8`).
pub const WASMTIME_VERSION: &str = "48.0.8";

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only used to feed bytes into SHA-256")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 16 hex digits identifying the wasmtime version and engine configuration, and `meter_key`:
/// how an instrumented engine's components were metered (empty for wasmtime's own metering).
pub fn engine_fingerprint(engine: &Engine, meter_key: &str) -> String {
    let mut h = ShaHasher(Sha256::new());
    h.write(b"agentos-wasmtime cache v1\0wasmtime ");
    h.write(WASMTIME_VERSION.as_bytes());
    engine.precompile_compatibility_hash().hash(&mut h);
    if !meter_key.is_empty() {
        h.write(b"\0metered ");
        h.write(meter_key.as_bytes());
        h.write(&crate::meter::REWRITE_VERSION.to_le_bytes());
    }
    hex(&h.0.finalize()[..8])
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub struct Loaded {
    pub component: Component,
    pub cache_hit: bool,
    /// Why the cache was not used or not written (unreadable artifact, read-only directory…).
    pub cache_note: Option<String>,
}

fn artifact_path(dir: &Path, key: &str, fingerprint: &str) -> PathBuf {
    dir.join(format!("{key}-{fingerprint}.cwasm"))
}

/// The artifact for `key` in `dir`, if there is one that loads (None: none, or unusable).
pub fn find(engine: &Engine, dir: &Path, key: &str, fingerprint: &str) -> Option<Component> {
    let path = artifact_path(dir, key, fingerprint);
    if !path.is_file() {
        return None;
    }
    // SAFETY: as in `load_or_compile`.
    unsafe { Component::deserialize_file(engine, &path) }.ok()
}

/// Remove the artifact for `key` in `dir`, if any (a baseline tier's, once the optimized one exists).
pub fn remove(dir: &Path, key: &str, fingerprint: &str) {
    let _ = fs::remove_file(artifact_path(dir, key, fingerprint));
}

/// Write `component` as the artifact for `key` in `dir` (atomically; see `store`).
pub fn save(dir: &Path, key: &str, fingerprint: &str, component: &Component) -> Result<(), String> {
    store(dir, &artifact_path(dir, key, fingerprint), component)
}

/// Compile `bytes`, or load the artifact a previous compile of the same bytes left in `dir`.
pub fn load_or_compile(engine: &Engine, bytes: &[u8], dir: Option<&Path>, key: &str, fingerprint: &str) -> wasmtime::Result<Loaded> {
    let Some(dir) = dir else {
        return Ok(Loaded { component: Component::from_binary(engine, bytes)?, cache_hit: false, cache_note: None });
    };
    let path = artifact_path(dir, key, fingerprint);
    let mut note = None;
    if path.is_file() {
        // SAFETY: the file name is the hash of the component bytes plus the engine fingerprint,
        // and only `store` below writes such names into this (private) directory.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(Loaded { component, cache_hit: true, cache_note: None }),
            Err(e) => note = Some(format!("cached artifact was unusable, recompiled: {e}")),
        }
    }
    let component = Component::from_binary(engine, bytes)?;
    if let Err(e) = store(dir, &path, &component) {
        note = Some(format!("could not write the cache: {e}"));
    }
    Ok(Loaded { component, cache_hit: false, cache_note: note })
}

fn store(dir: &Path, path: &Path, component: &Component) -> Result<(), String> {
    let data = component.serialize().map_err(|e| e.to_string())?;
    create_private_dir(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("artifact"),
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        e.to_string()
    })
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| format!("creating {}: {e}", dir.display()))
}
