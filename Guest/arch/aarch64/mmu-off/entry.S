/*
 * entry.S: Skiff aarch64 CPU entry for platforms that start the image with
 * the MMU off (the arm64 Linux Image protocol: QEMU virt, Xen): EL2 -> EL1,
 * FP/SIMD, vectors, stacks, BSS, and the MMU switch-on with its cache
 * maintenance. The exception vectors themselves are ../vectors.S, shared
 * with platforms that enter at EL1 with the MMU already on (hvt).
 *
 * Reached from the platform's image header (platform/virt/aarch64/head.S
 * branches to skiff_entry): MMU and D-cache off, x0 = the platform's boot
 * argument (virt: the DTB physical address, 0 when QEMU loads the ELF), at
 * EL2 or EL1. Everything that needs to know the machine (RAM size, MMIO
 * ranges) is done in C by the platform's skiff_platform_early() with the
 * MMU still off; this file only does what C cannot: system registers, the
 * exception entry, and turning the MMU on. Then skiff_platform_start().
 *
 * Exceptions: application code runs on SP_EL0 (SPSel = 0), so every
 * exception switches to SP_EL1, a separate trap stack. A stack overflow into
 * the guard page below SP_EL0's stack therefore still reaches the handler.
 */

/* SCTLR_EL1: RES1 bits (ARMv8.0) plus the bits we set. */
#define SCTLR_RES1     0x30d00800
#define SCTLR_M        (1 << 0)     /* MMU */
#define SCTLR_C        (1 << 2)     /* data caches */
#define SCTLR_SA       (1 << 3)     /* SP alignment check at EL1 */
#define SCTLR_I        (1 << 12)    /* instruction cache */
#define SCTLR_WXN      (1 << 19)    /* writable implies execute-never */

/* MAIR_EL1: attr0 Device-nGnRnE, attr1 Normal WB RA/WA, attr2 Normal NC. */
#define MAIR_VALUE     0x44ff00

/* ---------------------------------------------------------------------- */
/* Boot code.                                                              */
/* ---------------------------------------------------------------------- */
        .section .text.skiff.boot, "ax", %progbits
        .globl skiff_entry
skiff_entry:
        mov     x19, x0                    /* DTB, or 0 (ELF boot) */
        /* The image is linked, not relocated: it must run where it was linked. */
        adr     x1, _start
        ldr     x2, =_start
        cmp     x1, x2
        b.ne    stop
        mrs     x20, CurrentEL
        ubfx    x20, x20, #2, #2
        cmp     x20, #2
        b.eq    from_el2
        cmp     x20, #1
        b.ne    stop                       /* EL3 (secure=on) is not supported */

el1_entry:
        /* FP/SIMD before anything else: Swift and clang emit NEON freely. */
        mov     x0, #(3 << 20)             /* CPACR_EL1.FPEN = 0b11 */
        msr     cpacr_el1, x0
        msr     daifset, #0xf              /* interrupts stay masked: we poll + WFI */
        ldr     x0, =SCTLR_RES1            /* MMU and caches off, whatever the loader left */
        msr     sctlr_el1, x0
        isb
        adr     x0, skiff_vectors
        msr     vbar_el1, x0
        /* SP_EL1: trap stack; SP_EL0: the stack everything else runs on. */
        ldr     x0, =__skiff_trap_stack_top
        mov     sp, x0
        ldr     x0, =__skiff_stack_top
        msr     sp_el0, x0
        msr     spsel, #0
        isb
        /* Zero .bss and the page tables (NOBITS, not in the Image file). */
        ldr     x0, =__skiff_bss_start
        ldr     x1, =__skiff_bss_end
        bl      zero_range
        ldr     x0, =__skiff_pt_start
        ldr     x1, =__skiff_pt_end
        bl      zero_range
        /* Machine discovery and page tables, MMU off (C built with -mstrict-align). */
        mov     x0, x19
        mov     x1, x20
        bl      skiff_platform_early

        /*
         * Everything so far was written with the MMU off, i.e. with
         * non-cacheable accesses straight to memory. Invalidate the image's
         * lines so no stale line (from the loader, or speculation) shadows
         * them once the caches are on; drop stale TLB entries and
         * instructions too.
         */
        ldr     x0, =__skiff_image_start
        ldr     x1, =__skiff_image_end
        bl      dcache_inval_range
        ic      iallu
        tlbi    vmalle1
        dsb     nsh
        isb
        ldr     x0, =MAIR_VALUE
        msr     mair_el1, x0
        ldr     x0, =skiff_a64_tcr
        ldr     x0, [x0]
        msr     tcr_el1, x0
        ldr     x0, =skiff_a64_ttbr0
        ldr     x0, [x0]
        msr     ttbr0_el1, x0
        isb
        ldr     x0, =(SCTLR_RES1 | SCTLR_M | SCTLR_C | SCTLR_SA | SCTLR_I | SCTLR_WXN)
        msr     sctlr_el1, x0
        isb
        ic      iallu                      /* drop instructions fetched with the MMU off */
        dsb     nsh
        isb
        bl      skiff_platform_start            /* never returns */
