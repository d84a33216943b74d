/*
 * probe.S: a CPL0 test guest driven by its command line: a tiny stack language
 * in which the e2e tests (Tests/e2e) write one monitor behaviour per run.
 *
 * Why one interpreter instead of thirty guests: on PVM hosts every CPL0
 * instruction is emulated (~1 us), so each guest must stay small, and most
 * monitor tests differ only in the numbers they hand to one hypercall.
 * Tokens are separated by spaces. A number (decimal, or 0x hex, optional
 * leading '-') is pushed; a word (at most 8 characters) pops its operands,
 * written below as ( inputs -- outputs ). The end of the command line is
 * `0 halt` (silent exit 0). Errors in the program itself (unknown word,
 * malformed number) print `probe: ...` and HALT with 99.
 *
 * Build variants (one source, different manifests):
 *   -DPROBE_BLOCK  manifest: storage (BLOCK_BASIC)
 *   -DPROBE_NET    manifest: service0 (NET_BASIC)
 *   -DPROBE_BLOCK -DPROBE_NET  storage, then service0 (handles 1 and 2)
 *   -DPROBE_NET2   service0, service1 (NET_BASIC, handles 1 and 2)
 *   -DPROBE_MAXDEV storage0 .. storage62 (BLOCK_BASIC, handles 1..63): the manifest maximum
 *
 * Words:
 *   halt ( status -- )            HALT, cookie 0
 *   haltc ( cookie status -- )    HALT with a cookie
 *   ok ( -- )                     print "SUCCESS\n", HALT 0
 *   hc ( a0 a1 a2 a3 a4 nr -- )   store a0..a4 as qwords at `argblk`, outl argblk to port 0x500+nr
 *   ret ( off -- v )              sign-extended dword at argblk+off
 *   arg ( off -- v )              qword at argblk+off
 *   argblk ( -- gpa )             address of the argument block
 *   puts ( gpa len -- )           PUTS through argblk
 *   print ( v -- )                print "0x<hex>\n"
 *   expect ( got want -- )        if got != want: print "expect failed: got 0x.. want 0x.. at N", HALT 1
 *   outl ( value port -- )  outw ( port -- )  outb ( port -- )  inl ( port -- v )
 *   rd rdd rdb ( gpa -- v )       load qword / dword / byte
 *   wr wrd wrb ( v gpa -- )       store qword / dword / byte
 *   wait32 ( gpa v -- )           spin until the dword at gpa equals v (gives up after 2^21
 *                                 tries: prints "probe: wait32 timed out", HALT 98)
 *   fill ( gpa len byte -- )      memset
 *   memeq ( a b len -- flag )     1 if the ranges are equal, else 0
 *   add sub and mod ( a b -- r )  dup ( a -- a a )  drop ( a -- )  swap ( a b -- b a )  nz ( a -- a!=0 )
 *   buf ( -- 0x200000 )           a scratch buffer (needs --mem >= 4)
 *   mem ( -- mem_size )           from the boot info
 *   rdi rsp rflags gprs           entry RDI, RSP, RFLAGS, and the OR of all other GPRs at entry
 *   cr0 cr3 cr4 efer cs ss        current values
 *   spin ud2 hlt                  loop forever / undefined opcode / hlt
 *   sse                           execute `xorps %xmm0, %xmm0` (at CPL0 a PVM host cannot emulate it)
 *   mmio ( gpa -- )               map gpa (above guest memory) with private page tables and store to it
 *   begin ( -- )  again ( flag -- )   loop: `again` jumps back to just after the matching `begin` while
 *                                 flag != 0 (nestable 16 deep), e.g. `5 begin ... 1 sub dup again drop`
 *   over ( a b -- a b a )
 * Net ring words (the ring at mem_size, spec §11; test_hostile_ring.py), native loops because an
 * interpreted loop is ~1 ms per iteration on PVM:
 *   rfill ( q0 q1 q2 n -- )       entries 0..n-1 := q0 (op | handle << 32), q1 (data), q2 (len | id << 32)
 *   rflood ( off a b n -- )       n rounds (0: forever): ent_tail := the guest's view of ent_head + 1024
 *                                 (the ring kept full), kick port 0x600, then rewrite the qword at
 *                                 +off of the 8 entries from ent_head on with a (odd rounds) or b
 */
