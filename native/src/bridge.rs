//! The generic import bridge (prototype): every function a component imports becomes a
//! `Linker::func_new` host function that calls ONE JavaScript function synchronously, on the
//! calling JS thread, inside the napi call that is running the guest:
//!
//! ```text
//! host(interfaceName: string, funcName: string, args: unknown[]) => unknown
//! //   interfaceName: "agent-os:sandbox/log@0.1.0" ("" for a function imported at the root)
//! //   funcName:      the WIT name ("emit", "[method]descriptor.read-via-stream", ...)
//! ```
//!
//! Values follow jco's JS conventions where that is cheap, so the TypeScript capability code can
//! be shared between the engines later:
//!
//! | WIT                          | JS                                                          |
//! |------------------------------|-------------------------------------------------------------|
//! | bool                         | boolean                                                     |
//! | u8 u16 u32 s8 s16 s32        | number (integral, range-checked on the way back)            |
//! | u64 s64                      | bigint (a number is accepted back when integral)            |
//! | f32 f64                      | number                                                      |
//! | char, string                 | string                                                      |
//! | list<u8>                     | Buffer (a Uint8Array); any Uint8Array or number[] accepted  |
//! | list<T>, tuple<...>          | Array                                                       |
//! | record                       | object with camelCase keys                                  |
//! | variant                      | `{ tag: 'case-name', val? }`                                |
//! | enum                         | 'case-name'                                                 |
//! | option<T>                    | `undefined` / value (`option<option<T>>`: `{ tag: 'some'|'none', val }`) |
//! | result<T, E>                 | `{ tag: 'ok' | 'err', val? }` (explicit); with `jcoResults`, as an import's result: return = ok, throw = err (below) |
//! | flags                        | object of camelCase booleans                                |
//! | own<R> / borrow<R>           | `{ resource: 'iface#name', rep: number, own: boolean }`; back: that object or a bare rep number (as own) |
//!
//! Resources imported by the component are defined with `ResourceType::host_dynamic(id)`, one id
//! per imported resource type, so the guest's handles are distinct per type and the host sees
//! only a `rep` (a number the JS side chooses, e.g. an index into its own table). When the guest
//! drops an own handle, the host function is called with `("iface", "[resource-drop]name", [rep])`.
//!
//! A throw from the host function traps the guest; the napi call that ran the guest then rethrows
//! the same JS value. Nothing here is policy: the gate lives in the JS function.
//!
//! jco's host convention for results (opt-in per instance: `instantiateWithHost(c, limits, host,
//! { jcoResults: true })`, stored as `HostState::jco_results`): for an import returning
//! `result<T, E>`, a normal return `v` means `ok(v)` (any value is ignored without `T`), and a throw
//! `x` means `err(x.payload)` when `x` has an OWN `payload` property, a trap (rethrown as-is) when
//! `x` is an `Error`, and `err(x)` otherwise (jco's `getErrorPayload`). Other result types, and
//! all arguments, are unchanged: an `own<R>` argument still arrives as `{ resource, rep, own:
//! true }`, and ownership has moved to the host (take the rep out of the JS table).

use std::sync::Arc;

use wasmtime::component::types::{ComponentFunc, ComponentItem, ResultType};
use wasmtime::component::{Component, Linker, ResourceDynamic, ResourceType, Type, Val};
use wasmtime::{Engine, StoreContextMut};

use crate::js::{self, CallError, HandleScope, JsRef, RawEnv, RawValue};
use crate::meter::RESERVED_PREFIX;
use crate::state::HostState;
use napi::sys;

/// The imported resource types of one component: `id` (the index) → "iface#name".
#[derive(Default, Debug)]
pub struct ResourceNames {
    pub names: Vec<String>,
}

impl ResourceNames {
    fn id_of(&self, ty: &ResourceType) -> Option<u32> {
        (0..self.names.len() as u32).find(|id| *ty == ResourceType::host_dynamic(*id))
    }
}

