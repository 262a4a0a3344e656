/* cat: copies the file named by argv[1] (default "/data/input.txt") to
 * stdout. Used to test read access through a preopened directory.
 * On any failure prints "cat: <path>: <strerror>" to stderr and exits 1. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *path, int err) {
    fprintf(stderr, "cat: %s: %s\n", path, strerror(err));
    return 1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/data/input.txt";
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(path, errno);

    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (fwrite(buf, 1, n, stdout) != n)
            return fail("<stdout>", errno);
    }
    if (ferror(f))
        return fail(path, errno);
    fclose(f);
    if (fflush(stdout) != 0)
        return fail("<stdout>", errno);
    return 0;
}
