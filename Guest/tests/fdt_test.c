/*
 * fdt_test.c: host test of Guest/drivers/fdt/fdt.c, the virt platform's DTB
 * reader. Built for the host together with fdt.c (the parser is portable C)
 * by Tests/e2e/test_aarch64.py.
 *
 *   fdt_test FILE.dtb          print what the runtime would use, one key=value a line
 *   fdt_test --mutate FILE.dtb  parse truncated and bit-flipped copies (for ASan/UBSan): exit 0 if no crash
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fdt.h"

static void *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(*len + 8);
    if (fread(p, 1, *len, f) != *len) { perror("read"); exit(2); }
    fclose(f);
    return p;
}

static struct skiff_board board;

static uint32_t get_be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

int main(int argc, char **argv)
{
    size_t len;
    if (argc == 3 && strcmp(argv[1], "--mutate") == 0) {
        unsigned char *orig = load(argv[2], &len);
        /* Only the used part (QEMU pads its DTB to 1 MiB): header, blocks. */
        if (len >= 40) {
            uint32_t used = get_be32(orig + 8) + get_be32(orig + 36);     /* structure block end */
            uint32_t strings_end = get_be32(orig + 12) + get_be32(orig + 32);
            if (strings_end > used) used = strings_end;
            if (used < len) {
                len = used;
                put_be32(orig + 4, (uint32_t)len);
            }
        }
        unsigned char *copy = malloc(len);
        unsigned long parsed = 0, refused = 0;
        /*
         * The parser may read [fdt, fdt + totalsize): the header is all a
         * guest knows of the blob. So each copy is exactly totalsize bytes
         * (ASan sees any read past it): truncations say so in the header,
         * and corruptions that claim more than the file are capped.
         */
        for (size_t n = 0; n < len; n += 1 + n / 16) {
            unsigned char *t = malloc(n ? n : 1);
            memcpy(t, orig, n);
            if (n >= 8)
                put_be32(t + 4, (uint32_t)n);
            memset(&board, 0, sizeof board);
            if (n >= 40 && skiff_fdt_parse(t, &board) == 0) parsed++; else refused++;
            free(t);
        }
        /* Single-byte corruptions of the header, structure and strings. */
        for (size_t i = 0; i < len; i += 7) {
            for (int v = 0; v < 4; v++) {
                memcpy(copy, orig, len);
                copy[i] ^= (unsigned char)(v == 0 ? 0x80 : v == 1 ? 0x01 : v == 2 ? 0xff : 0x10);
                if (get_be32(copy + 4) > len)
                    put_be32(copy + 4, (uint32_t)len);
                memset(&board, 0, sizeof board);
                if (skiff_fdt_parse(copy, &board) == 0) parsed++; else refused++;
            }
        }
        printf("mutations: %lu parsed, %lu refused\n", parsed, refused);
        free(copy);
        free(orig);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: fdt_test [--mutate] FILE.dtb\n");
        return 2;
    }
    void *dtb = load(argv[1], &len);
    if (skiff_fdt_parse(dtb, &board) != 0) {
        printf("error=%s\n", board.error);
        free(dtb);
        return 1;
    }
    printf("ram=0x%llx+0x%llx\n", (unsigned long long)board.ram_base, (unsigned long long)board.ram_size);
    printf("uart=0x%llx\nrtc=0x%llx\n", (unsigned long long)board.uart, (unsigned long long)board.rtc);
    printf("gic=%d\ngicd=0x%llx+0x%llx\n", board.gic_version, (unsigned long long)board.gicd,
           (unsigned long long)board.gicd_size);
    if (board.gic_version == 2)
        printf("gicc=0x%llx+0x%llx\n", (unsigned long long)board.gicc, (unsigned long long)board.gicc_size);
    else
        printf("gicr=0x%llx+0x%llx\n", (unsigned long long)board.gicr, (unsigned long long)board.gicr_size);
    printf("timer_intid=%u\n", board.timer_intid);
    printf("psci=%s\npsci_v02=%d\n", board.psci == PSCI_HVC ? "hvc" : board.psci == PSCI_SMC ? "smc" : "none",
           board.psci_v02);
    printf("virtio=%u\n", board.nvirtio);
    for (unsigned i = 0; i < board.nvirtio; i++)
        printf("virtio%u=0x%llx+0x%llx intid=%u edge=%u\n", i, (unsigned long long)board.virtio[i].base,
               (unsigned long long)board.virtio[i].size, board.virtio[i].intid, board.virtio[i].edge);
    printf("bootargs=%s\nhave_bootargs=%d\nseed_len=%zu\n", board.bootargs, board.have_bootargs, board.seed_len);
    free(dtb);
    return 0;
}