/// A flat description of one import, for error messages and for the JS side.
#[derive(Clone, Debug)]
pub struct ImportItem {
    /// "agent-os:sandbox/log@0.1.0" (or the root name for a root-level item).
    pub interface: String,
    /// The function / resource name inside the interface, or "" for a root-level item.
    pub name: String,
    pub kind: &'static str,
}

/// Every function and resource the component imports, in the component's import order.
pub fn list_imports(engine: &Engine, component: &Component) -> Vec<ImportItem> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (name, ext) in ty.imports(engine) {
        if name.starts_with(RESERVED_PREFIX) {
            continue;
        }
        match ext.ty {
            ComponentItem::ComponentInstance(inst) => {
                for (fname, fext) in inst.exports(engine) {
                    let kind = match fext.ty {
                        ComponentItem::ComponentFunc(_) => "func",
                        ComponentItem::Resource(_) => "resource",
                        ComponentItem::Type(_) => continue,
                        _ => "other",
                    };
                    out.push(ImportItem { interface: name.to_string(), name: fname.to_string(), kind });
                }
            }
            ComponentItem::ComponentFunc(_) => out.push(ImportItem { interface: name.to_string(), name: String::new(), kind: "func" }),
            ComponentItem::Resource(_) => out.push(ImportItem { interface: name.to_string(), name: String::new(), kind: "resource" }),
            ComponentItem::Type(_) => {}
            ComponentItem::Module(_) => out.push(ImportItem { interface: name.to_string(), name: String::new(), kind: "module" }),
            ComponentItem::Component(_) => out.push(ImportItem { interface: name.to_string(), name: String::new(), kind: "component" }),
            ComponentItem::CoreFunc(_) => out.push(ImportItem { interface: name.to_string(), name: String::new(), kind: "core-func" }),
        }
    }
    out
}

/// A linker that satisfies every import of `component` with a call into the JS host function of
/// the current napi call (see the module docs). Returns the linker and the resource-type table.
pub fn bridge_linker(engine: &Engine, component: &Component) -> wasmtime::Result<(Linker<HostState>, Arc<ResourceNames>)> {
    let mut linker = Linker::<HostState>::new(engine);
    let ty = component.component_type();

    // First pass: number the imported resource types, so function types can name them. An
    // interface that `use`s another's resource (monotonic-clock's `pollable` is io/poll's)
    // exports the same abstract type again: equal `ResourceType`s share one id.
    let mut resources = ResourceNames::default();
    let mut abstract_types: Vec<ResourceType> = Vec::new();
    let mut id_for = |rt: ResourceType, label: String, resources: &mut ResourceNames| -> u32 {
        if let Some(i) = abstract_types.iter().position(|t| *t == rt) {
            return i as u32;
        }
        abstract_types.push(rt);
        resources.names.push(label);
        (abstract_types.len() - 1) as u32
    };
    let mut plan: Vec<(String, String, u32)> = Vec::new(); // (interface, name, id) per resource export
    for (name, ext) in ty.imports(engine) {
        match ext.ty {
            ComponentItem::ComponentInstance(inst) => {
                for (fname, fext) in inst.exports(engine) {
                    if let ComponentItem::Resource(rt) = fext.ty {
                        let id = id_for(rt, format!("{name}#{fname}"), &mut resources);
                        plan.push((name.to_string(), fname.to_string(), id));
                    }
                }
            }
            ComponentItem::Resource(rt) => {
                let id = id_for(rt, name.to_string(), &mut resources);
                plan.push((name.to_string(), String::new(), id));
            }
            _ => {}
        }
    }
    let resources = Arc::new(resources);
    let id_of = |iface: &str, fname: &str| plan.iter().find(|(i, f, _)| i == iface && f == fname).map(|(_, _, id)| *id).unwrap();

    let mut metered = false;
    for (name, ext) in ty.imports(engine) {
        if name.starts_with(RESERVED_PREFIX) {
            // The metering rewrite's own imports (`meter.rs`): defined in Rust, not by the host.
            metered = true;
            continue;
        }
        match ext.ty {
            ComponentItem::ComponentInstance(inst) => {
                let mut li = linker.instance(name)?;
                for (fname, fext) in inst.exports(engine) {
                    match fext.ty {
                        ComponentItem::ComponentFunc(_) => {
                            let f = host_func(name, fname, resources.clone());
                            li.func_new(fname, f)?;
                        }
                        ComponentItem::Resource(_) => {
                            let id = id_of(name, fname);
                            li.resource(fname, ResourceType::host_dynamic(id), resource_dtor(name, fname))?;
                        }
                        ComponentItem::Type(_) => {}
                        _ => wasmtime::bail!("import `{name}` exports `{fname}`, a kind of item the bridge does not support"),
                    }
                }
            }
            ComponentItem::ComponentFunc(_) => {
                let f = host_func("", name, resources.clone());
                linker.root().func_new(name, f)?;
            }
            ComponentItem::Resource(_) => {
                let id = id_of(name, "");
                linker.root().resource(name, ResourceType::host_dynamic(id), resource_dtor("", name))?;
            }
            ComponentItem::Type(_) => {}
            _ => wasmtime::bail!("import `{name}` is a module, component or core function; the bridge supports interfaces, functions and resources"),
        }
    }
    if metered {
        crate::metered::define_host(&mut linker)?;
    }
    Ok((linker, resources))
}

