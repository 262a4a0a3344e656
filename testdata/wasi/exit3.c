/* exit3: prints a line and exits with status 3 through exit(), i.e. WASI
 * proc_exit(3), to test that exit codes reach the host. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("exiting with 3\n");
    exit(3); /* flushes stdout first */
}
