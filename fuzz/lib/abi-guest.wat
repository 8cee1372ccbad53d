;; The abi fuzz target's hostile guest (a core module of world `agent`, wrapped by
;; fuzz/lib/abi-host.mjs twice: string-encoding utf8 with SHIFT 0, utf16 with SHIFT 1, where
;; the plain-text data segments are rewritten as UTF-16LE; lengths are in code units either way).
;;
;; run(task): task[0] is the operation, then four parameters p0..p3 of 8 hex digits each
;; (task[1..33)); a character is read as the low byte of its code unit.
;;   E  ok(task)                                  G  grow memory by p0 pages, ok(task copied past the old end)
;;   R  return area at 16: tag p0, ptr p1, len p2; or, when p3 is not 0, return p3 as the area unwritten
;;   U  ok(invalid string): pattern p0 at 4096, p1 code units
;;   L  log.emit(level p0, ptr p1, len p2), ok("ok")
;;   A  tools.available() with realloc mode p0, ok(first name)
;;   C  tools.call("probe", "{}") with realloc mode p0, ok(the string it returned)
;;   N  get-environment() with realloc mode p0, ok(first name)
;;   F  get-directories() with realloc mode p0, then open-at(dir, p1, ".", p2, p3) and drop; ok("fs")
;;   K  kv.set("k", "kv", option tag p0 with payload p1), ok("kv")
;;   H  [resource-drop]descriptor(p0) (a handle this instance never got), ok("h")
;;   B  [method]descriptor.open-at on handle p0 (never got), open-flags p2, descriptor-flags p3;
;;      ok("b0") when it opened something, ok("b1") when it returned an error
;;   S  tools.available() writing its result at p0, ok("s")
;;
;; cabi_realloc misbehaves by mode (the global $rmode, which run sets around one host call; and
;; for the very first call of an instance, which passes the task, a task of 4000+m code units
;; selects mode m):
;;   0 bump   1 end of memory   2 0xfffffff0   3 misaligned (+1)   4 exactly at the end (valid)
;;   5 trap   6 calls log.emit first   7 calls tools.available once (re-entering realloc)
;;   8 calls tools.available every time (unbounded)   9 grows memory, returns the new page
;;   10 returns 0 (valid)   11 always 8192 (aliasing, valid)   12 0x80000000   13 grows 65536 pages (fails), then bump
(module
  (import "agent-os:sandbox/log@0.1.0" "emit" (func $emit (param i32 i32 i32)))
  (import "agent-os:sandbox/tools@0.1.0" "available" (func $available (param i32)))
  (import "agent-os:sandbox/tools@0.1.0" "call" (func $call (param i32 i32 i32 i32 i32)))
  (import "agent-os:sandbox/kv@0.1.0" "set" (func $kvset (param i32 i32 i32 i32 i32 i64 i32)))
  (import "wasi:cli/environment@0.2.12" "get-environment" (func $getenv (param i32)))
  (import "wasi:filesystem/preopens@0.2.12" "get-directories" (func $getdirs (param i32)))
  (import "wasi:filesystem/types@0.2.12" "[method]descriptor.open-at" (func $openat (param i32 i32 i32 i32 i32 i32 i32)))
  (import "wasi:filesystem/types@0.2.12" "[resource-drop]descriptor" (func $dropdesc (param i32)))
  (memory (export "memory") 2)
  (global $shift i32 (i32.const SHIFT))
  (global $heap (mut i32) (i32.const 8192))
  (global $rmode (mut i32) (i32.const 0))
  (global $rdepth (mut i32) (i32.const 0))
  (global $first (mut i32) (i32.const 1))
  (global $tp (mut i32) (i32.const 0))
  (global $tl (mut i32) (i32.const 0))
  (data (i32.const 1024) "probe")
  (data (i32.const 1040) "{}")
  (data (i32.const 1056) "k")
  (data (i32.const 1072) "kv")
  (data (i32.const 1088) "in realloc")
  (data (i32.const 1120) ".")
  (data (i32.const 1136) "ok")
  (data (i32.const 1152) "none")
  (data (i32.const 1168) "fs")
  (data (i32.const 1184) "h")
  (data (i32.const 1200) "s")
  (data (i32.const 1216) "b0")
  (data (i32.const 1232) "b1")
  ;; Invalid UTF-8 at 1280 (0xff; an overlong "/"; a surrogate; a truncated sequence), and
  ;; invalid UTF-16 at 1344 (a lone high, a lone low, a reversed pair).
  (data (i32.const 1280) "\ff\c0\af\ed\a0\80\e2\82\ff\fe")
  (data (i32.const 1344) "\00\d8\41\00\00\dc\42\00\00\dc\00\d8")

  (func $bump (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1))) (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq (memory.grow (i32.sub (i32.shr_u (i32.add (global.get $heap) (i32.const 65535)) (i32.const 16)) (memory.size))) (i32.const -1))
          (then unreachable))))
    (local.get $ptr))

  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $mode i32) (local $units i32) (local $end i32) (local $p i32)
    (local.set $mode (global.get $rmode))
    (if (global.get $first)
      (then
        (global.set $first (i32.const 0))
        (local.set $units (i32.shr_u (local.get $size) (global.get $shift)))
        (if (i32.and (i32.ge_u (local.get $units) (i32.const 4000)) (i32.lt_u (local.get $units) (i32.const 4014)))
          (then (local.set $mode (i32.sub (local.get $units) (i32.const 4000)))))))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    ;; Modes that return a usable pointer set $p and fall through to the copy a realloc owes
    ;; (hosts shrink or grow their first allocation: wasmtime does for UTF-16 from UTF-8).
    (block $copy (block $b13 (block $b12 (block $b11 (block $b10 (block $b9 (block $b8 (block $b7 (block $b6 (block $b5 (block $b4 (block $b3 (block $b2 (block $b1 (block $b0
      (br_table $b0 $b1 $b2 $b3 $b4 $b5 $b6 $b7 $b8 $b9 $b10 $b11 $b12 $b13 $b0 (local.get $mode)))
      (local.set $p (call $bump (local.get $align) (local.get $size))) (br $copy))      ;; 0
      (return (local.get $end)))                                                      ;; 1
      (return (i32.const 0xfffffff0)))                                                ;; 2
      (local.set $p (i32.add (call $bump (local.get $align) (i32.add (local.get $size) (i32.const 1))) (i32.const 1))) (br $copy)) ;; 3
      (local.set $p (i32.sub (local.get $end) (local.get $size))) (br $copy))         ;; 4
      (unreachable))                                                                  ;; 5
      (call $emit (i32.const 2) (i32.const 1088) (i32.const 10))                      ;; 6
      (local.set $p (call $bump (local.get $align) (local.get $size))) (br $copy))
      (if (i32.eqz (global.get $rdepth))                                              ;; 7
        (then
          (global.set $rdepth (i32.const 1))
          (call $available (i32.const 96))
          (global.set $rdepth (i32.const 0))))
      (local.set $p (call $bump (local.get $align) (local.get $size))) (br $copy))
      (call $available (i32.const 96))                                                ;; 8
      (local.set $p (call $bump (local.get $align) (local.get $size))) (br $copy))
      (drop (memory.grow (i32.const 1)))                                              ;; 9
      (global.set $heap (i32.add (local.get $end) (local.get $size)))
      (local.set $p (local.get $end))
      (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
        (then (local.set $p (call $bump (local.get $align) (local.get $size)))))
      (br $copy))
      (local.set $p (i32.const 0)) (br $copy))                                        ;; 10
      (local.set $p (i32.const 8192)) (br $copy))                                     ;; 11
      (return (i32.const 0x80000000)))                                                ;; 12
    (drop (memory.grow (i32.const 65536)))                                            ;; 13
    (local.set $p (call $bump (local.get $align) (local.get $size))))
    (if (local.get $old)
      (then (memory.copy (local.get $p) (local.get $old) (select (local.get $old_size) (local.get $size) (i32.lt_u (local.get $old_size) (local.get $size))))))
    (local.get $p))

  ;; The low byte of task character i (0 past the end).
  (func $ch (param $i i32) (result i32)
    (if (i32.ge_u (local.get $i) (global.get $tl)) (then (return (i32.const 0))))
    (i32.load8_u (i32.add (global.get $tp) (i32.shl (local.get $i) (global.get $shift)))))

  ;; Parameter k: 8 hex digits at task[1 + 8k].
  (func $param (param $k i32) (result i32)
    (local $i i32) (local $v i32) (local $c i32)
    (loop $digits
      (local.set $c (call $ch (i32.add (i32.add (i32.const 1) (i32.shl (local.get $k) (i32.const 3))) (local.get $i))))
      (local.set $c (if (result i32) (i32.le_u (local.get $c) (i32.const 57))
        (then (i32.sub (local.get $c) (i32.const 48)))
        (else (i32.sub (i32.or (local.get $c) (i32.const 32)) (i32.const 87)))))
      (local.set $v (i32.or (i32.shl (local.get $v) (i32.const 4)) (i32.and (local.get $c) (i32.const 15))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $digits (i32.lt_u (local.get $i) (i32.const 8))))
    (local.get $v))

  ;; ok(string at ptr, len code units) in the return area at 16.
  (func $ok (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (i32.const 16))

  ;; ok(the first string of the list result at 48: its first element's first string), or ok("none").
  (func $okFirst (result i32)
    (if (i32.eqz (i32.load (i32.const 52))) (then (return (call $ok (i32.const 1152) (i32.const 4)))))
    (call $ok (i32.load (i32.load (i32.const 48))) (i32.load (i32.add (i32.load (i32.const 48)) (i32.const 4)))))

  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    (local $op i32) (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $old i32) (local $h i32)
    (global.set $tp (local.get $ptr))
    (global.set $tl (local.get $len))
    (local.set $op (call $ch (i32.const 0)))
    (local.set $p0 (call $param (i32.const 0)))
    (local.set $p1 (call $param (i32.const 1)))
    (local.set $p2 (call $param (i32.const 2)))
    (local.set $p3 (call $param (i32.const 3)))
    (if (i32.eq (local.get $op) (i32.const 69)) ;; E
      (then (return (call $ok (local.get $ptr) (local.get $len)))))
    (if (i32.eq (local.get $op) (i32.const 71)) ;; G
      (then
        (local.set $old (i32.mul (memory.size) (i32.const 65536)))
        (if (i32.eq (memory.grow (local.get $p0)) (i32.const -1)) (then unreachable))
        (memory.copy (local.get $old) (local.get $ptr) (i32.shl (local.get $len) (global.get $shift)))
        (return (call $ok (local.get $old) (local.get $len)))))
    (if (i32.eq (local.get $op) (i32.const 82)) ;; R
      (then
        ;; A return area of p3's choosing is left as it is: the host reads whatever is there.
        (if (local.get $p3) (then (return (local.get $p3))))
        (i32.store8 (i32.const 16) (local.get $p0))
        (i32.store (i32.const 20) (local.get $p1))
        (i32.store (i32.const 24) (local.get $p2))
        (return (i32.const 16))))
    (if (i32.eq (local.get $op) (i32.const 85)) ;; U
      (then
        (memory.copy (i32.const 4096) (select (i32.const 1344) (i32.const 1280) (global.get $shift)) (i32.const 12))
        (return (call $ok (i32.add (i32.const 4096) (i32.shl (i32.and (local.get $p0) (i32.const 3)) (global.get $shift))) (i32.and (local.get $p1) (i32.const 7))))))
    (if (i32.eq (local.get $op) (i32.const 76)) ;; L
      (then
        (call $emit (local.get $p0) (local.get $p1) (local.get $p2))
        (return (call $ok (i32.const 1136) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 65)) ;; A
      (then
        (global.set $rmode (local.get $p0))
        (call $available (i32.const 48))
        (global.set $rmode (i32.const 0))
        (return (call $okFirst))))
    (if (i32.eq (local.get $op) (i32.const 67)) ;; C
      (then
        (global.set $rmode (local.get $p0))
        (call $call (i32.const 1024) (i32.const 5) (i32.const 1040) (i32.const 2) (i32.const 48))
        (global.set $rmode (i32.const 0))
        (if (i32.eqz (i32.load8_u (i32.const 48)))
          (then (return (call $ok (i32.load (i32.const 52)) (i32.load (i32.const 56))))))
        (return (call $ok (i32.load (i32.const 56)) (i32.load (i32.const 60))))))
    (if (i32.eq (local.get $op) (i32.const 78)) ;; N
      (then
        (global.set $rmode (local.get $p0))
        (call $getenv (i32.const 48))
        (global.set $rmode (i32.const 0))
        (return (call $okFirst))))
    (if (i32.eq (local.get $op) (i32.const 70)) ;; F
      (then
        (global.set $rmode (local.get $p0))
        (call $getdirs (i32.const 48))
        (global.set $rmode (i32.const 0))
        (if (i32.load (i32.const 52))
          (then
            (local.set $h (i32.load (i32.load (i32.const 48))))
            (call $openat (local.get $h) (local.get $p1) (i32.const 1120) (i32.const 1) (local.get $p2) (local.get $p3) (i32.const 64))
            (if (i32.eqz (i32.load8_u (i32.const 64))) (then (call $dropdesc (i32.load (i32.const 68)))))
            (call $dropdesc (local.get $h))))
        (return (call $ok (i32.const 1168) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 75)) ;; K
      (then
        (call $kvset (i32.const 1056) (i32.const 1) (i32.const 1072) (i32.const 2) (local.get $p0) (i64.extend_i32_u (local.get $p1)) (i32.const 48))
        (return (call $ok (i32.const 1072) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 72)) ;; H
      (then
        (call $dropdesc (local.get $p0))
        (return (call $ok (i32.const 1184) (i32.const 1)))))
    (if (i32.eq (local.get $op) (i32.const 66)) ;; B
      (then
        (call $openat (local.get $p0) (i32.const 0) (i32.const 1120) (i32.const 1) (local.get $p2) (local.get $p3) (i32.const 64))
        (if (i32.eqz (i32.load8_u (i32.const 64))) (then (return (call $ok (i32.const 1216) (i32.const 2)))))
        (return (call $ok (i32.const 1232) (i32.const 2)))))
    (if (i32.eq (local.get $op) (i32.const 83)) ;; S
      (then
        (call $available (local.get $p0))
        (return (call $ok (i32.const 1200) (i32.const 1)))))
    unreachable)

  (func (export "cabi_post_run") (param i32)
    (global.set $heap (i32.const 8192)))
)
