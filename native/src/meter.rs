//! Metering a component with our own instrumenter (`src/limits`, the one the jco engine uses)
//! instead of wasmtime's fuel and epoch checks, which cost 1.5× on compute-bound code: their
//! slow paths are calls, and a call anywhere in a loop makes Cranelift spill the loop's values
//! (all vector registers are caller-saved). Instrumented code only ever traps on its slow paths.
//!
//! [`meter_component`] hands every core module to a callback (the instrumenter in stop-flag
//! mode, `InstrumentOptions.stopFlag`), then rewrites the component around the results:
//!
//! - each metered module imports `agentos:limits` `fuel` (a mutable i64 global, the budget
//!   left), exports a one-page memory `agentos:flags` that its loop headers and function
//!   entries poll (byte 0, atomically: the host sets it to stop the guest) and where its traps
//!   leave a record (byte 1: 1 fuel ran out, 2 stopped; bytes 8..16: the fuel global then), and
//!   exports its former start function as `agentos:start`;
//! - prepended: the component imports [`BUDGET_IMPORT`] and [`REGISTER_IMPORT`], a core module
//!   F that defines the fuel global (its start function sets it to `budget()`: the fuel of
//!   instantiation) and exports `get`/`set` for it, lifted and exported as [`GET_EXPORT`] and
//!   [`SET_EXPORT`];
//! - every instantiation of a metered module gets `agentos:limits` = F's instance, and is
//!   followed by a small module S whose start function calls `register(flags)` (lowered with
//!   the module's flag memory, so the host sees a slice of it: `watch.rs` keeps the pointer)
//!   and then the module's own start function. The host can thus stop the module's code from
//!   its first instruction on, during instantiation too.
//!
//! Everything added at the top shifts the top-level index spaces; what is inserted after a
//! metered instance moves the core instance, core function and core memory indices that follow
//! it. Both are applied with `wasm_encoder`'s reencoder. Nested components must not define core
//! modules (refused: [`MeterError::Unsupported`]).

use wasm_encoder::reencode::{component_utils, Error as ReError, Reencode, ReencodeComponent};
use wasm_encoder::{
    Alias, CanonicalFunctionSection, CanonicalOption, CodeSection, Component, ComponentAliasSection, ComponentExportKind, ComponentExportSection, ComponentImportSection,
    ComponentTypeRef, ComponentTypeSection, ComponentValType, EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    InstanceSection, Module, ModuleArg, PrimitiveValType, StartSection, TypeSection, ValType,
};
use wasmparser::{CanonicalFunction, ComponentAlias, ComponentExternalKind, ExternalKind, Parser, Payload, TypeRef};

/// Bumped whenever the rewrite changes what it emits: part of the fingerprint of an
/// instrumented engine's artifacts (`cache.rs`), so none made by another version is loaded.
pub const REWRITE_VERSION: u32 = 1;

/// Component imports the rewrite adds (the host defines them: `state.rs`, `lib.rs`).
pub const BUDGET_IMPORT: &str = "agentos-limits-budget";
pub const REGISTER_IMPORT: &str = "agentos-limits-register";
/// Component exports the rewrite adds: the fuel global, read and written between calls.
pub const GET_EXPORT: &str = "agentos-limits-get";
pub const SET_EXPORT: &str = "agentos-limits-set";
/// Every name the rewrite adds starts with this; a component that uses one already is refused.
pub const RESERVED_PREFIX: &str = "agentos-limits-";

/// Names inside the metered modules (see `src/limits/wasm`).
const LIMITS_MODULE: &str = "agentos:limits";
const FUEL_FIELD: &str = "fuel";
const FLAGS_EXPORT: &str = "agentos:flags";
const START_EXPORT: &str = "agentos:start";

/// Bytes of the flag record the host reads (`watch.rs`): stop, kind, padding, fuel at the trap.
pub const FLAG_BYTES: u32 = 16;
/// Each metered module's flag memory: one page.
pub const FLAG_MEMORY_BYTES: usize = 65536;

#[derive(Debug)]
pub enum MeterError {
    /// Not a valid component, or an instrumented module without what the rewrite needs.
    Invalid(String),
    /// A valid component this rewrite cannot meter (nested components with core modules).
    Unsupported(String),
    /// The instrument callback failed (its message).
    Instrument(String),
}

