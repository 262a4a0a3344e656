/* A minimal embedder of sbx, built only through its packaging files
 * (pkg-config's sbx.pc, or CMake's find_package(sbx)): loads add.wasm and
 * calls add(2, 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbx.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s add.wasm\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  static unsigned char wasm[1 << 16];
  size_t len = fread(wasm, 1, sizeof wasm, f);
  fclose(f);

  sbx_host *host = NULL;
  sbx_module *module = NULL;
  sbx_error *err = NULL;
  sbx_status st = sbx_host_new(NULL, &host, &err);
  if (st == SBX_STATUS_OK)
    st = sbx_load_module(host, "add", 3, wasm, len, 0, NULL,
                         &module, &err);
  uint64_t params[2] = {2, 3}, result = 0;
  size_t n = 0;
  if (st == SBX_STATUS_OK)
    st = sbx_call_with_timeout(module, "add", 3, params, 2,
                               &result, 1, &n, 0, NULL, &err);
  int rc = 0;
  if (st != SBX_STATUS_OK) {
    fprintf(stderr, "%s: %s\n", sbx_status_name(st),
            err ? sbx_error_message(err) : "");
    rc = 1;
  } else if (n != 1 || result != 5) {
    fprintf(stderr, "add(2, 3) = %llu (n=%zu)\n", (unsigned long long)result,
            n);
    rc = 1;
  } else {
    printf("sbx %s: add(2, 3) = %llu\n", sbx_version(),
           (unsigned long long)result);
  }
  sbx_error_free(err);
  sbx_module_free(module);
  sbx_close(host);
  return rc;
}
