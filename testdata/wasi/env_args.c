/* env_args: prints each argument as "arg[i]=<value>" (argv[0] included)
 * and each environment variable as "env K=V", then exits 0. With nothing
 * configured (deny by default) it prints at most the argv[0] line. */
#include <stdio.h>

/* POSIX: the application declares environ itself. */
extern char **environ;

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        printf("arg[%d]=%s\n", i, argv[i]);
    for (char **e = environ; e != NULL && *e != NULL; e++)
        printf("env %s\n", *e);
    return 0;
}
