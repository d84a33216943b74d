// CLibFuzzer.h: libFuzzer's driver entry point (compiler-rt's FuzzerInterface.h), linked in by -sanitize=fuzzer.
#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer with the command line `*argc`/`*argv` and the test function `callback`: what libFuzzer's own `main` does.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
