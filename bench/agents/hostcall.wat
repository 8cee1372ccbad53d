;; hostcall: run(task) calls one WASI import N times in a loop and returns how many calls
;; succeeded, in decimal. Task: a mode letter followed by N in decimal:
;;   e<N>  wasi:cli/environment#get-environment, N times (returns the total number of
;;         variables seen, so with exactly one variable exposed the answer is N)
;;   s<N>  wasi:filesystem/types#[method]descriptor.stat-at("probe.txt") on the first
;;         preopen, N times (returns the number of ok results)
;; The bump heap is reset after every call, so memory use does not grow with N.
;; Layout: 16 result<string,string> · 64 get-environment retptr · 96 get-directories retptr
;;         · 128 stat-at retptr (128 bytes) · 256 "probe.txt" · 512 decimal output · 4096 heap
(module
  (import "wasi:cli/environment@0.2.12" "get-environment" (func $get_env (param i32)))
  (import "wasi:filesystem/preopens@0.2.12" "get-directories" (func $get_dirs (param i32)))
  (import "wasi:filesystem/types@0.2.12" "[method]descriptor.stat-at" (func $stat_at (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 256) "probe.txt")
  (data (i32.const 600) "no preopen")

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
    (local $ptr i32) (local $i i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $new_size)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow
                (i32.sub
                  (i32.shr_u (i32.add (global.get $heap) (i32.const 65535)) (i32.const 16))
                  (memory.size)))
              (i32.const -1))
          (then unreachable))))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $i) (local.get $old_size)))
        (i32.store8 (i32.add (local.get $ptr) (local.get $i))
                    (i32.load8_u (i32.add (local.get $old) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $copy)))
    (local.get $ptr))

  ;; ok(decimal(n)) written at 512.., returns the result pointer
  (func $ok_number (param $n i32) (result i32)
    (local $end i32) (local $p i32)
    (local.set $end (i32.const 544))
    (local.set $p (local.get $end))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (i32.ne (local.get $n) (i32.const 0))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $p))
    (i32.store (i32.const 24) (i32.sub (local.get $end) (local.get $p)))
    (i32.const 16))

  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    (local $mode i32) (local $n i32) (local $i i32) (local $acc i32) (local $base i32) (local $fd i32) (local $c i32)
    (local.set $mode (i32.load8_u (local.get $ptr)))
    ;; N = the decimal digits after the mode letter
    (local.set $i (i32.const 1))
    (block $parsed
      (loop $parse
        (br_if $parsed (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.sub (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 48)))
        (br_if $parsed (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $c)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $parse)))
    (local.set $i (i32.const 0))
    (local.set $base (global.get $heap))
    (if (i32.eq (local.get $mode) (i32.const 101)) ;; 'e'
      (then
        (block $done
          (loop $call
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (call $get_env (i32.const 64))
            (local.set $acc (i32.add (local.get $acc) (i32.load (i32.const 68))))
            (global.set $heap (local.get $base))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $call)))))
    (if (i32.eq (local.get $mode) (i32.const 115)) ;; 's'
      (then
        (call $get_dirs (i32.const 96))
        (if (i32.eqz (i32.load (i32.const 100)))
          (then
            (i32.store8 (i32.const 16) (i32.const 1))
            (i32.store (i32.const 20) (i32.const 600))
            (i32.store (i32.const 24) (i32.const 10))
            (return (i32.const 16))))
        ;; first tuple<own<descriptor>, string>: handle at +0
        (local.set $fd (i32.load (i32.load (i32.const 96))))
        (local.set $base (global.get $heap))
        (block $done
          (loop $call
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (call $stat_at (local.get $fd) (i32.const 0) (i32.const 256) (i32.const 9) (i32.const 128))
            (if (i32.eqz (i32.load8_u (i32.const 128)))
              (then (local.set $acc (i32.add (local.get $acc) (i32.const 1)))))
            (global.set $heap (local.get $base))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $call)))))
    (call $ok_number (local.get $acc)))

  (func (export "cabi_post_run") (param i32)
    (global.set $heap (i32.const 4096)))
)