/// The result of [`meter_component`].
pub struct Metered {
    pub bytes: Vec<u8>,
    /// Core modules metered (one callback each).
    pub modules: u32,
}

/// What a metered module imports and exports (checked on the callback's output).
#[derive(Clone, Copy)]
struct ModuleInfo {
    has_start_export: bool,
}

fn inspect_metered(bytes: &[u8]) -> Result<ModuleInfo, String> {
    let mut fuel = false;
    let mut flags = false;
    let mut start_export = false;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::ImportSection(s) => {
                for imp in s.into_imports() {
                    let imp = imp.map_err(|e| e.to_string())?;
                    if imp.module == LIMITS_MODULE && imp.name == FUEL_FIELD {
                        fuel = matches!(imp.ty, TypeRef::Global(g) if g.mutable && g.content_type == wasmparser::ValType::I64);
                    }
                }
            }
            Payload::ExportSection(s) => {
                for e in s {
                    let e = e.map_err(|e| e.to_string())?;
                    flags |= e.name == FLAGS_EXPORT && e.kind == ExternalKind::Memory;
                    start_export |= e.name == START_EXPORT && e.kind == ExternalKind::Func;
                }
            }
            Payload::StartSection { .. } => return Err("it still has a start function (it would run before the host can stop it)".into()),
            Payload::CodeSectionStart { range, .. } => {
                // Nothing after the code matters here; skip the bodies.
                let _ = range;
            }
            _ => {}
        }
    }
    if !fuel {
        return Err(format!("it does not import `{LIMITS_MODULE}` `{FUEL_FIELD}` (mut i64)"));
    }
    if !flags {
        return Err(format!("it does not export the memory `{FLAGS_EXPORT}`"));
    }
    Ok(ModuleInfo { has_start_export: start_export })
}

/// F: the fuel global, set from `budget(flags)` when F is instantiated, with `get` and `set`.
/// `flags`: how many flag memories the metered instances will create (one page each), which
/// the host's memory limiter does not count against the guest (`state.rs`).
fn fuel_module(flags: u32) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I64]); // 0: get
    types.ty().function([ValType::I64], []); // 1: set
    types.ty().function([], []); // 2: start
    types.ty().function([ValType::I32], [ValType::I64]); // 3: budget
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import("host", "budget", EntityType::Function(3));
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(2).function(0).function(1); // 1 start, 2 get, 3 set
    m.section(&funcs);
    let mut globals = GlobalSection::new();
    globals.global(GlobalType { val_type: ValType::I64, mutable: true, shared: false }, &wasm_encoder::ConstExpr::i64_const(0));
    m.section(&globals);
    let mut exports = ExportSection::new();
    exports.export(FUEL_FIELD, ExportKind::Global, 0).export("get", ExportKind::Func, 2).export("set", ExportKind::Func, 3);
    m.section(&exports);
    m.section(&StartSection { function_index: 1 });
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    f.instructions().i32_const(flags as i32).call(0).global_set(0).end();
    code.function(&f);
    let mut f = Function::new([]);
    f.instructions().global_get(0).end();
    code.function(&f);
    let mut f = Function::new([]);
    f.instructions().local_get(0).global_set(0).end();
    code.function(&f);
    m.section(&code);
    m.finish()
}

/// S: registers a metered module's flag memory with the host, then runs its start function.
fn register_module(with_start: bool) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([ValType::I32, ValType::I32], []); // 0: register(ptr, len)
    types.ty().function([], []); // 1
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import("host", "register", EntityType::Function(0));
    if with_start {
        imports.import("host", "start", EntityType::Function(1));
    }
    m.section(&imports);
    let own = if with_start { 2 } else { 1 };
    let mut funcs = FunctionSection::new();
    funcs.function(1);
    m.section(&funcs);
    m.section(&StartSection { function_index: own });
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    let mut ins = f.instructions();
    ins.i32_const(0).i32_const(FLAG_BYTES as i32).call(0);
    if with_start {
        ins.call(1);
    }
    ins.end();
    code.function(&f);
    m.section(&code);
    m.finish()
}

