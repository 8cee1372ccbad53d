//! Turns seed bytes into WebAssembly modules with `wasm-smith`, for the `smith` fuzz target
//! (fuzz/targets/smith.mjs). A long-lived process: one spawn serves a whole fuzz run.
//!
//! Protocol (stdin → stdout), every message `u32 little-endian length` + payload:
//! - request payload: one op byte, then its argument;
//!   - `g` + flags byte + seed bytes: a module from a swarm configuration drawn from the seed;
//!   - `p` + module bytes: the module in the text format (for failure reports);
//! - response payload: one status byte (0 ok, 1 error) + the module / text / error message.
//!
//! Flags: bit 0 (`EXOTIC`) also lets the seed enable proposals the instrumenter refuses or
//! Node 20's V8 cannot run (GC, memory64, multi-memory, custom page sizes, wide arithmetic):
//! those modules test refusals, not behaviour.
use arbitrary::{Arbitrary, Unstructured};
use std::io::{self, BufReader, BufWriter, Read, Write};
use wasm_smith::{Config, Module};

const EXOTIC: u8 = 1;
/// `ensure_termination`'s budget: loop iterations plus function entries per instance before
/// the module traps by itself, so plain modules always finish (the instrumented ones too).
const TERMINATION_FUEL: u32 = 2000;
const PAGE: u64 = 65536;

/// A swarm configuration (every feature flag and size drawn from the seed), then bounded:
/// no imports (the module runs standalone), every item exported, NaNs canonical (results
/// are comparable bit for bit), small sizes, memories and tables with a maximum (a cap the
/// instrumenter adds then never binds).
fn config(u: &mut Unstructured, flags: u8) -> arbitrary::Result<Config> {
    let mut c = Config::arbitrary(u)?;
    c.max_imports = 0;
    c.min_imports = 0;
    c.available_imports = None;
    c.exports = None;
    c.module_shape = None;
    c.export_everything = true;
    c.canonicalize_nans = true;
    c.allow_invalid_funcs = false;
    c.max_types = c.max_types.min(30);
    // At least one function: a module without any tests only the section rewrite.
    c.max_funcs = c.max_funcs.clamp(1, 24);
    c.min_funcs = 1;
    c.max_globals = c.max_globals.min(20);
    c.max_tags = c.max_tags.min(4);
    c.max_exports = c.max_exports.min(60);
    c.max_element_segments = c.max_element_segments.min(8);
    c.max_elements = c.max_elements.min(40);
    c.max_data_segments = c.max_data_segments.min(8);
    c.max_instructions = c.max_instructions.min(200);
    c.max_table_elements = c.max_table_elements.min(1000);
    c.table_max_size_required = true;
    c.memory_max_size_required = true;
    c.max_memory32_bytes = c.max_memory32_bytes.min(16 * PAGE);
    c.max_memory64_bytes = c.max_memory64_bytes.min(16 * PAGE as u128);
    c.max_tables = c.max_tables.min(4);
    if flags & EXOTIC == 0 {
        c.gc_enabled = false;
        c.memory64_enabled = false;
        c.max_memories = c.max_memories.min(1);
        c.custom_page_sizes_enabled = false;
        c.wide_arithmetic_enabled = false;
        c.shared_everything_threads_enabled = false;
        c.custom_descriptors_enabled = false;
    } else {
        c.max_memories = c.max_memories.min(3);
        c.custom_page_sizes_enabled = u.arbitrary()?;
        c.wide_arithmetic_enabled = u.arbitrary()?;
    }
    Ok(c)
}

fn generate(arg: &[u8]) -> Result<Vec<u8>, String> {
    let (flags, seed) = arg.split_first().map(|(f, s)| (*f, s)).unwrap_or((0, &[][..]));
    let mut u = Unstructured::new(seed);
    let config = config(&mut u, flags).map_err(|e| format!("config: {e}"))?;
    let mut module = Module::new(config, &mut u).map_err(|e| format!("module: {e}"))?;
    module.ensure_termination(TERMINATION_FUEL).map_err(|e| format!("ensure_termination: {e}"))?;
    Ok(module.to_bytes())
}

fn handle(request: &[u8]) -> Result<Vec<u8>, String> {
    match request.split_first() {
        Some((b'g', arg)) => generate(arg),
        Some((b'p', module)) => wasmprinter::print_bytes(module).map(String::into_bytes).map_err(|e| format!("print: {e}")),
        _ => Err("unknown request".to_string()),
    }
}

fn main() -> io::Result<()> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        let mut len = [0u8; 4];
        match input.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut request = vec![0u8; u32::from_le_bytes(len) as usize];
        input.read_exact(&mut request)?;
        // wasm-smith must not take the process down with it: a panic is an error response.
        let (status, body) = match std::panic::catch_unwind(|| handle(&request)) {
            Ok(Ok(body)) => (0u8, body),
            Ok(Err(message)) => (1, message.into_bytes()),
            Err(_) => (1, b"panic in wasm-smith".to_vec()),
        };
        output.write_all(&((body.len() + 1) as u32).to_le_bytes())?;
        output.write_all(&[status])?;
        output.write_all(&body)?;
        output.flush()?;
    }
}