#if defined(PROBE_MAXDEV)
#define MFT_COUNT 64
#define MFT_DEVICES .irp n,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62; mft_entry storage\n, 1; .endr
#elif defined(PROBE_NET2)
#define MFT_COUNT 3
#define MFT_DEVICES mft_entry service0, 2; mft_entry service1, 2
#elif defined(PROBE_BLOCK)
#ifdef PROBE_NET
#define MFT_COUNT 3
#define MFT_DEVICES mft_entry storage, 1; mft_entry service0, 2
#else
#define MFT_COUNT 2
#define MFT_DEVICES mft_entry storage, 1
#endif
#else
#ifdef PROBE_NET
#define MFT_COUNT 2
#define MFT_DEVICES mft_entry service0, 2
#else
#define MFT_COUNT 1
#define MFT_DEVICES
#endif
#endif
#include "notes.inc"

#define BUF 0x200000

/* The data stack lives in .bss; %r15 points at the next free slot. */
.macro dpop reg
    sub $8, %r15
    mov (%r15), \reg
.endm
.macro dpush reg
    mov \reg, (%r15)
    add $8, %r15
.endm

/* A hypercall at PORT whose argument block BLOCK gets FIRST at +0 and SECOND at +8 (clobbers rax, rdx). */
.macro hypercall2 block, port, first, second
    mov \first, \block(%rip)
    mov \second, \block+8(%rip)
    lea \block(%rip), %eax
    mov $\port, %dx
    outl %eax, (%dx)
.endm

/* PUTS the bytes between the labels NAME and NAME_end. */
.macro puts_msg name
    lea \name(%rip), %rsi
    mov $(\name\()_end - \name), %ecx
    call puts_rsi_rcx
.endm

/* Word shapes. ( a -- a' ): %rax = INSN applied to the popped value. */
.macro word_unary name, insn:vararg
\name:
    dpop %rax
    \insn
    dpush %rax
    jmp next
.endm
/* ( -- value ): INSN puts the value in %rax. */
.macro word_value name, insn:vararg
\name:
    \insn
    dpush %rax
    jmp next
.endm
/* ( a b -- a OP b ) */
.macro word_binary name, op
\name:
    dpop %rcx
    dpop %rax
    \op %rcx, %rax
    dpush %rax
    jmp next
.endm
/* ( offset -- field ): LOAD from the hypercall argument block at offset. */
.macro word_argfield name, load
\name:
    dpop %rax
    lea argblk(%rip), %rdi
    \load (%rdi,%rax), %rax
    dpush %rax
    jmp next
.endm
/* ( value address -- ): INSN stores %rax (or part of it) at (%rdi). */
.macro word_store name, insn:vararg
\name:
    dpop %rdi
    dpop %rax
    \insn
    jmp next
.endm

    .text
    .globl _start
_start:
    mov %rsp, init_rsp(%rip)
    mov %rdi, init_rdi(%rip)
    pushfq                          /* before any flag-changing instruction */
    popq init_rflags(%rip)
    or %rbx, %rax
    or %rcx, %rax
    or %rdx, %rax
    or %rsi, %rax
    or %rbp, %rax
    or %r8, %rax
    or %r9, %rax
    or %r10, %rax
    or %r11, %rax
    or %r12, %rax
    or %r13, %rax
    or %r14, %rax
    or %r15, %rax
    mov %rax, init_gprs(%rip)
    mov %rdi, %r14                  /* boot info */
    mov 24(%rdi), %r12              /* cursor: the command line */
    mov %r12, %r13                  /* its start, for error offsets */
    lea dstack(%rip), %r15