/// What the prepended part adds to each top-level index space.
const ADDED_TYPES: u32 = 5; // get, set, list<u8>, register, budget
const ADDED_FUNCS: u32 = 6; // 2 imports, 2 lifts, 2 exports
const ADDED_MODULES: u32 = 3; // F, S without start, S with start
const ADDED_CORE_INSTANCES: u32 = 2; // F's imports, F
const ADDED_CORE_FUNCS: u32 = 3; // budget (lowered), get, set
const F_INSTANCE: u32 = 1;
const S_PLAIN: u32 = 1;
const S_START: u32 = 2;
const REGISTER_FUNC: u32 = 1;

/// Maps a top-level index space whose entries move by different amounts: `map[old] = new`.
#[derive(Default)]
struct Space {
    map: Vec<u32>,
    next: u32,
}

impl Space {
    fn starting_at(n: u32) -> Space {
        Space { map: Vec::new(), next: n }
    }
    /// An entry of the input is defined here.
    fn define(&mut self) {
        self.map.push(self.next);
        self.next += 1;
    }
    /// An entry the rewrite inserts is defined here; returns its index.
    fn insert(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }
    fn get(&self, old: u32) -> Result<u32, ReError<String>> {
        self.map.get(old as usize).copied().ok_or_else(|| ReError::UserError(format!("index {old} used before it is defined")))
    }
}

/// The callback that meters one core module (its index among the component's modules, its bytes).
pub type Instrument<'a> = dyn FnMut(u32, &[u8]) -> Result<Vec<u8>, String> + 'a;

struct Rewriter<'cb> {
    depth: u32,
    instrument: &'cb mut Instrument<'cb>,
    metered: u32,
    /// Per top-level module index of the input: the metered module's info (None: not defined
    /// by a module section here, e.g. imported).
    modules: Vec<Option<ModuleInfo>>,
    core_instances: Space,
    core_funcs: Space,
    memories: Space,
}

impl Reencode for Rewriter<'_> {
    type Error = String;

    fn function_index(&mut self, func: u32) -> Result<u32, ReError<String>> {
        if self.depth == 0 {
            self.core_funcs.get(func)
        } else {
            Ok(func)
        }
    }

    fn memory_index(&mut self, memory: u32) -> Result<u32, ReError<String>> {
        if self.depth == 0 {
            self.memories.get(memory)
        } else {
            Ok(memory)
        }
    }
}