stop:
        wfe
        b       stop

/*
 * from_el2: make EL1 a plain AArch64 kernel level (no EL2 traps, physical
 * counter and timer usable, FP not trapped, GICv3 system registers open)
 * and eret to el1_entry with DAIF masked.
 */
from_el2:
        mov     x0, #(1 << 31)             /* HCR_EL2.RW: EL1 is AArch64; nothing trapped */
        msr     hcr_el2, x0
        mrs     x0, cnthctl_el2
        orr     x0, x0, #3                 /* EL1PCTEN | EL1PCEN */
        msr     cnthctl_el2, x0
        msr     cntvoff_el2, xzr           /* virtual counter == physical counter */
        mov     x0, #0x33ff                /* CPTR_EL2: RES1 bits, TFP = 0 */
        msr     cptr_el2, x0
        msr     hstr_el2, xzr
        mrs     x0, midr_el1               /* EL1 reads of MIDR/MPIDR see these */
        msr     vpidr_el2, x0
        mrs     x0, mpidr_el1
        msr     vmpidr_el2, x0
        mrs     x0, id_aa64pfr0_el1        /* GIC system registers implemented? */
        ubfx    x0, x0, #24, #4
        cbz     x0, 1f
        mrs     x0, S3_4_C12_C9_5          /* ICC_SRE_EL2 */
        orr     x0, x0, #0x1               /* SRE */
        orr     x0, x0, #0x8               /* Enable: EL1 may use ICC_SRE_EL1 */
        msr     S3_4_C12_C9_5, x0
        isb
1:      ldr     x0, =SCTLR_RES1
        msr     sctlr_el1, x0
        mov     x0, #0x3c5                 /* SPSR: EL1h, D, A, I, F masked */
        msr     spsr_el2, x0
        adr     x0, el1_entry
        msr     elr_el2, x0
        mov     x0, x19
        eret

/* zero_range(x0 = start, x1 = end): both 16-byte aligned. */
zero_range:
        cmp     x0, x1
        b.hs    2f
1:      stp     xzr, xzr, [x0], #16
        cmp     x0, x1
        b.lo    1b
2:      ret

/* dcache_inval_range(x0 = start, x1 = end): DC IVAC by line, then DSB. */
        .globl skiff_a64_dcache_inval_range
skiff_a64_dcache_inval_range:
dcache_inval_range:
        mrs     x3, ctr_el0
        ubfx    x3, x3, #16, #4            /* DminLine: log2(words) */
        mov     x2, #4
        lsl     x2, x2, x3
        sub     x3, x2, #1
        bic     x0, x0, x3
1:      dc      ivac, x0
        add     x0, x0, x2
        cmp     x0, x1
        b.lo    1b
        dsb     sy
        ret

        .ltorg

        .section .note.GNU-stack, "", %progbits
