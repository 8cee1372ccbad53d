//! Thin, explicit helpers over the raw Node-API (`napi::sys`) used by the import bridge and the
//! error path. The bridge converts component-model values while wasm is running inside a napi
//! call, with the `napi_env` of that call; going through the raw API keeps the conversion free of
//! lifetimes and lets every failure become a plain `String` that the guest sees as a trap.
//!
//! Every function here must be called on the JS thread that owns `env`, inside a napi call.

use std::ffi::CString;
use std::ptr;

use napi::sys;

pub type RawEnv = sys::napi_env;
pub type RawValue = sys::napi_value;
pub type JsResult<T> = Result<T, String>;

fn check(status: sys::napi_status, what: &str) -> JsResult<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else if status == sys::Status::napi_pending_exception {
        Err(format!("{what}: a JavaScript exception is pending"))
    } else {
        Err(format!("{what}: Node-API status {status}"))
    }
}

pub unsafe fn undefined(env: RawEnv) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_get_undefined(env, &mut v), "get undefined")?;
    Ok(v)
}

pub unsafe fn boolean(env: RawEnv, b: bool) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_get_boolean(env, b, &mut v), "create boolean")?;
    Ok(v)
}

pub unsafe fn number(env: RawEnv, n: f64) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_double(env, n, &mut v), "create number")?;
    Ok(v)
}

pub unsafe fn bigint_i64(env: RawEnv, n: i64) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_bigint_int64(env, n, &mut v), "create bigint")?;
    Ok(v)
}

pub unsafe fn bigint_u64(env: RawEnv, n: u64) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_bigint_uint64(env, n, &mut v), "create bigint")?;
    Ok(v)
}

pub unsafe fn string(env: RawEnv, s: &str) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v), "create string")?;
    Ok(v)
}

/// A Node `Buffer` (a `Uint8Array`) holding a copy of `bytes`.
pub unsafe fn buffer(env: RawEnv, bytes: &[u8]) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    let mut data = ptr::null_mut();
    check(sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut v), "create buffer")?;
    Ok(v)
}

pub unsafe fn array(env: RawEnv, items: &[RawValue]) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_array_with_length(env, items.len(), &mut v), "create array")?;
    for (i, item) in items.iter().enumerate() {
        check(sys::napi_set_element(env, v, i as u32, *item), "set array element")?;
    }
    Ok(v)
}

pub unsafe fn object(env: RawEnv) -> JsResult<RawValue> {
    let mut v = ptr::null_mut();
    check(sys::napi_create_object(env, &mut v), "create object")?;
    Ok(v)
}

pub unsafe fn set(env: RawEnv, obj: RawValue, key: &str, value: RawValue) -> JsResult<()> {
    let k = CString::new(key).map_err(|_| format!("property name {key:?} contains NUL"))?;
    check(sys::napi_set_named_property(env, obj, k.as_ptr(), value), "set property")
}

pub unsafe fn get(env: RawEnv, obj: RawValue, key: &str) -> JsResult<RawValue> {
    let k = CString::new(key).map_err(|_| format!("property name {key:?} contains NUL"))?;
    let mut v = ptr::null_mut();
    check(sys::napi_get_named_property(env, obj, k.as_ptr(), &mut v), "get property")?;
    Ok(v)
}

/// `Object.prototype.hasOwnProperty.call(v, key)`; false for primitives (jco's
/// `getErrorPayload` on a thrown string or number finds no `payload` either).
pub unsafe fn has_own(env: RawEnv, v: RawValue, key: &str) -> JsResult<bool> {
    let t = type_of(env, v)?;
    if t != sys::ValueType::napi_object && t != sys::ValueType::napi_function {
        return Ok(false);
    }
    let k = string(env, key)?;
    let mut out = false;
    check(sys::napi_has_own_property(env, v, k, &mut out), "hasOwnProperty")?;
    Ok(out)
}

/// `v instanceof Error` as Node-API sees it (`napi_is_error`).
pub unsafe fn is_error(env: RawEnv, v: RawValue) -> JsResult<bool> {
    let mut out = false;
    check(sys::napi_is_error(env, v, &mut out), "is_error")?;
    Ok(out)
}

pub unsafe fn type_of(env: RawEnv, v: RawValue) -> JsResult<sys::napi_valuetype> {
    let mut t = 0;
    check(sys::napi_typeof(env, v, &mut t), "typeof")?;
    Ok(t)
}

pub fn type_name(t: sys::napi_valuetype) -> &'static str {
    use sys::ValueType as T;
    match t {
        T::napi_undefined => "undefined",
        T::napi_null => "null",
        T::napi_boolean => "boolean",
        T::napi_number => "number",
        T::napi_string => "string",
        T::napi_symbol => "symbol",
        T::napi_object => "object",
        T::napi_function => "function",
        T::napi_external => "external",
        T::napi_bigint => "bigint",
        _ => "unknown",
    }
}

pub unsafe fn expect_type(env: RawEnv, v: RawValue, want: sys::napi_valuetype, what: &str) -> JsResult<()> {
    let t = type_of(env, v)?;
    if t == want {
        Ok(())
    } else {
        Err(format!("expected {} for {what}, got {}", type_name(want), type_name(t)))
    }
}

pub unsafe fn is_nullish(env: RawEnv, v: RawValue) -> JsResult<bool> {
    let t = type_of(env, v)?;
    Ok(t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null)
}

pub unsafe fn get_bool(env: RawEnv, v: RawValue, what: &str) -> JsResult<bool> {
    expect_type(env, v, sys::ValueType::napi_boolean, what)?;
    let mut b = false;
    check(sys::napi_get_value_bool(env, v, &mut b), "get boolean")?;
    Ok(b)
}

pub unsafe fn get_f64(env: RawEnv, v: RawValue, what: &str) -> JsResult<f64> {
    expect_type(env, v, sys::ValueType::napi_number, what)?;
    let mut n = 0.0;
    check(sys::napi_get_value_double(env, v, &mut n), "get number")?;
    Ok(n)
}

/// An integer in `[min, max]` from a JS number (must be integral) or bigint.
pub unsafe fn get_int(env: RawEnv, v: RawValue, min: i128, max: i128, what: &str) -> JsResult<i128> {
    let t = type_of(env, v)?;
    let n: i128 = if t == sys::ValueType::napi_bigint {
        let mut lossless = false;
        let mut s = 0i64;
        check(sys::napi_get_value_bigint_int64(env, v, &mut s, &mut lossless), "get bigint")?;
        if lossless {
            s as i128
        } else {
            let mut u = 0u64;
            check(sys::napi_get_value_bigint_uint64(env, v, &mut u, &mut lossless), "get bigint")?;
            if !lossless {
                return Err(format!("bigint for {what} is out of range"));
            }
            u as i128
        }
    } else if t == sys::ValueType::napi_number {
        let f = get_f64(env, v, what)?;
        if !f.is_finite() || f.fract() != 0.0 {
            return Err(format!("expected an integer for {what}, got {f}"));
        }
        f as i128
    } else {
        return Err(format!("expected an integer for {what}, got {}", type_name(t)));
    };
    if n < min || n > max {
        return Err(format!("{n} is out of range for {what} ({min}..={max})"));
    }
    Ok(n)
}

pub unsafe fn get_string(env: RawEnv, v: RawValue, what: &str) -> JsResult<String> {
    expect_type(env, v, sys::ValueType::napi_string, what)?;
    let mut len = 0usize;
    check(sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len), "get string length")?;
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    check(sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut written), "get string")?;
    buf.truncate(written);
    // Node-API writes UTF-8 (lone surrogates become U+FFFD), so this cannot fail in practice.
    String::from_utf8(buf).map_err(|e| format!("string for {what} is not UTF-8: {e}"))
}

pub unsafe fn is_array(env: RawEnv, v: RawValue) -> JsResult<bool> {
    let mut b = false;
    check(sys::napi_is_array(env, v, &mut b), "is array")?;
    Ok(b)
}

/// The elements of a JS array or typed array (jco's host code returns e.g. `list<u32>` as a
/// `Uint32Array`).
pub unsafe fn array_items(env: RawEnv, v: RawValue, what: &str) -> JsResult<Vec<RawValue>> {
    let mut len = 0u32;
    if is_array(env, v)? {
        check(sys::napi_get_array_length(env, v, &mut len), "array length")?;
    } else {
        let mut is_ta = false;
        check(sys::napi_is_typedarray(env, v, &mut is_ta), "is typedarray")?;
        if !is_ta {
            return Err(format!("expected an array for {what}, got {}", type_name(type_of(env, v)?)));
        }
        let (mut ty, mut n, mut data, mut ab, mut off) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
        check(sys::napi_get_typedarray_info(env, v, &mut ty, &mut n, &mut data, &mut ab, &mut off), "typedarray info")?;
        len = u32::try_from(n).map_err(|_| format!("{what}: typed array too long"))?;
    }
    let mut out = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut e = ptr::null_mut();
        check(sys::napi_get_element(env, v, i, &mut e), "get array element")?;
        out.push(e);
    }
    Ok(out)
}

/// The bytes of a `Uint8Array` / `Buffer` (copied), or `None` when `v` is not one.
pub unsafe fn uint8_bytes(env: RawEnv, v: RawValue) -> JsResult<Option<Vec<u8>>> {
    let mut is_ta = false;
    check(sys::napi_is_typedarray(env, v, &mut is_ta), "is typedarray")?;
    if !is_ta {
        return Ok(None);
    }
    let mut ty = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut off = 0usize;
    check(sys::napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off), "typedarray info")?;
    if ty != sys::TypedarrayType::uint8_array && ty != sys::TypedarrayType::uint8_clamped_array {
        return Ok(None);
    }
    if len == 0 {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(std::slice::from_raw_parts(data as *const u8, len).to_vec()))
}