impl ReencodeComponent for Rewriter<'_> {
    fn component_type_index(&mut self, ty: u32) -> u32 {
        if self.depth == 0 {
            ty + ADDED_TYPES
        } else {
            ty
        }
    }
    fn component_func_index(&mut self, f: u32) -> u32 {
        if self.depth == 0 {
            f + ADDED_FUNCS
        } else {
            f
        }
    }
    fn module_index(&mut self, m: u32) -> u32 {
        if self.depth == 0 {
            m + ADDED_MODULES
        } else {
            m
        }
    }
    fn instance_index(&mut self, i: u32) -> u32 {
        if self.depth == 0 {
            // An unknown index cannot be reported from here: keep it (out of range, the
            // component fails validation later).
            self.core_instances.get(i).unwrap_or(u32::MAX)
        } else {
            i
        }
    }
    fn outer_component_type_index(&mut self, count: u32, ty: u32) -> u32 {
        if count == self.depth {
            ty + ADDED_TYPES
        } else {
            ty
        }
    }
    fn outer_module_index(&mut self, count: u32, m: u32) -> u32 {
        if count == self.depth {
            m + ADDED_MODULES
        } else {
            m
        }
    }
    fn push_depth(&mut self) {
        self.depth += 1;
    }
    fn pop_depth(&mut self) {
        self.depth -= 1;
    }

    fn parse_component_payload(&mut self, component: &mut Component, payload: Payload<'_>, whole: &[u8]) -> Result<(), ReError<String>> {
        match payload {
            Payload::ModuleSection { unchecked_range, .. } => {
                if self.depth > 0 {
                    return Err(ReError::UserError("unsupported: a nested component defines core modules".into()));
                }
                let input = &whole[unchecked_range];
                let out = (self.instrument)(self.metered, input).map_err(|e| ReError::UserError(format!("instrument: {e}")))?;
                let info = inspect_metered(&out).map_err(|e| ReError::UserError(format!("invalid: core module {} as instrumented: {e}", self.metered)))?;
                self.metered += 1;
                self.modules.push(Some(info));
                component.section(&wasm_encoder::RawSection { id: wasm_encoder::ComponentSectionId::CoreModule as u8, data: &out });
                Ok(())
            }
            Payload::InstanceSection(section) if self.depth == 0 => self.core_instance_section(component, section),
            Payload::ComponentAliasSection(section) if self.depth == 0 => {
                let mut aliases = ComponentAliasSection::new();
                for a in section {
                    let a = a?;
                    let def = match &a {
                        ComponentAlias::CoreInstanceExport { kind: ExternalKind::Func, .. } => 1,
                        ComponentAlias::CoreInstanceExport { kind: ExternalKind::Memory, .. } => 2,
                        ComponentAlias::InstanceExport { kind: ComponentExternalKind::Module, .. } => 3,
                        _ => 0,
                    };
                    aliases.alias(self.component_alias(a)?);
                    match def {
                        1 => self.core_funcs.define(),
                        2 => self.memories.define(),
                        3 => self.modules.push(None),
                        _ => {}
                    }
                }
                component.section(&aliases);
                Ok(())
            }
            Payload::ComponentCanonicalSection(section) if self.depth == 0 => {
                let mut canon = CanonicalFunctionSection::new();
                for c in section {
                    let c = c?;
                    let lift = matches!(c, CanonicalFunction::Lift { .. });
                    self.parse_component_canonical(&mut canon, c)?;
                    if !lift {
                        self.core_funcs.define();
                    }
                }
                component.section(&canon);
                Ok(())
            }
            Payload::ComponentImportSection(section) if self.depth == 0 => {
                let mut imports = ComponentImportSection::new();
                for i in section {
                    let i = i?;
                    if i.name.name.starts_with(RESERVED_PREFIX) {
                        return Err(ReError::UserError(format!("invalid: the component imports `{}`, a name reserved for the host", i.name.name)));
                    }
                    if matches!(i.ty, wasmparser::ComponentTypeRef::Module(_)) {
                        self.modules.push(None);
                    }
                    imports.import(i.name, self.component_type_ref(i.ty)?);
                }
                component.section(&imports);
                Ok(())
            }
            Payload::ComponentExportSection(section) if self.depth == 0 => {
                let mut exports = ComponentExportSection::new();
                for e in section {
                    let e = e?;
                    if e.name.name.starts_with(RESERVED_PREFIX) {
                        return Err(ReError::UserError(format!("invalid: the component exports `{}`, a name reserved for the host", e.name.name)));
                    }
                    if e.kind == ComponentExternalKind::Module {
                        self.modules.push(None);
                    }
                    let ty = e.ty.map(|t| self.component_type_ref(t)).transpose()?;
                    exports.export(e.name, e.kind.into(), self.component_external_index(e.kind, e.index), ty);
                }
                component.section(&exports);
                Ok(())
            }
            // Names of indices that have moved: dropped rather than left wrong.
            Payload::CustomSection(c) if c.name() == "component-name" => Ok(()),
            other => component_utils::parse_component_payload(self, component, other, whole),
        }
    }
}