next:
    movzbl (%r12), %eax
    cmp $' ', %al
    jne 1f
    inc %r12
    jmp next
1:  test %al, %al
    jz end_of_program
    cmp $'-', %al
    jne 2f
    movzbl 1(%r12), %ecx
    sub $'0', %ecx
    cmp $9, %ecx
    jbe number
    jmp word
2:  mov %eax, %ecx
    sub $'0', %ecx
    cmp $9, %ecx
    jbe number

word:
    xor %ebx, %ebx
    xor %ecx, %ecx
1:  movzbl (%r12), %eax
    cmp $' ', %al
    je 2f
    test %al, %al
    jz 2f
    cmp $64, %ecx
    jae bad_word
    shl %cl, %rax
    or %rax, %rbx
    add $8, %ecx
    inc %r12
    jmp 1b
2:  lea words(%rip), %rsi
3:  mov (%rsi), %rax
    test %rax, %rax
    jz bad_word
    cmp %rax, %rbx
    je 4f
    add $16, %rsi
    jmp 3b
4:  jmp *8(%rsi)

number:
    xor %ebx, %ebx                  /* value */
    xor %r8d, %r8d                  /* negative? */
    mov $10, %r9d                   /* base */
    cmpb $'-', (%r12)
    jne 1f
    inc %r8d
    inc %r12
1:  cmpb $'0', (%r12)
    jne 2f
    cmpb $'x', 1(%r12)
    jne 2f
    mov $16, %r9d
    add $2, %r12
2:  movzbl (%r12), %eax
    cmp $' ', %al
    je 5f
    test %al, %al
    jz 5f
    mov %eax, %ecx
    sub $'0', %ecx
    cmp $9, %ecx
    jbe 3f
    mov %eax, %ecx
    or $0x20, %ecx                  /* lower case */
    sub $'a', %ecx
    cmp $5, %ecx
    ja bad_number
    add $10, %ecx
3:  cmp %r9d, %ecx
    jae bad_number
    imul %r9, %rbx
    add %rcx, %rbx
    inc %r12
    jmp 2b
5:  test %r8d, %r8d
    jz 6f
    neg %rbx
6:  dpush %rbx
    jmp next

bad_word:
    lea msg_bad_word(%rip), %rsi
    mov $(msg_bad_word_end - msg_bad_word), %ecx
    jmp 1f
bad_number:
    lea msg_bad_number(%rip), %rsi
    mov $(msg_bad_number_end - msg_bad_number), %ecx
1:  call puts_rsi_rcx
    mov %r12, %rax
    sub %r13, %rax
    call print_hex_nl
    mov $99, %eax
    jmp do_halt_rax

end_of_program:
    xor %eax, %eax
    jmp do_halt_rax

/* HALT with status %eax, cookie 0. */
do_halt_rax:
    xor %ecx, %ecx
do_halt_rcx_rax:
    hypercall2 halt_arg, 0x508, %rcx, %eax
    jmp .                           /* never reached */

/* puts_rsi_rcx: PUTS %rcx bytes at %rsi (clobbers rax, rdx). */
puts_rsi_rcx:
    hypercall2 puts_arg, 0x502, %rsi, %rcx
    ret

/* print_hex_nl: print %rax as 0x<hex> then a newline (clobbers rax, rcx, rdx, rsi, rdi). */
print_hex_nl:
    lea hexbuf_end(%rip), %rdi
    movb $'\n', -1(%rdi)
    lea -1(%rdi), %rsi
1:  mov %eax, %ecx
    and $15, %ecx
    movzbl hexdigits(%rcx), %ecx
    dec %rsi
    mov %cl, (%rsi)
    shr $4, %rax
    jnz 1b
    movb $'x', -1(%rsi)
    movb $'0', -2(%rsi)
    sub $2, %rsi
    mov %rdi, %rcx
    sub %rsi, %rcx
    jmp puts_rsi_rcx

