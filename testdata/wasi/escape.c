/* escape: tries to reach files outside the preopened directory "/data".
 *
 * For each attempt prints, to stdout, one of
 *     DENIED <what> (<strerror>)
 *     OPENED <what>
 * and exits with the number of OPENED lines: 0 means every escape was
 * blocked. <what> is the bare path for open(path, O_RDONLY), and
 * "opendir(<path>)" or "stat(<path>)" for the other probes.
 *
 * The test harness creates, inside the host directory preopened as /data,
 * a symlink link_out -> a directory outside the preopen (holding
 * secret.txt) and a symlink link_file -> a file outside it.
 *
 * With arguments, only open(argv[i]) is tried for each argument instead of
 * the built-in list (handy to check that a legitimate path does open). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int opened; /* number of probes that succeeded */

static void report(const char *what, int ok, int err) {
    if (ok) {
        opened++;
        printf("OPENED %s\n", what);
    } else {
        printf("DENIED %s (%s)\n", what, strerror(err));
    }
}

static void try_open(const char *path) {
    int fd = open(path, O_RDONLY);
    int err = errno;
    report(path, fd >= 0, err);
    if (fd >= 0)
        close(fd);
}

static void try_opendir(const char *path) {
    char what[512];
    DIR *d = opendir(path);
    int err = errno;
    snprintf(what, sizeof what, "opendir(%s)", path);
    report(what, d != NULL, err);
    if (d != NULL)
        closedir(d);
}

static void try_stat(const char *path) {
    char what[512];
    struct stat st;
    int rc = stat(path, &st); /* follows symlinks, unlike lstat */
    int err = errno;
    snprintf(what, sizeof what, "stat(%s)", path);
    report(what, rc == 0, err);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            try_open(argv[i]);
    } else {
        static const char *const paths[] = {
            "/data/../secret.txt",       /* ".." out of the preopen */
            "../secret.txt",             /* relative, above the cwd */
            "/etc/passwd",               /* absolute, not preopened */
            "/secret.txt",               /* the root itself */
            "/data/link_out/secret.txt", /* through a directory symlink */
            "/data/link_file",           /* a symlink to an outside file */
        };
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            try_open(paths[i]);

        try_opendir("/data/..");
        try_opendir("/data/link_out");
        try_opendir("/");
        try_stat("/data/../secret.txt");
        try_stat("/data/link_out/secret.txt");
        try_stat("/data/link_file");
        try_stat("/etc/passwd");
    }
    fflush(stdout);
    return opened > 125 ? 125 : opened;
}
