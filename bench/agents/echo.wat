;; echo: run(task) returns ok(task). The smallest useful agent: no imports at all.
;; Canonical ABI by hand: the host lifts `task` into memory through cabi_realloc (a bump
;; allocator from 1024); `run` returns a pointer to result<string,string> (tag byte at +0,
;; string pointer at +4, length at +8); cabi_post_run resets the heap.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

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

  (func (export "run") (param $ptr i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (local.get $ptr))
    (i32.store (i32.const 24) (local.get $len))
    (i32.const 16))

  (func (export "cabi_post_run") (param i32)
    (global.set $heap (i32.const 1024)))
)
