/*
 * stacks.S: the guest's stacks, the same on every architecture: the trap
 * stack, the guard page below the main stack (left unmapped, so an overflow
 * faults instead of corrupting memory), and the main stack.
 *
 * NOBITS, in their own PT_LOAD (skiff.ld): zero-filled guest memory, not in
 * the file. Sizes come from the platform's layout.h (SKIFF_STACK_SIZE can be
 * set with `skiff build --stack-size`, which passes -DSKIFF_STACK_SIZE).
 */
#include "layout.h"

        .section .skiff.stack, "aw", %nobits
        .balign 4096
        .globl __skiff_trap_stack_bottom
__skiff_trap_stack_bottom:
        .skip   SKIFF_TRAP_STACK_SIZE
        .globl __skiff_trap_stack_top
__skiff_trap_stack_top:
        .globl __skiff_guard
__skiff_guard:                             /* not mapped: stack overflow faults */
        .skip   SKIFF_GUARD_SIZE
        .globl __skiff_stack_bottom
__skiff_stack_bottom:
        .skip   SKIFF_STACK_SIZE
        .globl __skiff_stack_top
__skiff_stack_top:

        .section .note.GNU-stack, "", %progbits
