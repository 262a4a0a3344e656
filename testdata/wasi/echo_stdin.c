/* echo_stdin: copies stdin to stdout, then prints "\n<n> bytes\n" where n
 * is the number of bytes copied. Used to test stdin given as bytes (and
 * that stdin is empty when nothing is configured: prints "\n0 bytes\n"). */
#include <stdio.h>

int main(void) {
    char buf[4096];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        fwrite(buf, 1, n, stdout);
        total += n;
    }
    printf("\n%zu bytes\n", total);
    return 0;
}