/// Call `func(args...)` with `this = undefined`. A JS throw is returned as `Err(exception)`
/// (already cleared from the env) so the caller decides how to surface it.
pub unsafe fn call(env: RawEnv, func: RawValue, args: &[RawValue]) -> Result<RawValue, CallError> {
    let recv = undefined(env).map_err(CallError::Napi)?;
    let mut out = ptr::null_mut();
    let status = sys::napi_call_function(env, recv, func, args.len(), args.as_ptr(), &mut out);
    if status == sys::Status::napi_ok {
        return Ok(out);
    }
    let mut pending = false;
    sys::napi_is_exception_pending(env, &mut pending);
    if pending {
        let mut exc = ptr::null_mut();
        check(sys::napi_get_and_clear_last_exception(env, &mut exc), "clear exception").map_err(CallError::Napi)?;
        return Err(CallError::Threw(exc));
    }
    Err(CallError::Napi(format!("calling the host function failed: Node-API status {status}")))
}

pub enum CallError {
    /// The JS function threw this value.
    Threw(RawValue),
    Napi(String),
}

/// A short description of a thrown JS value (its `message` when it is an Error).
pub unsafe fn describe_exception(env: RawEnv, exc: RawValue) -> String {
    let mut is_err = false;
    sys::napi_is_error(env, exc, &mut is_err);
    let target = if is_err { get(env, exc, "message").unwrap_or(exc) } else { exc };
    let mut s = ptr::null_mut();
    if sys::napi_coerce_to_string(env, target, &mut s) != sys::Status::napi_ok {
        let mut ignored = ptr::null_mut();
        sys::napi_get_and_clear_last_exception(env, &mut ignored);
        return "<unprintable exception>".to_string();
    }
    get_string(env, s, "exception").unwrap_or_else(|_| "<unprintable exception>".to_string())
}

/// A persistent reference to a JS value (a host function, a thrown exception). Deleting it must
/// happen on the JS thread that created it: `Drop` does that, and our owners (napi classes and
/// per-call state) are only dropped on that thread.
pub struct JsRef {
    env: RawEnv,
    raw: sys::napi_ref,
}

impl JsRef {
    pub unsafe fn new(env: RawEnv, value: RawValue) -> JsResult<JsRef> {
        let mut raw = ptr::null_mut();
        check(sys::napi_create_reference(env, value, 1, &mut raw), "create reference")?;
        Ok(JsRef { env, raw })
    }

    /// The referenced value, in the handle scope of the current call on `env`.
    pub unsafe fn value(&self, env: RawEnv) -> JsResult<RawValue> {
        let mut v = ptr::null_mut();
        check(sys::napi_get_reference_value(env, self.raw, &mut v), "get reference value")?;
        if v.is_null() {
            return Err("the referenced JavaScript value was collected".into());
        }
        Ok(v)
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        unsafe {
            sys::napi_delete_reference(self.env, self.raw);
        }
    }
}

// SAFETY: a `JsRef` is only dereferenced and dropped on its JS thread (see the type's doc); the
// marker lets it live inside wasmtime's `Store` data, which the `Send` bound of the
// resource limiter and of host functions would otherwise rule out.
unsafe impl Send for JsRef {}
unsafe impl Sync for JsRef {}

/// A handle scope for the duration of one host call, so a guest that calls an import a million
/// times does not pile a million sets of handles onto the outer call's scope.
pub struct HandleScope {
    env: RawEnv,
    raw: sys::napi_handle_scope,
}

impl HandleScope {
    pub unsafe fn open(env: RawEnv) -> JsResult<HandleScope> {
        let mut raw = ptr::null_mut();
        check(sys::napi_open_handle_scope(env, &mut raw), "open handle scope")?;
        Ok(HandleScope { env, raw })
    }
}

impl Drop for HandleScope {
    fn drop(&mut self) {
        unsafe {
            sys::napi_close_handle_scope(self.env, self.raw);
        }
    }
}

/// Throw `Error(message)` with `error.code = code` and extra numeric properties; returns the
/// napi error to hand back so napi-rs does not throw a second time.
pub unsafe fn throw_coded(env: RawEnv, code: &str, message: &str, extra: &[(&str, f64)], limit: Option<&str>) -> napi::Error {
    let build = || -> JsResult<RawValue> {
        let c = string(env, code)?;
        let m = string(env, message)?;
        let mut e = ptr::null_mut();
        check(sys::napi_create_error(env, c, m, &mut e), "create error")?;
        for (k, v) in extra {
            set(env, e, k, number(env, *v)?)?;
        }
        if let Some(l) = limit {
            set(env, e, "limit", string(env, l)?)?;
        }
        Ok(e)
    };
    match build() {
        Ok(e) => {
            sys::napi_throw(env, e);
            napi::Error::new(napi::Status::PendingException, message.to_string())
        }
        Err(_) => napi::Error::new(napi::Status::GenericFailure, format!("{code}: {message}")),
    }
}

/// Rethrow a JS value exactly as it was thrown.
pub unsafe fn rethrow(env: RawEnv, exc: RawValue) -> napi::Error {
    sys::napi_throw(env, exc);
    napi::Error::new(napi::Status::PendingException, "host function threw".to_string())
}
