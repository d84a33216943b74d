/* probe.S: an aarch64 hvt guest in assembly for the KVM backend's tests (spec §7, §8).
 * Entered at EL1 with the MMU on, x0 = boot info (0x10000). The first word of the
 * command line picks what it does:
 *   hello ...  PUTS "hello from aarch64: <command line>\n", HALT 0
 *   halt42     HALT 42
 *   len2       a 16-bit store into the hypercall window (wrong length)
 *   read       a 32-bit load from the window (an MMIO read)
 *   outside    a 32-bit store to 0x100000200 (in the window, past the hypercalls)
 *   walltime   WALLTIME; PUTS "walltime=<16 hex> freq=<16 hex>\n" (freq: boot info cpu_cycle_freq); HALT 0
 *   textwrite  a store to its own text (read-only on the host: a stage-2 fault, KVM_RUN fails EFAULT)
 *   nr0        a hypercall with number 0 (no handler)
 *   state      PUTS one line of 16 hex digits each for: x0 at entry, SP at entry, CurrentEL, SPSel, DAIF,
 *              SCTLR_EL1, TCR_EL1, MAIR_EL1, TTBR0_EL1, CPACR_EL1, CNTFRQ_EL0, boot info cpu_cycle_freq and
 *              mem_size; HALT 0
 *   spin       loops forever (for signals)
 *   block      (-DPROBE_BLOCK: manifest device `storage`, handle 1) BLOCK_WRITE 512 bytes from the
 *              "hello from aarch64: " message at offset 512, BLOCK_READ them back into a buffer,
 *              PUTS the buffer's first 20 bytes and the two `ret` values (16 hex digits each); HALT 0
 *   kick       PUTS boot info host_features and net_ring (16 hex digits each), then a 32-bit store to the
 *              ring kick 0x100000100 (an ioeventfd when ring I/O is offered: no exit); HALT 9
 *              (-DPROBE_NET: manifest device `service0`, NET_BASIC)
 *   zero       a load from GPA 0 (not mapped): a stage-1 fault taken inside the guest at VBAR_EL1 (0,
 *              unset) + 0x200, unmapped too: it faults forever without an exit (end it with a signal)
 *   frame      (-DPROBE_NET) NET_WRITE one 60-byte broadcast frame, ethertype 0x88B5, on handle 1 through
 *              the hypercall (not the ring); PUTS `ret` (16 hex digits); HALT 0
 *   ring       (-DPROBE_NET, ring I/O offered) the same frame twice through the net ring (spec §11): submit,
 *              kick if needs_kick, wait for ent_head to pass it; then wait 100 ms (CNTVCT_EL0) so the
 *              host's I/O thread blocks on its eventfd, and submit the second. PUTS the needs_kick seen
 *              before each kick (16 hex digits each); HALT 0
 *   poll       POLL with a 20 ms timeout (no net device: a sleep); PUTS ret, ready_set and the CNTVCT_EL0
 *              ticks it took (16 hex digits each); HALT 0
 *   abort      HALT 255 with cookie 0 (what aarch64 Solo5 bindings do on a fatal trap)
 * anything else: HALT 3.
 * Build: clang -target aarch64-none-elf -c; ld.lld -T ../guest.ld -z max-page-size=0x1000. */
#if defined(PROBE_BLOCK)
#define MFT_COUNT 2
#define MFT_DEVICES mft_entry storage, 1
#elif defined(PROBE_NET)
#define MFT_COUNT 2
#define MFT_DEVICES mft_entry service0, 2
#else
#define MFT_COUNT 1
#define MFT_DEVICES
#endif
#include "../notes.inc"

#define HC(nr) (0x100000000 + (nr) * 8)
/* window REG, ADDR: REG = ADDR, an address in the MMIO window (0x1_xxxx_xxxx). */
.macro window reg, addr
    mov \reg, #(\addr) & 0xffffffff
    movk \reg, #1, lsl #32
.endm
#define WALLTIME 1
#define PUTS 2
#define BLOCK_WRITE 4
#define BLOCK_READ 5
#define NET_WRITE 6
#define POLL 3
#define HALT 8

    .text
    .globl _start