/* ---- words ---- */
w_halt:
    dpop %rax
    jmp do_halt_rax
w_haltc:
    dpop %rax
    dpop %rcx
    jmp do_halt_rcx_rax
w_ok:
    puts_msg msg_success
    xor %eax, %eax
    jmp do_halt_rax
w_hc:
    dpop %rdx
    add $0x500, %edx
    lea argblk(%rip), %rdi
    mov $4, %ecx
1:  dpop %rax
    mov %rax, (%rdi,%rcx,8)
    dec %ecx
    jns 1b
    mov %edi, %eax
    outl %eax, (%dx)
    jmp next
word_argfield w_ret, movslq
word_argfield w_arg, mov
w_argblk:
    lea argblk(%rip), %rax
    dpush %rax
    jmp next
w_puts:
    dpop %rcx
    dpop %rsi
    call puts_rsi_rcx
    jmp next
w_print:
    dpop %rax
    call print_hex_nl
    jmp next
w_expect:
    dpop %rbx                       /* want */
    dpop %rbp                       /* got */
    cmp %rbx, %rbp
    je next
    puts_msg msg_expect
    mov %rbp, %rax
    call print_hex_nl
    puts_msg msg_want
    mov %rbx, %rax
    call print_hex_nl
    puts_msg msg_at
    mov %r12, %rax
    sub %r13, %rax
    call print_hex_nl
    mov $1, %eax
    jmp do_halt_rax
w_outl:
    dpop %rdx
    dpop %rax
    outl %eax, (%dx)
    jmp next
w_outw:
    dpop %rdx
    xor %eax, %eax
    outw %ax, (%dx)
    jmp next
w_outb:
    dpop %rdx
    xor %eax, %eax
    outb %al, (%dx)
    jmp next
w_inl:
    dpop %rdx
    inl (%dx), %eax
    dpush %rax
    jmp next
w_rd:
    dpop %rax
    .globl probe_rd_load
probe_rd_load:
    mov (%rax), %rax
    dpush %rax
    jmp next
word_unary w_rdd, mov (%rax), %eax
word_unary w_rdb, movzbl (%rax), %eax
w_wr:
    dpop %rdi
    dpop %rax
    .globl probe_wr_store
probe_wr_store:
    mov %rax, (%rdi)
    jmp next
word_store w_wrd, mov %eax, (%rdi)
word_store w_wrb, mov %al, (%rdi)
w_wait32:
    dpop %rax
    dpop %rdi
    mov $0x200000, %ecx              /* ~10 s at ~5 us per emulated iteration */
1:  cmp %eax, (%rdi)
    je next
    pause
    dec %ecx
    jnz 1b
    puts_msg msg_wait
    mov $98, %eax
    jmp do_halt_rax
w_fill:
    dpop %rax
    dpop %rcx
    dpop %rdi
    rep stosb
    jmp next
w_memeq:
    dpop %rcx
    dpop %rdi
    dpop %rsi
    xor %eax, %eax
    repe cmpsb
    sete %al
    dpush %rax
    jmp next
word_binary w_add, add
word_binary w_sub, sub
word_binary w_and, and
w_mod:
    dpop %rcx
    dpop %rax
    xor %edx, %edx
    div %rcx
    dpush %rdx
    jmp next
w_dup:
    mov -8(%r15), %rax
    dpush %rax
    jmp next
w_drop:
    sub $8, %r15
    jmp next
w_swap:
    mov -8(%r15), %rax
    mov -16(%r15), %rcx
    mov %rax, -16(%r15)
    mov %rcx, -8(%r15)
    jmp next
w_nz:
    dpop %rcx
    xor %eax, %eax
    test %rcx, %rcx
    setnz %al
    dpush %rax
    jmp next
