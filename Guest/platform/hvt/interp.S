/*
 * interp.S: a PT_INTERP that keeps the host from running a .hvt file as a
 * program (Solo5 does the same); skiff.ld gives it its own program header.
 */
        .section .interp, "a", %progbits
        .asciz  "/nonexistent/skiff/"

        .section .note.GNU-stack, "", %progbits
