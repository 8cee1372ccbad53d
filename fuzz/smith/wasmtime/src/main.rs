//! Runs core WebAssembly modules on wasmtime (the version and features of the addon in
//! native/) for the `smith` fuzz target: the same module plain and instrumented (our
//! instrumenter in stop-flag mode, as the wasmtime engine meters guests), every exported
//! function called with the same arguments, the outcomes reported as JSON for the target to
//! compare. A long-lived process.
//!
//! Protocol (stdin → stdout), every message `u32 little-endian length` + payload:
//! - request: mode byte (0 plain, 1 instrumented) + module bytes;
//! - response: JSON `{ "compile": null | error, "outcomes": [ { "what", "result" | "trap",
//!   "fuel", "state" } ] }` (see `fuzz/targets/smith.mjs`).
use serde_json::{json, Value};
use std::io::{self, BufReader, BufWriter, Read, Write};
use wasmtime::{Config, Engine, Extern, Global, GlobalType, Instance, Module, Mutability, Store, Trap, Val, ValType};

/// The instrumented module's fuel: far more than `ensure_termination` lets a module use.
const FUEL: i64 = 1 << 50;
/// Argument sets after all-zero ones (as in the target: keep in step).
/// wasmtime's own fuel per instance (about a second of work).
const ENGINE_FUEL: u64 = 1_000_000_000;
const ARGS: [(i32, i64, f32, f64); 2] = [(1, 1, 1.5, -2.25), (-7, 1 << 40, -0.0, 1e300)];
const START_EXPORT: &str = "agentos:start";

fn engine() -> Engine {
    let mut cfg = Config::new();
    // As the addon's engine for metered guests (lib.rs): threads for the flag's atomic loads.
    cfg.wasm_threads(true).wasm_multi_memory(true);
    // wasmtime's own fuel bounds every run (a mutated module may have lost its termination
    // counter): a run that spends it ends in `trap:OutOfFuel`, which the target ignores.
    cfg.consume_fuel(true);
    Engine::new(&cfg).expect("engine")
}

/// A trap as a stable name (its kind; messages differ between versions), else the error text.
fn failure(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(t) => format!("trap:{t:?}"),
        None => format!("error:{}", e.to_string().lines().next().unwrap_or("")),
    }
}

fn show(v: &Val) -> Value {
    match v {
        Val::I32(x) => json!(x.to_string()),
        Val::I64(x) => json!(x.to_string()),
        Val::F32(b) => json!(if f32::from_bits(*b).is_nan() { "nan".to_string() } else { format!("f32:{b:08x}") }),
        Val::F64(b) => json!(if f64::from_bits(*b).is_nan() { "nan".to_string() } else { format!("f64:{b:016x}") }),
        Val::V128(x) => json!(format!("v128:{:032x}", x.as_u128())),
        other => json!(if other.ref_().map_or(false, |r| r.is_null()) { "null" } else { "ref" }),
    }
}

fn arg(ty: &ValType, set: usize) -> Option<Val> {
    if set == 0 {
        return Val::default_for_ty(ty);
    }
    let (i, l, f, d) = ARGS[set - 1];
    Some(match ty {
        ValType::I32 => Val::I32(i),
        ValType::I64 => Val::I64(l),
        ValType::F32 => Val::F32(f.to_bits()),
        ValType::F64 => Val::F64(d.to_bits()),
        ValType::V128 => Val::V128((l as u128 * 3 + i as u128).into()),
        ValType::Ref(_) => Val::default_for_ty(ty)?,
    })
}

/// Exported globals' values and a hash of each exported memory (not the instrumenter's own).
fn state(store: &mut Store<()>, instance: &Instance) -> Value {
    let exports: Vec<(String, Extern)> = instance.exports(&mut *store).map(|e| (e.name().to_string(), e.into_extern())).collect();
    let mut out = Vec::new();
    for (name, ext) in exports {
        if name.starts_with("agentos:") {
            continue;
        }
        match ext {
            Extern::Global(g) => out.push(json!([name, show(&g.get(&mut *store))])),
            Extern::Memory(m) => {
                let data = m.data(&*store);
                let hash = data.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
                out.push(json!([name, format!("{}:{hash:016x}", data.len())]));
            }
            Extern::SharedMemory(m) => out.push(json!([name, format!("shared:{}", m.data_size())])),
            _ => {}
        }
    }
    json!(out)
}

