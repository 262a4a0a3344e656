/* hello: the smallest WASI command. Writes one line to stdout and one to
 * stderr, then exits 0, so that tests can check that both streams are
 * captured (or discarded) separately. */
#include <stdio.h>

int main(void) {
    fputs("hello from wasi\n", stdout);
    fputs("warning: to stderr\n", stderr);
    return 0;
}
