/* write_ro: tries to create and write "/data/out.txt" (argv[1] overrides
 * the path), to test that a read-only preopen refuses writes.
 *   refused:   prints "DENIED <path> (<strerror>)", exits 0
 *   succeeded: prints "WROTE <path>",               exits 1
 * Tests should also check on the host that no file was created. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int denied(const char *path, int err) {
    printf("DENIED %s (%s)\n", path, strerror(err));
    return 0;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/data/out.txt";
    static const char msg[] = "written by write_ro\n";

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return denied(path, errno);
    ssize_t n = write(fd, msg, sizeof msg - 1);
    if (n < 0) {
        int err = errno;
        close(fd);
        return denied(path, err);
    }
    close(fd);
    printf("WROTE %s\n", path);
    return 1;
}