fn run(engine: &Engine, instrumented: bool, bytes: &[u8]) -> Value {
    let module = match Module::new(engine, bytes) {
        Ok(m) => m,
        Err(e) => return json!({ "compile": failure(&e), "outcomes": [] }),
    };
    let mut store = Store::new(engine, ());
    store.set_fuel(ENGINE_FUEL).expect("fuel");
    let mut imports = Vec::new();
    let mut fuel = None;
    for import in module.imports() {
        if instrumented && import.module() == "agentos:limits" && import.name() == "fuel" {
            let g = Global::new(&mut store, GlobalType::new(ValType::I64, Mutability::Var), Val::I64(FUEL)).expect("fuel global");
            fuel = Some(g);
            imports.push(Extern::Global(g));
        } else {
            return json!({ "compile": format!("error:unexpected import {}.{}", import.module(), import.name()), "outcomes": [] });
        }
    }
    let mut outcomes = Vec::new();
    let used = |store: &mut Store<()>| fuel.map(|g| FUEL - g.get(&mut *store).unwrap_i64());
    let instance = match Instance::new(&mut store, &module, &imports) {
        Ok(i) => i,
        Err(e) => {
            outcomes.push(json!({ "what": "instantiate", "trap": failure(&e), "fuel": used(&mut store) }));
            return json!({ "compile": null, "outcomes": outcomes });
        }
    };
    // Stop-flag mode moves the start function to an export the host calls (as the engine does).
    let start = instance.get_func(&mut store, START_EXPORT).map(|f| f.call(&mut store, &[], &mut []));
    let trap = match start {
        Some(Err(e)) => Some(failure(&e)),
        _ => None,
    };
    if trap.is_some() {
        // As a plain module's start function trapping in `Instance::new`: no state to see.
        outcomes.push(json!({ "what": "instantiate", "trap": trap, "fuel": used(&mut store) }));
        return json!({ "compile": null, "outcomes": outcomes });
    }
    outcomes.push(json!({ "what": "instantiate", "trap": null, "fuel": used(&mut store), "state": state(&mut store, &instance) }));
    let funcs: Vec<(String, wasmtime::Func)> = instance
        .exports(&mut store)
        .filter(|e| !e.name().starts_with("agentos:"))
        .filter_map(|e| Some((e.name().to_string(), e.into_func()?)))
        .collect();
    for (name, func) in funcs {
        let ty = func.ty(&store);
        for set in 0..=ARGS.len() {
            let Some(args) = ty.params().map(|p| arg(&p, set)).collect::<Option<Vec<_>>>() else { break };
            let mut results: Vec<Val> = ty.results().map(|r| Val::default_for_ty(&r).unwrap_or(Val::I32(0))).collect();
            let before = used(&mut store);
            let outcome = func.call(&mut store, &args, &mut results);
            let fuel_used = used(&mut store).zip(before).map(|(a, b)| a - b);
            let mut o = json!({ "what": format!("{name}/{set}"), "fuel": fuel_used });
            match outcome {
                Ok(()) => o["result"] = json!(results.iter().map(show).collect::<Vec<_>>()),
                Err(e) => o["trap"] = json!(failure(&e)),
            }
            o["state"] = state(&mut store, &instance);
            outcomes.push(o);
        }
    }
    json!({ "compile": null, "outcomes": outcomes })
}

fn main() -> io::Result<()> {
    let engine = engine();
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
        let body = match request.split_first() {
            Some((mode, module)) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&engine, *mode == 1, module)))
                .unwrap_or_else(|_| json!({ "compile": "error:panic in the runner", "outcomes": [] })),
            None => json!({ "compile": "error:empty request", "outcomes": [] }),
        };
        let text = body.to_string();
        output.write_all(&(text.len() as u32).to_le_bytes())?;
        output.write_all(text.as_bytes())?;
        output.flush()?;
    }
}
