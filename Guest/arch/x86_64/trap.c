/*
 * trap.c: x86_64 CPU exceptions: the abort line for every fault, with
 * Solo5's trap frame as the HALT cookie. Reached at CPL3 from cpl3/start.S
 * (hvt: faults reflected from CPL0) or at CPL0 from a platform whose
 * runtime runs at CPL0 (Xen PVH: platform/xen/x86_64/pvh.S).
 */
#include "rt.h"

static const char *const trap_names[32] = {
    "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "#CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
    "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

/* Solo5's trap-frame cookie layout (spec 9.7), built by skiff_trap_entry;
 * Skiff's extension (magic, rax, rbx, rbp, r12-r15) follows it, for core dumps. */
struct trap_frame {
    uint64_t cr2, ec, rip, cs, rflags, rsp, ss;
};

/*
 * skiff_trap: every CPU exception (vectors 0-31) ends here on the trap
 * stack, from the entry's isr_common (hvt: reflected to CPL3). Prints one abort line and
 * HALTs with 255, passing the frame as the HALT cookie like Solo5.
 */
__attribute__((noreturn, no_stack_protector, used))
void skiff_trap(uint64_t vector, struct trap_frame *tf)
{
    static int in_trap;
    if (in_trap++)
        skiff_halt(255, 0);   /* fault while reporting a fault */
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: trap: type=");
    skiff_fmt_str(&f, trap_names[vector & 31]);
    skiff_fmt_field(&f, " ec=", tf->ec);
    skiff_fmt_field(&f, " rip=", tf->rip);
    skiff_fmt_field(&f, " rsp=", tf->rsp);
    skiff_fmt_field(&f, " rflags=", tf->rflags);
    if (vector == 14) {
        skiff_fmt_field(&f, " cr2=", tf->cr2);
        skiff_fmt_fault_address(&f, tf->cr2);
    }
    /* A fault at another privilege level than the runtime's own (hvt: CPL0
     * code under a CPL3 runtime). */
    uint16_t cs;
    __asm__ __volatile__("mov %%cs, %0" : "=r"(cs));
    if ((tf->cs & 3) != (cs & 3))
        skiff_fmt_str(&f, (tf->cs & 3) == 0 ? " (in CPL0 code)" : " (in CPL3 code)");
    skiff_fmt_emit(&f);
    skiff_halt(255, tf);
}
