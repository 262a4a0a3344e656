/* Sorting: n pseudo-random 32-bit keys, sorted by an introsort-style
 * quicksort (median of three, insertion sort below 16), and n 64-bit records
 * by a bottom-up merge sort. Returns a checksum of both outputs, or -1 if
 * either is out of order. */
#include "common.h"

#define MAX_N (1u << 20)
static u32 keys[MAX_N];
static u64 recs[MAX_N];
static u64 tmp[MAX_N];

static void insertion(u32 *a, i32 lo, i32 hi) {
    for (i32 i = lo + 1; i <= hi; i++) {
        u32 v = a[i];
        i32 j = i - 1;
        while (j >= lo && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static inline void swap(u32 *a, i32 i, i32 j) {
    u32 t = a[i];
    a[i] = a[j];
    a[j] = t;
}

static void quicksort(u32 *a, i32 lo, i32 hi) {
    while (hi - lo > 16) {
        i32 mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo]) swap(a, mid, lo);
        if (a[hi] < a[lo]) swap(a, hi, lo);
        if (a[hi] < a[mid]) swap(a, hi, mid);
        u32 pivot = a[mid];
        i32 i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) swap(a, i++, j--);
        }
        /* Recurse into the smaller side, loop on the larger. */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
    insertion(a, lo, hi);
}

static void mergesort(u64 *a, u64 *t, u32 n) {
    u64 *src = a, *dst = t;
    for (u32 width = 1; width < n; width *= 2) {
        for (u32 lo = 0; lo < n; lo += 2 * width) {
            u32 mid = lo + width < n ? lo + width : n;
            u32 hi = lo + 2 * width < n ? lo + 2 * width : n;
            u32 i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = (src[j] >> 32) < (src[i] >> 32) ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        u64 *s = src;
        src = dst;
        dst = s;
    }
    if (src != a)
        for (u32 i = 0; i < n; i++) a[i] = src[i];
}

EXPORT("run") i64 run(i32 n) {
    if (n <= 0 || (u32)n > MAX_N) return -2;
    u32 count = (u32)n;
    rng_seed(7 + count);
    for (u32 i = 0; i < count; i++) {
        u64 r = rng_next();
        keys[i] = (u32)r;
        /* key in the high half (few distinct values: stability matters),
         * original index in the low half */
        recs[i] = ((r >> 40) % 1000) << 32 | i;
    }
    quicksort(keys, 0, (i32)count - 1);
    mergesort(recs, tmp, count);
    u64 h = FNV_OFFSET;
    for (u32 i = 1; i < count; i++) {
        if (keys[i - 1] > keys[i]) return -1;
        u64 a = recs[i - 1], b = recs[i];
        if ((a >> 32) > (b >> 32) || ((a >> 32) == (b >> 32) && (u32)a > (u32)b)) return -1;
    }
    for (u32 i = 0; i < count; i += 97) {
        h = fnv1a(h, (const u8 *)&keys[i], 4);
        h = fnv1a(h, (const u8 *)&recs[i], 8);
    }
    return (i64)h;
}
