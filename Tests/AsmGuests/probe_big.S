/*
 * probe_big.S: probe.S (no devices) plus 3 MiB of initialised data, so the
 * image itself needs more guest memory than small --mem values give it.
 *
 * The data segment is file-backed (a `.fill`, not .bss: the hvt loader skips
 * p_filesz 0 segments, spec §15.2), runs from about 0x103000 to past
 * 0x400000 and is filled with 0xa5 up to the symbol `big_end`. So --mem=2
 * and --mem=4 are refused by the loader, --mem=6 runs. The scratch buffer
 * `buf` (0x200000) lies inside the blob: tests of this variant do not use it.
 */
#include "probe.S"

    .data
    .p2align 12
    .globl big_start
big_start:
    .fill 3 << 20, 1, 0xa5
    .globl big_end
big_end:
