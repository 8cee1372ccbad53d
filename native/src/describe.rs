//! `describeComponent(bytes)`: the functions a component's world EXPORTS, with their WIT types,
//! as JSON, so the host can serve each as a typed tool (and call it with `Engine.call`).
//!
//! The component's WIT is decoded with `wit-component` (the `component-type` custom sections and
//! the `package-docs` metadata, which carries the `///` doc comments). Only freestanding
//! functions are listed: world-level `export f: func(..)` (`interface: null`) and the functions
//! of exported interfaces (`interface`: the export name as the component spells it,
//! `"test:typed/shapes@0.1.0"`, or the plain name of an inline `export foo: interface {..}`).
//! Imports, resource methods/constructors/static functions and async functions are left out.
//!
//! ```json
//! { "functions": [ { "interface": null, "name": "add", "docs": null,
//!                    "params": [ { "name": "a", "type": { "kind": "u32" } }, … ],
//!                    "result": { "kind": "u32" } } ] }
//! ```
//!
//! Types: `{ kind }` for the primitives (`bool s8 u8 s16 u16 s32 u32 s64 u64 f32 f64 char
//! string`), `list { element }`, `tuple { types }`, `record { name, docs, fields: [{ name, docs,
//! type }] }`, `variant { name, docs, cases: [{ name, docs, type|null }] }`, `enum { name, docs,
//! cases: [{ name, docs }] }`, `flags { name, docs, flags: [{ name, docs }] }`, `option { type }`,
//! `result { ok|null, err|null }`, and `unsupported { what }` for everything a tool cannot take
//! or return as plain data (resources and handles, future, stream, error-context, fixed-size
//! lists, maps). Aliases (`type x = y`) are followed; names are those of the definition that
//! holds the record, variant, enum or flags. Names are the WIT names (kebab-case).

use std::path::Path;

use serde::Serialize;
use wit_parser::{Docs, Function, FunctionKind, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId, WorldId, WorldItem, WorldKey};

/// Nesting deeper than this is reported as `unsupported` (WIT types are not recursive; this only
/// guards against a hostile or broken component).
const MAX_DEPTH: usize = 64;

#[derive(Serialize)]
pub struct Description {
    pub functions: Vec<FunctionDesc>,
}

#[derive(Serialize)]
pub struct FunctionDesc {
    pub interface: Option<String>,
    pub name: String,
    pub docs: Option<String>,
    pub params: Vec<ParamDesc>,
    pub result: Option<Ty>,
}

#[derive(Serialize)]
pub struct ParamDesc {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Ty,
}

#[derive(Serialize)]
pub struct FieldDesc {
    pub name: String,
    pub docs: Option<String>,
    #[serde(rename = "type")]
    pub ty: Ty,
}

#[derive(Serialize)]
pub struct CaseDesc {
    pub name: String,
    pub docs: Option<String>,
    #[serde(rename = "type")]
    pub ty: Option<Ty>,
}