fn host_func(
    interface: &str,
    name: &str,
    resources: Arc<ResourceNames>,
) -> impl Fn(StoreContextMut<'_, HostState>, ComponentFunc, &[Val], &mut [Val]) -> wasmtime::Result<()> + Send + Sync + 'static {
    let interface = interface.to_string();
    let name = name.to_string();
    move |mut store: StoreContextMut<'_, HostState>, ty: ComponentFunc, params: &[Val], results: &mut [Val]| {
        let (env, host) = current_host(&store, &interface, &name)?;
        let outcome = unsafe {
            let _scope = HandleScope::open(env).map_err(wasmtime::Error::msg)?;
            invoke(env, host, &mut store, &resources, &interface, &name, &ty, params, results)
        };
        outcome.map_err(|e| wasmtime::Error::msg(format!("import {}#{name}: {e}", display_iface(&interface))))
    }
}

fn resource_dtor(interface: &str, name: &str) -> impl Fn(StoreContextMut<'_, HostState>, u32) -> wasmtime::Result<()> + Send + Sync + 'static {
    let interface = interface.to_string();
    let fname = format!("[resource-drop]{name}");
    move |mut store, rep| {
        let (env, host) = current_host(&store, &interface, &fname)?;
        unsafe {
            let _scope = HandleScope::open(env).map_err(wasmtime::Error::msg)?;
            let args = [js::number(env, rep as f64).map_err(wasmtime::Error::msg)?];
            call_host(env, host, &mut store, &interface, &fname, &args).map(|_| ())
        }
        .map_err(|e| wasmtime::Error::msg(format!("import {}#{fname}: {e}", display_iface(&interface))))
    }
}

fn display_iface(interface: &str) -> &str {
    if interface.is_empty() {
        "<root>"
    } else {
        interface
    }
}

fn current_host(store: &StoreContextMut<'_, HostState>, interface: &str, name: &str) -> wasmtime::Result<(RawEnv, RawValue)> {
    match &store.data().call {
        Some(c) if c.host.is_some() => Ok((c.env, c.host.unwrap())),
        _ => wasmtime::bail!("import {}#{name} was called but this instance has no host function (instantiate it with instantiateWithHost)", display_iface(interface)),
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn invoke(
    env: RawEnv,
    host: RawValue,
    store: &mut StoreContextMut<'_, HostState>,
    resources: &ResourceNames,
    interface: &str,
    name: &str,
    ty: &ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> Result<(), String> {
    let mut args = Vec::with_capacity(params.len());
    for (v, (pname, pty)) in params.iter().zip(ty.params()) {
        args.push(to_js(env, store, resources, v, &pty).map_err(|e| format!("argument `{pname}`: {e}"))?);
    }
    let argv = [js::array(env, &args)?];
    let result_types: Vec<Type> = ty.results().collect();
    if store.data().jco_results {
        if let [Type::Result(rt)] = result_types.as_slice() {
            results[0] = invoke_jco_result(env, host, store, resources, interface, name, &argv, rt)?;
            return Ok(());
        }
    }
    let ret = call_host(env, host, store, interface, name, &argv)?;
    match result_types.len() {
        0 => Ok(()),
        1 => {
            results[0] = from_js(env, store, resources, ret, &result_types[0], "the return value")?;
            Ok(())
        }
        n => Err(format!("functions with {n} results are not supported")),
    }
}

/// jco's host convention for one `result<T, E>` import (`jcoResults: true`): a normal return `v`
/// is `ok(v)` (ignored when there is no `T`); a throw `x` is, as jco's `getErrorPayload` decides,
/// `err(x.payload)` when `x` has an own `payload` property, a trap (rethrown as-is, like any throw
/// in the default mode) when `x` is an `Error`, and `err(x)` otherwise.
#[allow(clippy::too_many_arguments)]
unsafe fn invoke_jco_result(
    env: RawEnv,
    host: RawValue,
    store: &mut StoreContextMut<'_, HostState>,
    resources: &ResourceNames,
    interface: &str,
    name: &str,
    argv: &[RawValue],
    rt: &ResultType,
) -> Result<Val, String> {
    match call_js(env, host, interface, name, argv) {
        Ok(v) => {
            // jco 1.35 passes an explicit `{ tag: 'ok' | 'err', val }` through as the result;
            // any other value is the ok payload.
            if js::type_of(env, v)? == sys::ValueType::napi_object && js::has_own(env, v, "tag")? {
                let tag = js::get(env, v, "tag")?;
                if js::type_of(env, tag)? == sys::ValueType::napi_string {
                    let t = js::get_string(env, tag, "the result's tag")?;
                    if t == "ok" || t == "err" {
                        return from_js(env, store, resources, v, &Type::Result(rt.clone()), "the return value (an explicit result)");
                    }
                }
            }
            let payload = match rt.ok() {
                Some(t) => Some(Box::new(from_js(env, store, resources, v, &t, "the return value (the ok payload)")?)),
                None => None,
            };
            Ok(Val::Result(Ok(payload)))
        }
        Err(CallError::Threw(exc)) => {
            let (value, what) = if js::has_own(env, exc, "payload")? {
                (js::get(env, exc, "payload")?, "the thrown payload (the err payload)")
            } else if js::is_error(env, exc)? {
                return Err(remember_throw(env, store, exc)?);
            } else {
                (exc, "the thrown value (the err payload)")
            };
            let payload = match rt.err() {
                Some(t) => Some(Box::new(from_js(env, store, resources, value, &t, what)?)),
                None => None,
            };
            Ok(Val::Result(Err(payload)))
        }
        Err(CallError::Napi(e)) => Err(e),
    }
}

/// Remember a host throw in the store (the napi call rethrows it once the guest has unwound) and
/// return the trap message.
unsafe fn remember_throw(env: RawEnv, store: &mut StoreContextMut<'_, HostState>, exc: RawValue) -> Result<String, String> {
    let msg = js::describe_exception(env, exc);
    if store.data().thrown.is_none() {
        store.data_mut().thrown = Some(JsRef::new(env, exc)?);
    }
    Ok(format!("the host function threw: {msg}"))
}

/// `host(interface, name, ...rest)`, as napi returns it.
unsafe fn call_js(env: RawEnv, host: RawValue, interface: &str, name: &str, rest: &[RawValue]) -> Result<RawValue, CallError> {
    let mut argv = vec![js::string(env, interface).map_err(CallError::Napi)?, js::string(env, name).map_err(CallError::Napi)?];
    argv.extend_from_slice(rest);
    js::call(env, host, &argv)
}

/// Call `host(interface, name, ...rest)`; a throw is remembered in the store (to be rethrown by
/// the napi call once the guest has unwound) and reported as an error, which traps the guest.
unsafe fn call_host(env: RawEnv, host: RawValue, store: &mut StoreContextMut<'_, HostState>, interface: &str, name: &str, rest: &[RawValue]) -> Result<RawValue, String> {
    match call_js(env, host, interface, name, rest) {
        Ok(v) => Ok(v),
        Err(CallError::Threw(exc)) => Err(remember_throw(env, store, exc)?),
        Err(CallError::Napi(e)) => Err(e),
    }
}

/// kebab-case → camelCase, as jco names record fields and flags.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A component value → a JS value (see the table in the module docs).
pub unsafe fn to_js(env: RawEnv, store: &mut StoreContextMut<'_, HostState>, resources: &ResourceNames, v: &Val, ty: &Type) -> Result<RawValue, String> {
    Ok(match (v, ty) {
        (Val::Bool(b), _) => js::boolean(env, *b)?,
        (Val::S8(n), _) => js::number(env, *n as f64)?,
        (Val::U8(n), _) => js::number(env, *n as f64)?,
        (Val::S16(n), _) => js::number(env, *n as f64)?,
        (Val::U16(n), _) => js::number(env, *n as f64)?,
        (Val::S32(n), _) => js::number(env, *n as f64)?,
        (Val::U32(n), _) => js::number(env, *n as f64)?,
        (Val::S64(n), _) => js::bigint_i64(env, *n)?,
        (Val::U64(n), _) => js::bigint_u64(env, *n)?,
        (Val::Float32(n), _) => js::number(env, *n as f64)?,
        (Val::Float64(n), _) => js::number(env, *n)?,
        (Val::Char(c), _) => js::string(env, c.encode_utf8(&mut [0u8; 4]))?,
        (Val::String(s), _) => js::string(env, s)?,
        (Val::List(items), Type::List(lt)) => {
            let et = lt.ty();
            if et == Type::U8 {
                let bytes: Vec<u8> = items.iter().map(|i| if let Val::U8(b) = i { *b } else { 0 }).collect();
                js::buffer(env, &bytes)?
            } else {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(to_js(env, store, resources, i, &et)?);
                }
                js::array(env, &out)?
            }
        }
        (Val::Tuple(items), Type::Tuple(tt)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, t) in items.iter().zip(tt.types()) {
                out.push(to_js(env, store, resources, i, &t)?);
            }
            js::array(env, &out)?
        }
        (Val::Record(fields), Type::Record(rt)) => {
            let o = js::object(env)?;
            for ((fname, fv), f) in fields.iter().zip(rt.fields()) {
                let jv = to_js(env, store, resources, fv, &f.ty)?;
                js::set(env, o, &camel(fname), jv)?;
            }
            o
        }
        (Val::Variant(case, payload), Type::Variant(vt)) => {
            let o = js::object(env)?;
            js::set(env, o, "tag", js::string(env, case)?)?;
            if let Some(p) = payload {
                let cty = vt.cases().find(|c| c.name == case).and_then(|c| c.ty).ok_or("variant payload without a type")?;
                js::set(env, o, "val", to_js(env, store, resources, p, &cty)?)?;
            }
            o
        }
        (Val::Enum(case), _) => js::string(env, case)?,
        (Val::Option(o), Type::Option(ot)) => {
            let inner = ot.ty();
            let nested = matches!(inner, Type::Option(_));
            match (o, nested) {
                (None, false) => js::undefined(env)?,
                (Some(p), false) => to_js(env, store, resources, p, &inner)?,
                (None, true) => {
                    let r = js::object(env)?;
                    js::set(env, r, "tag", js::string(env, "none")?)?;
                    r
                }
                (Some(p), true) => {
                    let r = js::object(env)?;
                    js::set(env, r, "tag", js::string(env, "some")?)?;
                    js::set(env, r, "val", to_js(env, store, resources, p, &inner)?)?;
                    r
                }
            }
        }
        (Val::Result(r), Type::Result(rt)) => {
            let o = js::object(env)?;
            let (tag, payload, pty) = match r {
                Ok(p) => ("ok", p, rt.ok()),
                Err(p) => ("err", p, rt.err()),
            };
            js::set(env, o, "tag", js::string(env, tag)?)?;
            if let (Some(p), Some(t)) = (payload, pty) {
                js::set(env, o, "val", to_js(env, store, resources, p, &t)?)?;
            }
            o
        }
        (Val::Flags(set), Type::Flags(ft)) => {
            let o = js::object(env)?;
            for n in ft.names() {
                js::set(env, o, &camel(n), js::boolean(env, set.iter().any(|s| s == n))?)?;
            }
            o
        }
        (Val::Resource(any), _) => {
            let own = any.owned();
            let d = ResourceDynamic::try_from_resource_any(*any, &mut *store).map_err(|e| format!("a resource handle the bridge did not create ({e})"))?;
            let o = js::object(env)?;
            let rname = resources.names.get(d.ty() as usize).map(String::as_str).unwrap_or("?");
            js::set(env, o, "resource", js::string(env, rname)?)?;
            js::set(env, o, "rep", js::number(env, d.rep() as f64)?)?;
            js::set(env, o, "own", js::boolean(env, own)?)?;
            o
        }
        (v, t) => return Err(format!("cannot convert {v:?} of type {t:?} to JavaScript yet")),
    })
}

/// A JS value → a component value of type `ty` (see the table in the module docs).
pub unsafe fn from_js(env: RawEnv, store: &mut StoreContextMut<'_, HostState>, resources: &ResourceNames, v: RawValue, ty: &Type, what: &str) -> Result<Val, String> {
    Ok(match ty {
        Type::Bool => Val::Bool(js::get_bool(env, v, what)?),
        Type::S8 => Val::S8(js::get_int(env, v, i8::MIN as i128, i8::MAX as i128, what)? as i8),
        Type::U8 => Val::U8(js::get_int(env, v, 0, u8::MAX as i128, what)? as u8),
        Type::S16 => Val::S16(js::get_int(env, v, i16::MIN as i128, i16::MAX as i128, what)? as i16),
        Type::U16 => Val::U16(js::get_int(env, v, 0, u16::MAX as i128, what)? as u16),
        Type::S32 => Val::S32(js::get_int(env, v, i32::MIN as i128, i32::MAX as i128, what)? as i32),
        Type::U32 => Val::U32(js::get_int(env, v, 0, u32::MAX as i128, what)? as u32),
        Type::S64 => Val::S64(js::get_int(env, v, i64::MIN as i128, i64::MAX as i128, what)? as i64),
        Type::U64 => Val::U64(js::get_int(env, v, 0, u64::MAX as i128, what)? as u64),
        Type::Float32 => Val::Float32(js::get_f64(env, v, what)? as f32),
        Type::Float64 => Val::Float64(js::get_f64(env, v, what)?),
        Type::Char => {
            let s = js::get_string(env, v, what)?;
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(format!("expected a single character for {what}, got {s:?}")),
            }
        }
        Type::String => Val::String(js::get_string(env, v, what)?),
        Type::List(lt) => {
            let et = lt.ty();
            if et == Type::U8 {
                if let Some(bytes) = js::uint8_bytes(env, v)? {
                    return Ok(Val::List(bytes.into_iter().map(Val::U8).collect()));
                }
            }
            let items = js::array_items(env, v, what)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                out.push(from_js(env, store, resources, item, &et, &format!("{what}[{i}]"))?);
            }
            Val::List(out)
        }
        Type::Tuple(tt) => {
            let items = js::array_items(env, v, what)?;
            let types: Vec<Type> = tt.types().collect();
            if items.len() != types.len() {
                return Err(format!("expected a tuple of {} for {what}, got {} items", types.len(), items.len()));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, t)) in items.into_iter().zip(types).enumerate() {
                out.push(from_js(env, store, resources, item, &t, &format!("{what}[{i}]"))?);
            }
            Val::Tuple(out)
        }
        Type::Record(rt) => {
            js::expect_type(env, v, napi::sys::ValueType::napi_object, what)?;
            let mut out = Vec::new();
            for f in rt.fields() {
                let jv = js::get(env, v, &camel(f.name))?;
                out.push((f.name.to_string(), from_js(env, store, resources, jv, &f.ty, &format!("{what}.{}", camel(f.name)))?));
            }
            Val::Record(out)
        }
        Type::Variant(vt) => {
            js::expect_type(env, v, napi::sys::ValueType::napi_object, what)?;
            let tag = js::get_string(env, js::get(env, v, "tag")?, &format!("{what}.tag"))?;
            let case = vt.cases().find(|c| c.name == tag).ok_or_else(|| format!("{what}: no case `{tag}` in this variant"))?;
            let payload = match case.ty {
                Some(t) => Some(Box::new(from_js(env, store, resources, js::get(env, v, "val")?, &t, &format!("{what}.val"))?)),
                None => None,
            };
            Val::Variant(tag, payload)
        }
        Type::Enum(et) => {
            let s = js::get_string(env, v, what)?;
            if !et.names().any(|n| n == s) {
                return Err(format!("{what}: `{s}` is not a case of this enum"));
            }
            Val::Enum(s)
        }
        Type::Option(ot) => {
            let inner = ot.ty();
            if matches!(inner, Type::Option(_)) {
                let tag = js::get_string(env, js::get(env, v, "tag")?, &format!("{what}.tag"))?;
                match tag.as_str() {
                    "none" => Val::Option(None),
                    "some" => Val::Option(Some(Box::new(from_js(env, store, resources, js::get(env, v, "val")?, &inner, what)?))),
                    _ => return Err(format!("{what}: expected tag `some` or `none`")),
                }
            } else if js::is_nullish(env, v)? {
                Val::Option(None)
            } else {
                Val::Option(Some(Box::new(from_js(env, store, resources, v, &inner, what)?)))
            }
        }
        Type::Result(rt) => {
            js::expect_type(env, v, napi::sys::ValueType::napi_object, what)?;
            let tag = js::get_string(env, js::get(env, v, "tag")?, &format!("{what}.tag"))?;
            let (pty, ok) = match tag.as_str() {
                "ok" => (rt.ok(), true),
                "err" => (rt.err(), false),
                _ => return Err(format!("{what}: a result needs tag `ok` or `err`, got `{tag}`")),
            };
            let payload = match pty {
                Some(t) => Some(Box::new(from_js(env, store, resources, js::get(env, v, "val")?, &t, &format!("{what}.val"))?)),
                None => None,
            };
            Val::Result(if ok { Ok(payload) } else { Err(payload) })
        }
        Type::Flags(ft) => {
            js::expect_type(env, v, napi::sys::ValueType::napi_object, what)?;
            let mut set = Vec::new();
            for n in ft.names() {
                let fv = js::get(env, v, &camel(n))?;
                if !js::is_nullish(env, fv)? && js::get_bool(env, fv, &format!("{what}.{}", camel(n)))? {
                    set.push(n.to_string());
                }
            }
            Val::Flags(set)
        }
        Type::Own(rt) | Type::Borrow(rt) => {
            let id = resources.id_of(rt).ok_or_else(|| format!("{what}: a resource type this component does not import from the host"))?;
            let t = js::type_of(env, v)?;
            let (rep, own) = if t == napi::sys::ValueType::napi_number {
                (js::get_int(env, v, 0, u32::MAX as i128, what)? as u32, matches!(ty, Type::Own(_)))
            } else {
                let rep = js::get_int(env, js::get(env, v, "rep")?, 0, u32::MAX as i128, &format!("{what}.rep"))? as u32;
                (rep, matches!(ty, Type::Own(_)))
            };
            let d = if own { ResourceDynamic::new_own(rep, id) } else { ResourceDynamic::new_borrow(rep, id) };
            Val::Resource(d.try_into_resource_any(&mut *store).map_err(|e| format!("{what}: {e}"))?)
        }
        other => return Err(format!("{what}: converting a JavaScript value to {other:?} is not supported yet")),
    })
}
