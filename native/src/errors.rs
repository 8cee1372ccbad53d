//! wasmtime errors → the sandbox's stable error codes (the same strings as `src/errors.ts`).

use wasmtime::{PoolConcurrencyLimitError, Trap};

use crate::interrupt::Cancelled;
use crate::state::HostState;

pub struct Coded {
    pub code: &'static str,
    pub message: String,
    /// For `MEMORY_LIMIT`: which limit refused (`memoryBytes` or `tableElements`) and what was
    /// asked for (bytes of the memory, elements of the table); thrown as `limit` / `requested`.
    pub refused: Option<(&'static str, f64)>,
}

impl Coded {
    pub fn new(code: &'static str, message: impl Into<String>) -> Coded {
        Coded { code, message: message.into(), refused: None }
    }

    fn with_refused(mut self, r: Option<(&'static str, f64)>) -> Coded {
        self.refused = r;
        self
    }
}

/// Collapse whitespace runs (wasmtime's backtraces and parser errors span lines).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` bytes of `s` (on a char boundary), with "…" when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The whole error chain on one line ("outer: inner: root").
pub fn chain(err: &wasmtime::Error) -> String {
    let parts: Vec<String> = err.chain().map(|e| one_line(&e.to_string())).collect();
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        // wasmtime often repeats the inner message in the outer one; keep each once.
        if !out.iter().any(|o| o.contains(&p)) {
            out.push(p);
        }
    }
    out.join(": ")
}

fn is_memory_validation(msg: &str) -> bool {
    // Pool validation at compile/deserialize ("memory has a minimum byte size of N which exceeds
    // the limit of M bytes") and initial allocation ("memory minimum size of N pages exceeds
    // memory limits").
    (msg.contains("minimum byte size") && msg.contains("exceeds the limit")) || msg.contains("memory minimum size of")
}

/// An error from compiling or deserializing a component.
pub fn classify_compile(err: &wasmtime::Error) -> Coded {
    let msg = chain(err);
    if is_memory_validation(&msg) {
        return Coded::new("MEMORY_LIMIT", format!("the component needs more memory than this engine allows: {msg}"));
    }
    Coded::new("COMPONENT_INVALID", format!("the component could not be compiled: {msg}"))
}

/// An error from instantiating (start functions run here too) or calling the guest.
pub fn classify_exec(err: &wasmtime::Error, st: &HostState, phase: &str) -> Coded {
    if err.downcast_ref::<Cancelled>().is_some() {
        return Coded::new("CANCELLED", format!("{Cancelled} (the guest was stopped during {phase})"));
    }
    let msg = chain(err);
    if let Some(trap) = err.downcast_ref::<Trap>() {
        // Lead with the trap itself, then where it happened.
        let context = msg.replace(&trap.to_string(), "").replace("error while executing at ", "");
        let context = truncate(context.trim_end_matches([':', ' ']), 240);
        let msg = format!("{trap} ({context})");
        match trap {
            Trap::OutOfFuel => return Coded::new("FUEL_EXHAUSTED", format!("agent used up its fuel during {phase}")),
            Trap::Interrupt => return Coded::new("TIMEOUT", format!("agent ran past its deadline during {phase} (epoch interruption)")),
            _ => {}
        }
        if let Some(refused) = &st.limiter.memory_refused {
            return Coded::new("MEMORY_LIMIT", format!("agent trapped after it was refused memory during {phase} ({refused}): {msg}"))
                .with_refused(st.limiter.memory_requested.map(|b| ("memoryBytes", b as f64)));
        }
        return Coded::new("AGENT_ERROR", format!("agent trapped during {phase}: {msg}"));
    }
    if err.is::<PoolConcurrencyLimitError>() || msg.contains("maximum concurrent limit") {
        return Coded::new("QUOTA_EXCEEDED", format!("the engine's instance pool is full ({msg}); dispose idle instances or raise maxInstances"));
    }
    if let Some(refused) = &st.limiter.memory_refused {
        return Coded::new("MEMORY_LIMIT", format!("{phase} failed: {refused}: {msg}")).with_refused(st.limiter.memory_requested.map(|b| ("memoryBytes", b as f64)));
    }
    if is_memory_validation(&msg) {
        return Coded::new("MEMORY_LIMIT", format!("{phase} failed: {msg}"));
    }
    if let Some(refused) = &st.limiter.table_refused {
        return Coded::new("MEMORY_LIMIT", format!("{phase} failed: {refused}: {msg}")).with_refused(st.limiter.table_requested.map(|n| ("tableElements", n as f64)));
    }
    Coded::new("AGENT_ERROR", format!("{phase} failed: {msg}"))
}
