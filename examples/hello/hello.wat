;; hello: the smallest useful agent, written by hand in WebAssembly text.
;; run(task) logs "Hello, <task>!" through agent-os:sandbox/log (level info) and returns it.
;; An empty task greets "world".
;;
;; Canonical ABI by hand:
;;   - the host copies `task` into memory through cabi_realloc (a bump allocator from 4096);
;;   - `run` returns a pointer to result<string, string>: tag byte at +0 (0 = ok),
;;     string pointer at +4, length at +8;
;;   - cabi_post_run runs after the host copied the result out, and resets the heap.
(module
  (import "agent-os:sandbox/log@0.1.0" "emit" (func $emit (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 64) "Hello, ")
  (data (i32.const 80) "world")
  (data (i32.const 96) "!")

  (func $alloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32) (result i32)
    (local $ptr i32)
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
    (call $copy (local.get $ptr) (local.get $old) (local.get $old_size))
    (local.get $ptr))

  ;; copy len bytes from src to dst
  (func $copy (param $dst i32) (param $src i32) (param $len i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
                    (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "run") (param $task i32) (param $len i32) (result i32)
    (local $out i32) (local $n i32)
    (if (i32.eqz (local.get $len))
      (then (local.set $task (i32.const 80)) (local.set $len (i32.const 5))))
    ;; out = "Hello, " + task + "!"
    (local.set $n (i32.add (local.get $len) (i32.const 8)))
    (local.set $out (call $alloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $n)))
    (call $copy (local.get $out) (i32.const 64) (i32.const 7))
    (call $copy (i32.add (local.get $out) (i32.const 7)) (local.get $task) (local.get $len))
    (call $copy (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 7))) (i32.const 96) (i32.const 1))
    (call $emit (i32.const 2) (local.get $out) (local.get $n))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $out))
    (i32.store (i32.const 24) (local.get $n))
    (i32.const 16))

  (func (export "cabi_post_run") (param i32)
    (global.set $heap (i32.const 4096)))
)
