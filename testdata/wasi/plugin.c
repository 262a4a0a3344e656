/* plugin: the README's plugin example, a WASI *reactor* (built with
 * -mexec-model=reactor: it has no main and exports _initialize, which the
 * host calls once before anything else).
 *
 * The host writes input bytes into the buffer whose address input_buffer()
 * returns, then calls greet(len). greet prints "hello, <input>!\n" to stdout
 * and passes the input to the host function host.shout, which reads len
 * bytes at ptr from guest memory (e.g. logs them uppercased) and returns a
 * number; greet returns that number + 1. */
#include <stdint.h>
#include <stdio.h>

#define INPUT_CAP 4096

__attribute__((import_module("host"), import_name("shout")))
int32_t host_shout(const char *ptr, int32_t len);

static char input[INPUT_CAP];

/* Address, in this module's memory, of the INPUT_CAP-byte input buffer. */
__attribute__((export_name("input_buffer")))
int32_t input_buffer(void) {
    return (int32_t)(uintptr_t)input;
}

__attribute__((export_name("greet")))
int32_t greet(int32_t len) {
    if (len < 0)
        len = 0;
    if (len > INPUT_CAP)
        len = INPUT_CAP;
    printf("hello, %.*s!\n", (int)len, input);
    fflush(stdout);
    return host_shout(input, len) + 1;
}
