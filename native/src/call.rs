//! `Engine.call(instance, iface, func, args, timeoutMs?)`: call any function the component
//! exports (not only `run`), with JavaScript arguments and result in jco's conventions (the
//! converters of the import bridge, `bridge::from_js` / `bridge::to_js`):
//!
//! ```js
//! engine.call(instance, null, 'add', [2, 3]);                      // { value: 5, fuelConsumed }
//! engine.call(instance, 'test:typed/shapes@0.1.0', 'move-point', [{ x: 1, y: 2 }, 3, undefined]);
//! engine.call(instance, 'test:typed/shapes@0.1.0', 'describe', [[], {}, [1, 'a']]);
//! //   → { value: { tag: 'err', val: 'no tags' }, fuelConsumed }   (a result comes back whole)
//! ```
//!
//! `iface` is the export name of an exported interface as the component spells it (what
//! `describeComponent` reports), or null for a function exported at the world level; `func` is
//! the WIT name (kebab-case). Fuel, the deadline, the busy/disposed/trapped checks and the
//! classification of traps are those of `run` (`Instance::invoke`). A missing export, a wrong
//! number of arguments or an argument that does not convert throws `USAGE` before the guest is
//! entered, so the instance stays usable.

use napi::bindgen_prelude::Unknown;
use napi::{Env, JsValue};
use wasmtime::component::{Type, Val};
use wasmtime::AsContextMut;

use crate::bridge::{from_js, to_js};
use crate::errors::Coded;
use crate::js;
use crate::{internal, throw, Instance, JsEngine};

fn usage(env: &Env, message: String) -> napi::Error {
    throw(env, Coded::new("USAGE", message), &[])
}

/// `Engine.call` (see the module docs and the method's doc in lib.rs).
pub fn call<'a>(
    engine: &JsEngine,
    env: &'a Env,
    instance: &Instance,
    iface: Option<String>,
    func: String,
    args: Unknown<'_>,
    timeout_ms: Option<f64>,
) -> napi::Result<Unknown<'a>> {
    let deadline = engine.call_deadline(env, timeout_ms)?;
    let label = match &iface {
        Some(i) => format!("{i}#{func}"),
        None => func.clone(),
    };
    let mut live = instance.live(env)?;
    let live = &mut *live;

    // The export.
    let index = match &iface {
        None => live.instance.get_export_index(&mut live.store, None, &func),
        Some(i) => {
            let Some(ii) = live.instance.get_export_index(&mut live.store, None, i) else {
                return Err(usage(env, format!("call: the component exports no interface `{i}`")));
            };
            live.instance.get_export_index(&mut live.store, Some(&ii), &func)
        }
    };
    let f = index.and_then(|idx| live.instance.get_func(&mut live.store, idx)).ok_or_else(|| usage(env, format!("call: the component exports no function `{label}`")))?;
    let ty = f.ty(&live.store);
    let params: Vec<(String, Type)> = ty.params().map(|(n, t)| (n.to_string(), t)).collect();
    let result_types: Vec<Type> = ty.results().collect();

    // The arguments, converted before the guest is entered.
    let raw_env = env.raw();
    let items = unsafe { js::array_items(raw_env, args.raw(), "args") }.map_err(|e| usage(env, format!("call {label}: {e}")))?;
    if items.len() != params.len() {
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        return Err(usage(env, format!("call {label}: expects {} argument(s) ({}), got {}", params.len(), names.join(", "), items.len())));
    }
    let mut vals = Vec::with_capacity(params.len());
    {
        let mut cx = live.store.as_context_mut();
        for (item, (name, pty)) in items.into_iter().zip(&params) {
            let v = unsafe { from_js(raw_env, &mut cx, &instance.resources, item, pty, name) }.map_err(|e| usage(env, format!("call {label}: parameter `{name}`: {e}")))?;
            vals.push(v);
        }
    }

    let mut results = vec![Val::Bool(false); result_types.len()];
    let fuel_consumed = instance.invoke(env, live, f, &vals, &mut results, deadline, &format!("the call of {label}"))?;

    let value = match (results.first(), result_types.first()) {
        (Some(v), Some(t)) => {
            let mut cx = live.store.as_context_mut();
            unsafe { to_js(raw_env, &mut cx, &instance.resources, v, t) }.map_err(|e| internal(env, format!("call {label}: the result: {e}")))?
        }
        _ => unsafe { js::undefined(raw_env) }.map_err(|e| internal(env, e))?,
    };
    let build = || -> Result<js::RawValue, String> {
        unsafe {
            let o = js::object(raw_env)?;
            js::set(raw_env, o, "value", value)?;
            js::set(raw_env, o, "fuelConsumed", js::number(raw_env, fuel_consumed)?)?;
            Ok(o)
        }
    };
    let out = build().map_err(|e| internal(env, e))?;
    Ok(unsafe { Unknown::from_raw_unchecked(raw_env, out) })
}