word_value w_buf, mov $BUF, %eax
word_value w_mem, mov (%r14), %rax
word_value w_rdi, mov init_rdi(%rip), %rax
word_value w_rsp, mov init_rsp(%rip), %rax
word_value w_rflags, mov init_rflags(%rip), %rax
word_value w_gprs, mov init_gprs(%rip), %rax
word_value w_cr0, mov %cr0, %rax
word_value w_cr3, mov %cr3, %rax
word_value w_cr4, mov %cr4, %rax
w_efer:
    mov $0xc0000080, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    dpush %rax
    jmp next
w_cs:
    xor %eax, %eax
    mov %cs, %ax
    dpush %rax
    jmp next
w_ss:
    xor %eax, %eax
    mov %ss, %ax
    dpush %rax
    jmp next
w_spin:
    .globl probe_spin
probe_spin:
    jmp probe_spin
w_ud2:
    .globl probe_ud2
probe_ud2:
    ud2
w_sse:
    .globl probe_sse
probe_sse:
    xorps %xmm0, %xmm0
    jmp next
w_hlt:
    .globl probe_hlt
probe_hlt:
    hlt
    jmp probe_hlt
/*
 * mmio: the tender maps exactly its memory allocation, so to reach a GPA
 * with no memory behind it we build our own tables in BUF+0x10000..0x13FFF:
 * identity 2 MiB pages over guest memory, plus one 2 MiB page at the target.
 */
w_mmio:
    dpop %rbx
    mov $(BUF + 0x10000), %edi
    mov $(4 * 4096 / 8), %ecx
    xor %eax, %eax
    rep stosq
    movq $(BUF + 0x11003), BUF + 0x10000        /* PML4[0] -> PDPT */
    movq $(BUF + 0x12003), BUF + 0x11000        /* PDPT[0] -> PD0 */
    mov (%r14), %rcx
    shr $21, %rcx                               /* 2 MiB pages of guest memory (< 1 GiB) */
    mov $0x83, %eax
    mov $(BUF + 0x12000), %edi
1:  mov %rax, (%rdi)
    add $0x200000, %rax
    add $8, %rdi
    dec %rcx
    jnz 1b
    mov %rbx, %rax
    shr $30, %rax
    and $511, %eax
    mov $(BUF + 0x12000), %edi                  /* target in the first GiB: PD0 */
    jz 2f
    movq $(BUF + 0x13003), BUF + 0x11000(,%rax,8) /* else PDPT[target] -> PD1 */
    mov $(BUF + 0x13000), %edi
2:  mov %rbx, %rax
    shr $21, %rax
    and $511, %eax
    mov %rbx, %rcx
    and $~0x1fffff, %rcx
    or $0x83, %rcx
    mov %rcx, (%rdi,%rax,8)
    mov $(BUF + 0x10000), %eax
    mov %rax, %cr3
    .globl probe_mmio_store
probe_mmio_store:
    movq $0x5a5a, (%rbx)
    jmp next

w_begin:
    mov rsp_ptr(%rip), %rax
    mov %r12, (%rax)
    add $8, %rax
    mov %rax, rsp_ptr(%rip)
    jmp next
w_again:
    dpop %rcx
    mov rsp_ptr(%rip), %rax
    test %rcx, %rcx
    jz 1f
    mov -8(%rax), %r12
    jmp next
1:  sub $8, %rax
    mov %rax, rsp_ptr(%rip)
    jmp next
w_over:
    mov -16(%r15), %rax
    dpush %rax
    jmp next
/* rfill ( q0 q1 q2 n -- ) */
w_rfill:
    dpop %rcx
    dpop %rdx
    dpop %rsi
    dpop %rax
    mov (%r14), %rdi
    add $128, %rdi
1:  test %rcx, %rcx
    jz next
    mov %rax, (%rdi)
    mov %rsi, 8(%rdi)
    mov %rdx, 16(%rdi)
    movq $0, 24(%rdi)
    add $32, %rdi
    dec %rcx
    jmp 1b
