/* Memory traffic. The host writes into and reads from a 1 MiB buffer in the
 * guest's exported memory (buf() is its address, BUF_LEN its size);
 * sum(len) folds the first len bytes so the host can check what it wrote.
 * run(n) copies 1 MiB between two buffers n times with a word-at-a-time loop
 * and returns a checksum of the destination. */
#include "common.h"

#define BUF_LEN (1u << 20)
static u64 a[BUF_LEN / 8];
static u64 b[BUF_LEN / 8];
static u8 io[BUF_LEN];

EXPORT("buf") i32 buf(void) { return (i32)(usize)io; }

EXPORT("sum") i64 sum(i32 len) {
    if (len < 0 || (u32)len > BUF_LEN) return -1;
    return (i64)fnv1a(FNV_OFFSET, io, (usize)len);
}

EXPORT("run") i64 run(i32 n) {
    rng_seed(5);
    for (u32 i = 0; i < BUF_LEN / 8; i++) a[i] = rng_next();
    u64 *src = a, *dst = b;
    for (i32 r = 0; r < n; r++) {
        for (u32 i = 0; i < BUF_LEN / 8; i++) dst[i] = src[i] + (u64)r;
        u64 *t = src;
        src = dst;
        dst = t;
    }
    u64 h = FNV_OFFSET;
    for (u32 i = 0; i < BUF_LEN / 8; i += 61) h = (h ^ src[i]) * 0x100000001b3ull;
    return (i64)h;
}