impl Rewriter<'_> {
    /// A top-level core instance section, entry by entry: after each instance of a metered
    /// module, the registration of its flag memory (and its deferred start function).
    fn core_instance_section(&mut self, component: &mut Component, section: wasmparser::InstanceSectionReader<'_>) -> Result<(), ReError<String>> {
        let mut pending = InstanceSection::new();
        for inst in section {
            let inst = inst?;
            let metered = match &inst {
                wasmparser::Instance::Instantiate { module_index, .. } => self.modules.get(*module_index as usize).copied().flatten(),
                wasmparser::Instance::FromExports(_) => None,
            };
            match (&inst, metered) {
                (wasmparser::Instance::Instantiate { module_index, args }, Some(_)) => {
                    let mut a: Vec<(&str, ModuleArg)> = Vec::with_capacity(args.len() + 1);
                    for arg in args.iter() {
                        if arg.name == LIMITS_MODULE {
                            return Err(ReError::UserError(format!("invalid: an instantiation already passes `{LIMITS_MODULE}`")));
                        }
                        a.push((arg.name, ModuleArg::Instance(self.core_instances.get(arg.index)?)));
                    }
                    a.push((LIMITS_MODULE, ModuleArg::Instance(F_INSTANCE)));
                    pending.instantiate(*module_index + ADDED_MODULES, a);
                }
                _ => self.parse_instance(&mut pending, inst)?,
            }
            self.core_instances.define();
            if let Some(info) = metered {
                component.section(&pending);
                pending = InstanceSection::new();
                self.register_after(component, self.core_instances.next - 1, info);
            }
        }
        if !pending.is_empty() {
            component.section(&pending);
        }
        Ok(())
    }

    /// After the metered instance `inst`: lower `register` with its flag memory, and
    /// instantiate S (register, then the module's start function).
    fn register_after(&mut self, component: &mut Component, inst: u32, info: ModuleInfo) {
        let mut aliases = ComponentAliasSection::new();
        aliases.alias(Alias::CoreInstanceExport { instance: inst, kind: ExportKind::Memory, name: FLAGS_EXPORT });
        let memory = self.memories.insert();
        let start = info.has_start_export.then(|| {
            aliases.alias(Alias::CoreInstanceExport { instance: inst, kind: ExportKind::Func, name: START_EXPORT });
            self.core_funcs.insert()
        });
        component.section(&aliases);
        let mut canon = CanonicalFunctionSection::new();
        canon.lower(REGISTER_FUNC, [CanonicalOption::Memory(memory)]);
        component.section(&canon);
        let register = self.core_funcs.insert();
        let mut insts = InstanceSection::new();
        let mut items = vec![("register", ExportKind::Func, register)];
        if let Some(s) = start {
            items.push(("start", ExportKind::Func, s));
        }
        insts.export_items(items);
        let host = self.core_instances.insert();
        insts.instantiate(if start.is_some() { S_START } else { S_PLAIN }, [("host", ModuleArg::Instance(host))]);
        self.core_instances.insert();
        component.section(&insts);
    }
}

/// The prepended part (see the module docs and the `ADDED_*` counts).
fn prelude(component: &mut Component, flags: u32) {
    let mut types = ComponentTypeSection::new();
    let s64 = ComponentValType::Primitive(PrimitiveValType::S64);
    types.function().params(std::iter::empty::<(&str, ComponentValType)>()).result(Some(s64)); // 0: get
    types.function().params([("v", s64)]).result(None); // 1: set
    types.defined_type().list(ComponentValType::Primitive(PrimitiveValType::U8)); // 2
    types.function().params([("flags", ComponentValType::Type(2))]).result(None); // 3: register
    types.function().params([("flag-memories", ComponentValType::Primitive(PrimitiveValType::U32))]).result(Some(s64)); // 4: budget
    component.section(&types);
    let mut imports = ComponentImportSection::new();
    imports.import(BUDGET_IMPORT, ComponentTypeRef::Func(4)); // func 0
    imports.import(REGISTER_IMPORT, ComponentTypeRef::Func(3)); // func 1
    component.section(&imports);
    for m in [fuel_module(flags), register_module(false), register_module(true)] {
        component.section(&wasm_encoder::RawSection { id: wasm_encoder::ComponentSectionId::CoreModule as u8, data: &m });
    }
    let mut canon = CanonicalFunctionSection::new();
    canon.lower(0, []); // core func 0
    component.section(&canon);
    let mut insts = InstanceSection::new();
    insts.export_items([("budget", ExportKind::Func, 0)]); // instance 0
    insts.instantiate(0, [("host", ModuleArg::Instance(0))]); // instance 1 = F
    component.section(&insts);
    let mut aliases = ComponentAliasSection::new();
    aliases.alias(Alias::CoreInstanceExport { instance: F_INSTANCE, kind: ExportKind::Func, name: "get" }); // core func 1
    aliases.alias(Alias::CoreInstanceExport { instance: F_INSTANCE, kind: ExportKind::Func, name: "set" }); // core func 2
    component.section(&aliases);
    let mut canon = CanonicalFunctionSection::new();
    canon.lift(1, 0, []); // func 2
    canon.lift(2, 1, []); // func 3
    component.section(&canon);
    let mut exports = ComponentExportSection::new();
    exports.export(GET_EXPORT, ComponentExportKind::Func, 2, None); // func 4
    exports.export(SET_EXPORT, ComponentExportKind::Func, 3, None); // func 5
    component.section(&exports);
}