/* rflood ( off a b n -- ) */
w_rflood:
    dpop %rcx                       /* rounds (0: forever) */
    dpop %r9                        /* b */
    dpop %r8                        /* a */
    dpop %r10                       /* offset in the entry */
    mov (%r14), %rdi                /* the ring */
    xor %ebx, %ebx                  /* round */
1:  inc %rbx
    mov 64(%rdi), %eax              /* ent_head as the guest sees it */
    lea 1024(%rax), %edx
    mov %edx, (%rdi)                /* ent_tail: 1024 pending */
    push %rdx
    mov $0x600, %dx
    outl %eax, (%dx)                /* kick */
    pop %rdx
    mov %r8, %r11
    test $1, %ebx
    jnz 2f
    mov %r9, %r11
2:  mov $8, %esi
3:  mov %eax, %edx
    and $1023, %edx
    shl $5, %edx
    add %rdi, %rdx
    mov %r11, 128(%rdx,%r10)
    inc %eax
    dec %esi
    jnz 3b
    test %rcx, %rcx
    jz 1b                           /* forever */
    dec %rcx
    jnz 1b
    jmp next

    .section .rodata
.macro defword name, handler
1:  .ascii "\name"
    .fill 8 - (. - 1b), 1, 0
    .quad \handler
.endm
    .p2align 3
words:
    defword halt, w_halt
    defword haltc, w_haltc
    defword ok, w_ok
    defword hc, w_hc
    defword ret, w_ret
    defword arg, w_arg
    defword argblk, w_argblk
    defword puts, w_puts
    defword print, w_print
    defword expect, w_expect
    defword outl, w_outl
    defword outw, w_outw
    defword outb, w_outb
    defword inl, w_inl
    defword rd, w_rd
    defword rdd, w_rdd
    defword rdb, w_rdb
    defword wr, w_wr
    defword wrd, w_wrd
    defword wrb, w_wrb
    defword wait32, w_wait32
    defword fill, w_fill
    defword memeq, w_memeq
    defword add, w_add
    defword sub, w_sub
    defword and, w_and
    defword mod, w_mod
    defword dup, w_dup
    defword drop, w_drop
    defword swap, w_swap
    defword nz, w_nz
    defword buf, w_buf
    defword mem, w_mem
    defword rdi, w_rdi
    defword rsp, w_rsp
    defword rflags, w_rflags
    defword gprs, w_gprs
    defword cr0, w_cr0
    defword cr3, w_cr3
    defword cr4, w_cr4
    defword efer, w_efer
    defword cs, w_cs
    defword ss, w_ss
    defword spin, w_spin
    defword ud2, w_ud2
    defword hlt, w_hlt
    defword sse, w_sse
    defword mmio, w_mmio
    defword begin, w_begin
    defword again, w_again
    defword over, w_over
    defword rfill, w_rfill
    defword rflood, w_rflood
    .quad 0, 0

hexdigits: .ascii "0123456789abcdef"
msg_success: .ascii "SUCCESS\n"
msg_success_end:
msg_bad_word: .ascii "probe: unknown word at "
msg_bad_word_end:
msg_bad_number: .ascii "probe: malformed number at "
msg_bad_number_end:
msg_expect: .ascii "expect failed: got "
msg_expect_end:
msg_want: .ascii "want "
msg_want_end:
msg_at: .ascii "at "
msg_at_end:
msg_wait: .ascii "probe: wait32 timed out\n"
msg_wait_end:

    .data
    .p2align 4
puts_arg: .quad 0, 0
halt_arg: .quad 0, 0
argblk: .quad 0, 0, 0, 0, 0, 0, 0, 0
init_rsp: .quad 0
init_rdi: .quad 0
init_rflags: .quad 0
init_gprs: .quad 0
hexbuf: .fill 24, 1, 0
hexbuf_end:
rsp_ptr: .quad rstack

    .bss
    .p2align 4
dstack: .space 8 * 256
rstack: .space 8 * 16