#[derive(Serialize)]
pub struct NameDesc {
    pub name: String,
    pub docs: Option<String>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ty {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    Char,
    String,
    List {
        element: Box<Ty>,
    },
    Tuple {
        types: Vec<Ty>,
    },
    Record {
        name: Option<String>,
        docs: Option<String>,
        fields: Vec<FieldDesc>,
    },
    Variant {
        name: Option<String>,
        docs: Option<String>,
        cases: Vec<CaseDesc>,
    },
    Enum {
        name: Option<String>,
        docs: Option<String>,
        cases: Vec<NameDesc>,
    },
    Flags {
        name: Option<String>,
        docs: Option<String>,
        flags: Vec<NameDesc>,
    },
    Option {
        #[serde(rename = "type")]
        ty: Box<Ty>,
    },
    Result {
        ok: Option<Box<Ty>>,
        err: Option<Box<Ty>>,
    },
    Unsupported {
        what: String,
    },
}

fn docs(d: &Docs) -> Option<String> {
    d.contents.clone()
}

fn unsupported(what: impl Into<String>) -> Ty {
    Ty::Unsupported { what: what.into() }
}

/// The WIT type `t` as JSON-ready data.
fn describe_type(resolve: &Resolve, t: &Type, depth: usize) -> Ty {
    if depth > MAX_DEPTH {
        return unsupported(format!("a type nested deeper than {MAX_DEPTH} levels"));
    }
    let id = match t {
        Type::Bool => return Ty::Bool,
        Type::S8 => return Ty::S8,
        Type::U8 => return Ty::U8,
        Type::S16 => return Ty::S16,
        Type::U16 => return Ty::U16,
        Type::S32 => return Ty::S32,
        Type::U32 => return Ty::U32,
        Type::S64 => return Ty::S64,
        Type::U64 => return Ty::U64,
        Type::F32 => return Ty::F32,
        Type::F64 => return Ty::F64,
        Type::Char => return Ty::Char,
        Type::String => return Ty::String,
        Type::ErrorContext => return unsupported("error-context"),
        Type::Id(id) => *id,
    };
    let Some(def) = resolve.types.get(id) else {
        return unsupported("a type the component does not define");
    };
    let inner = |t: &Type| describe_type(resolve, t, depth + 1);
    let type_name = |id| resolve.types.get(id).and_then(|d| d.name.clone()).unwrap_or_else(|| "?".into());
    match &def.kind {
        TypeDefKind::Record(r) => Ty::Record {
            name: def.name.clone(),
            docs: docs(&def.docs),
            fields: r.fields.iter().map(|f| FieldDesc { name: f.name.clone(), docs: docs(&f.docs), ty: inner(&f.ty) }).collect(),
        },
        TypeDefKind::Variant(v) => Ty::Variant {
            name: def.name.clone(),
            docs: docs(&def.docs),
            cases: v.cases.iter().map(|c| CaseDesc { name: c.name.clone(), docs: docs(&c.docs), ty: c.ty.as_ref().map(inner) }).collect(),
        },
        TypeDefKind::Enum(e) => {
            Ty::Enum { name: def.name.clone(), docs: docs(&def.docs), cases: e.cases.iter().map(|c| NameDesc { name: c.name.clone(), docs: docs(&c.docs) }).collect() }
        }
        TypeDefKind::Flags(f) => {
            Ty::Flags { name: def.name.clone(), docs: docs(&def.docs), flags: f.flags.iter().map(|c| NameDesc { name: c.name.clone(), docs: docs(&c.docs) }).collect() }
        }
        TypeDefKind::Tuple(t) => Ty::Tuple { types: t.types.iter().map(inner).collect() },
        TypeDefKind::List(t) => Ty::List { element: Box::new(inner(t)) },
        TypeDefKind::Option(t) => Ty::Option { ty: Box::new(inner(t)) },
        TypeDefKind::Result(r) => Ty::Result { ok: r.ok.as_ref().map(|t| Box::new(inner(t))), err: r.err.as_ref().map(|t| Box::new(inner(t))) },
        // An alias: what it names (a record keeps the name of its own definition).
        TypeDefKind::Type(t) => inner(t),
        TypeDefKind::Resource => unsupported(format!("resource {}", def.name.as_deref().unwrap_or("?"))),
        TypeDefKind::Handle(Handle::Own(r)) => unsupported(format!("own<{}>", type_name(*r))),
        TypeDefKind::Handle(Handle::Borrow(r)) => unsupported(format!("borrow<{}>", type_name(*r))),
        TypeDefKind::Map(_, _) => unsupported("map"),
        TypeDefKind::FixedLengthList(_, n) => unsupported(format!("fixed-size list of {n}")),
        TypeDefKind::Future(_) => unsupported("future"),
        TypeDefKind::Stream(_) => unsupported("stream"),
        TypeDefKind::Unknown => unsupported("an unknown type"),
    }
}

fn describe_function(resolve: &Resolve, interface: Option<String>, f: &Function) -> FunctionDesc {
    FunctionDesc {
        interface,
        name: f.name.clone(),
        docs: docs(&f.docs),
        params: f.params.iter().map(|p| ParamDesc { name: p.name.clone(), ty: describe_type(resolve, &p.ty, 0) }).collect(),
        result: f.result.as_ref().map(|t| describe_type(resolve, t, 0)),
    }
}

/// Every freestanding function the world of the component in `bytes` exports. `wit`: a WIT
/// file or directory (as `wasm-tools` takes it) whose doc comments fill in the docs the component
/// lacks (see `merge_docs`).
pub fn describe(bytes: &[u8], wit: Option<&Path>) -> Result<Description, Failure> {
    let decoded = wit_component::decode(bytes).map_err(|e| Failure::Component(format!("the bytes are not a component whose WIT can be read: {}", one_line(&format!("{e:#}")))))?;
    let (mut resolve, world) = match decoded {
        wit_component::DecodedWasm::Component(r, w) => (r, w),
        wit_component::DecodedWasm::WitPackage(..) => return Err(Failure::Component("the bytes are a WIT package, not a component".into())),
    };
    if let Some(path) = wit {
        let mut source = Resolve::default();
        let (pkg, _) = source.push_path(path).map_err(|e| Failure::Wit(format!("reading the WIT at {} failed: {}", path.display(), one_line(&format!("{e:#}")))))?;
        merge_docs(&mut resolve, world, &source, pkg);
    }
    let world = resolve.worlds.get(world).ok_or_else(|| Failure::Component("the decoded component has no world".into()))?;
    let mut functions = Vec::new();
    for (key, item) in &world.exports {
        match item {
            WorldItem::Function(f) if f.kind == FunctionKind::Freestanding => functions.push(describe_function(&resolve, None, f)),
            WorldItem::Interface { id, .. } => {
                let Some(iface) = resolve.interfaces.get(*id) else { continue };
                let name = match key {
                    WorldKey::Name(n) => n.clone(),
                    WorldKey::Interface(i) => match resolve.id_of(*i) {
                        Some(n) => n,
                        None => continue, // an anonymous interface without a name cannot be called
                    },
                };
                for f in iface.functions.values() {
                    if f.kind == FunctionKind::Freestanding {
                        functions.push(describe_function(&resolve, Some(name.clone()), f));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Description { functions })
}

/// Why `describe` failed: the component (`COMPONENT_INVALID`) or the WIT given (`USAGE`).
pub enum Failure {
    Component(String),
    Wit(String),
}

/// `describe` as the JSON string `describeComponent` returns.
pub fn describe_json(bytes: &[u8], wit: Option<&Path>) -> Result<String, Failure> {
    let d = describe(bytes, wit)?;
    serde_json::to_string(&d).map_err(|e| Failure::Component(format!("serializing the description failed: {e}")))
}

/// Copy doc comments from `source` (WIT parsed from text, package `pkg` first) into `comp` (the
/// component's decoded WIT, which has none: jco/componentize and `wasm-tools component new` do not
/// carry `///` comments into the component). Matched by name: interfaces by their id
/// (`test:typed/shapes@0.1.0`), functions and types by name, fields, cases and flags by name;
/// world-level functions and inline interfaces by their export name in the world of `source`
/// that shares the most export names with the component's. Docs already present are kept.
fn merge_docs(comp: &mut Resolve, world: WorldId, source: &Resolve, pkg: wit_parser::PackageId) {
    // Named interfaces.
    let pairs: Vec<(InterfaceId, InterfaceId)> = comp
        .interfaces
        .iter()
        .filter_map(|(cid, _)| {
            let name = comp.id_of(cid)?;
            let sid = source.interfaces.iter().find(|(sid, _)| source.id_of(*sid).as_deref() == Some(name.as_str()))?.0;
            Some((cid, sid))
        })
        .collect();
    for (cid, sid) in pairs {
        merge_interface(comp, cid, source, sid);
    }

    // World-level functions and inline interfaces, from the best-matching world of `source`.
    let export_names: Vec<String> = comp.worlds[world].exports.keys().filter_map(|k| if let WorldKey::Name(n) = k { Some(n.clone()) } else { None }).collect();
    // The worlds of the main package first (the first of equal scores wins), then the others.
    let mut worlds: Vec<WorldId> = source.packages[pkg].worlds.values().copied().collect();
    let others: Vec<WorldId> = source.worlds.iter().map(|(id, _)| id).filter(|id| !worlds.contains(id)).collect();
    worlds.extend(others);
    let score = |w: WorldId| source.worlds[w].exports.keys().filter(|k| matches!(k, WorldKey::Name(n) if export_names.contains(n))).count();
    let mut best: Option<(WorldId, usize)> = None;
    for w in worlds {
        let n = score(w);
        if n > 0 && best.is_none_or(|(_, b)| n > b) {
            best = Some((w, n));
        }
    }
    let Some((best, _)) = best else { return };
    let keys: Vec<WorldKey> = comp.worlds[world].exports.keys().cloned().collect();
    for key in keys {
        let WorldKey::Name(name) = &key else { continue };
        let Some(sitem) = source.worlds[best].exports.get(&WorldKey::Name(name.clone())) else { continue };
        let citem = comp.worlds[world].exports.get(&key).cloned();
        match (citem, sitem) {
            (Some(WorldItem::Function(_)), WorldItem::Function(sf)) => {
                if let Some(WorldItem::Function(cf)) = comp.worlds[world].exports.get_mut(&key) {
                    fill(&mut cf.docs, &sf.docs);
                }
            }
            (Some(WorldItem::Interface { id: cid, .. }), WorldItem::Interface { id: sid, .. }) => merge_interface(comp, cid, source, *sid),
            _ => {}
        }
    }
}

fn fill(to: &mut Docs, from: &Docs) {
    if to.contents.is_none() {
        to.contents = from.contents.clone();
    }
}

fn merge_interface(comp: &mut Resolve, cid: InterfaceId, source: &Resolve, sid: InterfaceId) {
    let s = &source.interfaces[sid];
    let c = &mut comp.interfaces[cid];
    fill(&mut c.docs, &s.docs);
    for (name, f) in c.functions.iter_mut() {
        if let Some(sf) = s.functions.get(name) {
            fill(&mut f.docs, &sf.docs);
        }
    }
    let types: Vec<(TypeId, TypeId)> = c.types.iter().filter_map(|(name, ct)| Some((*ct, *s.types.get(name)?))).collect();
    for (ct, st) in types {
        merge_type(comp, ct, source, st);
    }
}

fn merge_type(comp: &mut Resolve, ct: TypeId, source: &Resolve, st: TypeId) {
    let s = &source.types[st];
    let c = &mut comp.types[ct];
    fill(&mut c.docs, &s.docs);
    match (&mut c.kind, &s.kind) {
        (TypeDefKind::Record(c), TypeDefKind::Record(s)) => {
            for f in &mut c.fields {
                if let Some(sf) = s.fields.iter().find(|x| x.name == f.name) {
                    fill(&mut f.docs, &sf.docs);
                }
            }
        }
        (TypeDefKind::Variant(c), TypeDefKind::Variant(s)) => {
            for f in &mut c.cases {
                if let Some(sf) = s.cases.iter().find(|x| x.name == f.name) {
                    fill(&mut f.docs, &sf.docs);
                }
            }
        }
        (TypeDefKind::Enum(c), TypeDefKind::Enum(s)) => {
            for f in &mut c.cases {
                if let Some(sf) = s.cases.iter().find(|x| x.name == f.name) {
                    fill(&mut f.docs, &sf.docs);
                }
            }
        }
        (TypeDefKind::Flags(c), TypeDefKind::Flags(s)) => {
            for f in &mut c.flags {
                if let Some(sf) = s.flags.iter().find(|x| x.name == f.name) {
                    fill(&mut f.docs, &sf.docs);
                }
            }
        }
        _ => {}
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `describeComponent(bytes, witPath?)`: the JSON description above of the functions the
/// component's world exports. `witPath`: the WIT (a `.wit` file or a directory with `deps/`) the
/// component was built from, whose `///` comments fill in `docs` (components carry none).
/// Bytes that are not a component (or whose WIT cannot be read) throw an `Error` with code
/// `COMPONENT_INVALID`; a `witPath` that does not parse throws `USAGE`.
#[napi_derive::napi]
pub fn describe_component(env: napi::Env, bytes: napi::bindgen_prelude::Uint8Array, wit_path: Option<String>) -> napi::Result<String> {
    let bytes: &[u8] = &bytes;
    let wit = wit_path.as_deref().map(Path::new);
    // Decoding arbitrary bytes must never take the process down.
    let outcome =
        std::panic::catch_unwind(|| describe_json(bytes, wit)).unwrap_or_else(|_| Err(Failure::Component("decoding the component's WIT failed (the decoder panicked)".into())));
    outcome.map_err(|f| {
        let (code, m) = match f {
            Failure::Component(m) => ("COMPONENT_INVALID", m),
            Failure::Wit(m) => ("USAGE", m),
        };
        unsafe { crate::js::throw_coded(env.raw(), code, &format!("describeComponent: {m}"), &[], None) }
    })
}
