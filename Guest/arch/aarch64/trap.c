/*
 * trap.c: aarch64 exceptions: decodes ESR_EL1 into one abort line (class,
 * fault status and level, access, ELR, FAR, stack overflow or null pointer)
 * for every exception vectors.S takes; the HALT cookie is the saved frame.
 */
#include "rt.h"

static const char *ec_name(uint32_t ec)
{
    switch (ec) {
    case 0x00: return "undefined instruction";
    case 0x01: return "WFI/WFE trapped";
    case 0x07: return "FP/SIMD access trapped";
    case 0x0e: return "illegal execution state";
    case 0x15: return "SVC";
    case 0x16: return "HVC";
    case 0x17: return "SMC";
    case 0x18: return "system register access trapped";
    case 0x20: case 0x21: return "instruction abort";
    case 0x22: return "PC alignment fault";
    case 0x24: case 0x25: return "data abort";
    case 0x26: return "SP alignment fault";
    case 0x2c: return "floating-point exception";
    case 0x2f: return "SError";
    case 0x30: case 0x31: return "breakpoint";
    case 0x32: case 0x33: return "software step";
    case 0x34: case 0x35: return "watchpoint";
    case 0x3c: return "BRK (Swift runtime failure or trap)";
    default: return "exception";
    }
}

static const char *fault_status(uint32_t fsc)
{
    switch (fsc & 0x3c) {
    case 0x04: return "translation fault";
    case 0x08: return "access flag fault";
    case 0x0c: return "permission fault";
    }
    if (fsc == 0x21) return "alignment fault";
    if (fsc == 0x10) return "synchronous external abort";
    if (fsc == 0x00 || fsc == 0x01 || fsc == 0x02 || fsc == 0x03) return "address size fault";
    return "fault";
}

/*
 * skiff_a64_trap: every exception (vectors.S). Returns only to resume
 * when the platform says so (virt: after the semihosting probe); everything
 * else prints one abort line with the decoded ESR, ELR and FAR and ends the
 * run with status 255.
 */
__attribute__((no_stack_protector, used))
void skiff_a64_trap(struct skiff_a64_frame *fr, uint64_t kind)
{
    static int in_trap;
    uint32_t ec = (uint32_t)(fr->esr >> 26) & 0x3f;
    unsigned type = kind & 3, group = (unsigned)(kind >> 2);

    if (skiff_platform_trap_resume(fr, ec, type))
        return;
    if (in_trap++) {
        static const char again[] = "Skiff: ABORT: fault while reporting a fault\n";
        skiff_puts_raw(again, sizeof again - 1);
        skiff_halt(255, 0);
    }
    struct skiff_fmt f = { .len = 0 };
    skiff_fmt_str(&f, "Skiff: ABORT: trap: type=");
    if (type == 0)
        skiff_fmt_str(&f, ec_name(ec));
    else
        skiff_fmt_str(&f, type == 1 ? "IRQ" : type == 2 ? "FIQ" : "SError");
    skiff_fmt_field(&f, " esr=", fr->esr);
    skiff_fmt_field(&f, " elr=", fr->elr);
    skiff_fmt_field(&f, " far=", fr->far);
    skiff_fmt_field(&f, " sp=", group == 0 ? fr->sp : (uint64_t)(uintptr_t)(fr + 1));
    if (type == 0 && (ec == 0x20 || ec == 0x21 || ec == 0x24 || ec == 0x25)) {
        uint32_t fsc = (uint32_t)fr->esr & 0x3f;
        skiff_fmt_str(&f, " (");
        skiff_fmt_str(&f, fault_status(fsc));
        if ((fsc & 0x30) == 0 && (fsc & 0x0c)) {
            skiff_fmt_str(&f, " level ");
            skiff_fmt_dec(&f, fsc & 3);
        }
        if (ec >= 0x24)
            skiff_fmt_str(&f, (fr->esr & (1u << 6)) ? ", write" : ", read");
        else
            skiff_fmt_str(&f, ", execute");
        skiff_fmt_str(&f, ")");
        skiff_fmt_fault_address(&f, fr->far);
    } else if (type == 0 && ec == 0x3c) {
        skiff_fmt_field(&f, " imm=", fr->esr & 0xffff);
    }
    if (group == 1)
        skiff_fmt_str(&f, " (in an exception handler)");
    else if (group >= 2)
        skiff_fmt_str(&f, " (from EL0)");
    skiff_fmt_emit(&f);
    skiff_halt(255, fr);   /* hvt: the frame is the HALT cookie; virt ignores it */
}
