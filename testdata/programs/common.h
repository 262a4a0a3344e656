/* Shared by the benchmark programs: freestanding, no libc, no imports.
 * Each program exports run(n) and returns a checksum, so that every runtime
 * can be checked to compute the same thing. */
#ifndef SBX_PROGRAMS_COMMON_H
#define SBX_PROGRAMS_COMMON_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed int i32;
typedef signed long long i64;
typedef unsigned long usize;

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name), visibility("default")))
#else /* a native build, to cross-check checksums (see build.sh --check) */
#define EXPORT(name)
#endif

/* clang lowers struct copies and zeroing loops to these calls. */
#ifdef __wasm__
void *memcpy(void *restrict dst, const void *restrict src, usize n) {
    u8 *d = dst;
    const u8 *s = src;
    while (n--) *d++ = *s++;
    return dst;
}
void *memmove(void *dst, const void *src, usize n) {
    u8 *d = dst;
    const u8 *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        d += n;
        s += n;
        while (n--) *--d = *--s;
    }
    return dst;
}
void *memset(void *dst, int c, usize n) {
    u8 *d = dst;
    while (n--) *d++ = (u8)c;
    return dst;
}
#else
#include <string.h>
#endif

/* xorshift64*: the same stream on every runtime. */
static u64 rng_state;
static inline void rng_seed(u64 seed) { rng_state = seed ? seed : 0x9E3779B97F4A7C15ull; }
static inline u64 rng_next(void) {
    u64 x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* FNV-1a, 64-bit, to fold results into a checksum. */
static inline u64 fnv1a(u64 h, const u8 *p, usize n) {
    for (usize i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_OFFSET 0xcbf29ce484222325ull

/* A bump allocator over a static arena, reset by each run. */
static inline usize align_up(usize v, usize a) { return (v + a - 1) & ~(a - 1); }

#endif