_start:
    mov x19, x0                     /* boot info */
    mov x23, sp                     /* SP at entry */
    ldr x20, [x19, #24]             /* command line GPA */
    ldrb w1, [x20]
    ldrb w2, [x20, #1]
    cmp w1, #'h'
    b.ne 1f
    cmp w2, #'e'
    b.eq do_hello
    b do_halt42
1:  cmp w1, #'l'
    b.eq do_len2
    cmp w1, #'r'
    b.eq do_read
    cmp w1, #'o'
    b.eq do_outside
    cmp w1, #'w'
    b.eq do_walltime
    cmp w1, #'t'
    b.eq do_textwrite
    cmp w1, #'n'
    b.eq do_nr0
    cmp w1, #'b'
    b.eq do_block
    cmp w1, #'k'
    b.eq do_kick
    cmp w1, #'z'
    b.eq do_zero
    cmp w1, #'f'
    b.eq do_frame
    cmp w1, #'g'
    b.eq do_ring
    cmp w1, #'p'
    b.eq do_poll
    cmp w1, #'a'
    b.eq do_abort
    cmp w1, #'s'
    b.ne 1f
    cmp w2, #'t'
    b.eq do_state
    b do_spin
1:
    mov w0, #3
    b halt

/* puts(x0 = gpa, x1 = len); clobbers x9, x10 */
puts:
    adrp x9, puts_arg
    add x9, x9, :lo12:puts_arg
    stp x0, x1, [x9]
    window x10, HC(PUTS)
    str w9, [x10]
    ret

/* halt(w0 = status) */
halt:
    adrp x9, halt_arg
    add x9, x9, :lo12:halt_arg
    str xzr, [x9]
    str w0, [x9, #8]
    window x10, HC(HALT)
    str w9, [x10]
2:  wfi
    b 2b

do_hello:
    adrp x0, msg
    add x0, x0, :lo12:msg
    mov x1, #(msg_end - msg)
    bl puts
    mov x0, x20                     /* strlen(cmdline) */
    mov x1, #0
3:  ldrb w2, [x0, x1]
    cbz w2, 4f
    add x1, x1, #1
    b 3b
4:  bl puts
    adrp x0, nl
    add x0, x0, :lo12:nl
    mov x1, #1
    bl puts
    mov w0, #0
    b halt

do_halt42:
    mov w0, #42
    b halt

do_len2:
    window x10, HC(PUTS)
    strh w10, [x10]
    mov w0, #4
    b halt

do_read:
    window x10, HC(PUTS)
    ldr w11, [x10]
    mov w0, #5
    b halt

do_outside:
    window x10, 0x100000000 + 0x200
    str w10, [x10]
    mov w0, #6
    b halt

do_walltime:
    adrp x21, wall_arg
    add x21, x21, :lo12:wall_arg
    window x10, HC(WALLTIME)
    str w21, [x10]
    adrp x22, wmsg
    add x22, x22, :lo12:wmsg
    ldr x3, [x21]
    add x4, x22, #9                 /* after "walltime=" */
    bl hex16
    ldr x3, [x19, #16]              /* cpu_cycle_freq */
    add x4, x22, #31                /* after "walltime=<16> freq=" */
    bl hex16
    mov x0, x22
    mov x1, #(wmsg_end - wmsg)
    bl puts
    mov w0, #0
    b halt

/* hex16: x3 → 16 hex digits at x4; clobbers x5-x7 */
hex16:
    mov x5, #60
5:  lsr x6, x3, x5
    and x6, x6, #0xf
    cmp x6, #10
    add x7, x6, #'0'
    add x6, x6, #('a' - 10)
    csel x6, x7, x6, lo
    strb w6, [x4], #1
    subs x5, x5, #4
    b.ge 5b
    ret

/* putreg(x3): PUTS "<16 hex digits>\n"; clobbers x0-x7, x9, x10, x24 */
putreg:
    mov x24, x30
    adrp x4, hexline
    add x4, x4, :lo12:hexline
    bl hex16
    adrp x0, hexline
    add x0, x0, :lo12:hexline
    mov x1, #17
    bl puts
    ret x24

do_state:
    mov x3, x19
    bl putreg
    mov x3, x23
    bl putreg
    mrs x3, CurrentEL
    bl putreg
    mrs x3, SPSel
    bl putreg
    mrs x3, DAIF
    bl putreg
    mrs x3, SCTLR_EL1
    bl putreg
    mrs x3, TCR_EL1
    bl putreg
    mrs x3, MAIR_EL1
    bl putreg
    mrs x3, TTBR0_EL1
    bl putreg
    mrs x3, CPACR_EL1
    bl putreg
    mrs x3, CNTFRQ_EL0
    bl putreg
    ldr x3, [x19, #16]
    bl putreg
    ldr x3, [x19]
    bl putreg
    mov w0, #0
    b halt

/* block(x11 = nr, x12 = data GPA): handle 1, offset 512, len 512; returns x0 = ret */
block:
    adrp x9, blk_arg
    add x9, x9, :lo12:blk_arg
    mov x13, #1
    mov x14, #512
    stp x13, x14, [x9]
    stp x12, x14, [x9, #16]
    str xzr, [x9, #32]
    window x10, 0x100000000
    add x10, x10, x11, lsl #3
    str w9, [x10]
    ldrsw x0, [x9, #32]
    ret

do_block:
    mov x11, #BLOCK_WRITE
    adrp x12, msg
    add x12, x12, :lo12:msg
    bl block
    mov x25, x0
    mov x11, #BLOCK_READ
    adrp x12, blkbuf
    add x12, x12, :lo12:blkbuf
    bl block
    mov x26, x0
    adrp x0, blkbuf
    add x0, x0, :lo12:blkbuf
    mov x1, #(msg_end - msg)
    bl puts
    adrp x0, nl
    add x0, x0, :lo12:nl
    mov x1, #1
    bl puts
    mov x3, x25
    bl putreg
    mov x3, x26
    bl putreg
    mov w0, #0
    b halt

do_kick:
    ldr w3, [x19, #40]
    bl putreg
    ldr x3, [x19, #48]
    bl putreg
    window x10, 0x100000000 + 0x100
    str w10, [x10]
    mov w0, #9
    b halt

do_zero:
    mov x10, #0
    ldr w11, [x10]
    mov w0, #11
    b halt

do_frame:
    adrp x9, net_arg
    add x9, x9, :lo12:net_arg
    mov x13, #1
    adrp x12, frame
    add x12, x12, :lo12:frame
    stp x13, x12, [x9]
    mov x14, #(frame_end - frame)
    stp x14, xzr, [x9, #16]
    window x10, HC(NET_WRITE)
    str w9, [x10]
    ldrsw x3, [x9, #24]
    bl putreg
    mov w0, #0
    b halt

/* ring_write(x20 = ring): one NET_WRITE entry for `frame`; returns x0 = needs_kick seen; clobbers x9-x14 */
ring_write:
    ldr w11, [x20]                  /* ent_tail */
    and w12, w11, #1023
    add x13, x20, #128
    add x13, x13, x12, lsl #5       /* &entries[ent_tail & 1023] */
    mov w14, #1                     /* HVT_RING_NET_WRITE */
    str w14, [x13]
    str w14, [x13, #4]              /* handle 1 */
    adrp x9, frame
    add x9, x9, :lo12:frame
    str x9, [x13, #8]
    mov w14, #(frame_end - frame)
    str w14, [x13, #16]
    str w11, [x13, #20]             /* id */
    dmb ishst
    add w11, w11, #1
    str w11, [x20]
    dmb ish
    ldr w0, [x20, #72]              /* needs_kick */
    cbz w0, 6f
    window x10, 0x100000000 + 0x100
    str wzr, [x10]                  /* kick: ring id 0 */
6:  ldr w12, [x20, #64]             /* wait until ent_head reaches ent_tail */
    cmp w12, w11
    b.ne 6b
    dmb ishld
    ret

do_ring:
    ldr x20, [x19, #48]             /* net_ring */
    cbz x20, 8f
    bl ring_write
    mov x27, x0
    mrs x11, CNTVCT_EL0             /* 100 ms */
    ldr x12, [x19, #16]
    mov x13, #10
    udiv x12, x12, x13
    add x12, x11, x12
7:  mrs x11, CNTVCT_EL0
    cmp x11, x12
    b.lo 7b
    bl ring_write
    mov x28, x0
    mov x3, x27
    bl putreg
    mov x3, x28
    bl putreg
    mov w0, #0
    b halt
8:  mov w0, #12                     /* no ring offered */
    b halt

do_poll:
    adrp x9, poll_arg
    add x9, x9, :lo12:poll_arg
    mov x11, #0x2d00                /* 20 000 000 ns = 0x1312D00 */
    movk x11, #0x131, lsl #16
    stp x11, xzr, [x9]
    str xzr, [x9, #16]
    isb
    mrs x27, CNTVCT_EL0
    window x10, HC(POLL)
    str w9, [x10]
    isb
    mrs x28, CNTVCT_EL0
    adrp x21, poll_arg
    add x21, x21, :lo12:poll_arg
    ldrsw x3, [x21, #16]
    bl putreg
    ldr x3, [x21, #8]
    bl putreg
    sub x3, x28, x27
    bl putreg
    mov w0, #0
    b halt

do_abort:
    mov w0, #255
    b halt

do_spin:
    b do_spin

do_nr0:
    adrp x9, puts_arg
    window x10, HC(0)
    str w9, [x10]
    mov w0, #8
    b halt

do_textwrite:
    adrp x10, _start
    .globl probe_text_store
probe_text_store:
    str wzr, [x10]
    mov w0, #7
    b halt

    .section .rodata
frame: .byte 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0xa6, 0x4b, 0x88, 0xb5
    .ascii "skiff arm64 NET_WRITE"
    .fill 60 - (. - frame), 1, 0
frame_end:
msg: .ascii "hello from aarch64: "
msg_end:
nl: .ascii "\n"
#include "../hvt_args.inc"
wall_arg: .quad 0
wmsg: .ascii "walltime=0000000000000000 freq=0000000000000000\n"
wmsg_end:
hexline: .ascii "0000000000000000\n"
    .p2align 4
blk_arg: .quad 0, 0, 0, 0, 0
net_arg: .quad 0, 0, 0, 0
poll_arg: .quad 0, 0, 0
    .bss
    .p2align 12
blkbuf: .skip 512