/// How many times the top-level core modules of `bytes` are instantiated (each metered instance
/// gets a flag memory). Nested components are not looked into: their modules are refused.
fn count_instantiations(bytes: &[u8]) -> Result<u32, String> {
    // Module index -> defined here (a module section) rather than imported or aliased.
    let mut defined: Vec<bool> = Vec::new();
    let mut n = 0u32;
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    while !rest.is_empty() {
        let (consumed, payload) = match parser.parse(rest, true).map_err(|e| e.to_string())? {
            wasmparser::Chunk::Parsed { consumed, payload } => (consumed, payload),
            wasmparser::Chunk::NeedMoreData(_) => return Err("truncated component".into()),
        };
        rest = &rest[consumed..];
        match payload {
            // Not looked into: skip their bytes.
            Payload::ModuleSection { unchecked_range, .. } => {
                defined.push(true);
                rest = &rest[unchecked_range.len()..];
            }
            Payload::ComponentSection { unchecked_range, .. } => rest = &rest[unchecked_range.len()..],
            Payload::ComponentImportSection(s) => {
                for i in s {
                    if matches!(i.map_err(|e| e.to_string())?.ty, wasmparser::ComponentTypeRef::Module(_)) {
                        defined.push(false);
                    }
                }
            }
            Payload::ComponentExportSection(s) => {
                for e in s {
                    if e.map_err(|e| e.to_string())?.kind == ComponentExternalKind::Module {
                        defined.push(false);
                    }
                }
            }
            Payload::ComponentAliasSection(s) => {
                for a in s {
                    if matches!(a.map_err(|e| e.to_string())?, ComponentAlias::InstanceExport { kind: ComponentExternalKind::Module, .. }) {
                        defined.push(false);
                    }
                }
            }
            Payload::InstanceSection(s) => {
                for i in s {
                    if let wasmparser::Instance::Instantiate { module_index, .. } = i.map_err(|e| e.to_string())? {
                        n += u32::from(defined.get(module_index as usize).copied().unwrap_or(false));
                    }
                }
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    Ok(n)
}

/// Meter `bytes` (a component): `instrument(index, module)` returns each core module metered
/// (in stop-flag mode); the component is rewritten around them (see the module docs).
pub fn meter_component<'a>(bytes: &[u8], instrument: &'a mut Instrument<'a>) -> Result<Metered, MeterError> {
    if !Parser::is_component(bytes) {
        return Err(MeterError::Invalid("not a WebAssembly component".into()));
    }
    let mut out = Component::new();
    prelude(&mut out, count_instantiations(bytes).map_err(MeterError::Invalid)?);
    let mut rw = Rewriter {
        depth: 0,
        instrument,
        metered: 0,
        modules: Vec::new(),
        core_instances: Space::starting_at(ADDED_CORE_INSTANCES),
        core_funcs: Space::starting_at(ADDED_CORE_FUNCS),
        memories: Space::starting_at(0),
    };
    rw.parse_component(&mut out, Parser::new(0), bytes).map_err(|e| match e {
        ReError::UserError(m) if m.starts_with("unsupported: ") => MeterError::Unsupported(m["unsupported: ".len()..].to_string()),
        ReError::UserError(m) if m.starts_with("instrument: ") => MeterError::Instrument(m["instrument: ".len()..].to_string()),
        ReError::UserError(m) => MeterError::Invalid(m.trim_start_matches("invalid: ").to_string()),
        other => MeterError::Invalid(format!("{other:?}")),
    })?;
    Ok(Metered { bytes: out.finish(), modules: rw.metered })
}
