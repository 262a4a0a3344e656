/* Compression: LZ77 with hash chains (LZSS token format), then decompress
 * and verify. run(n) compresses n KiB of generated English-like text.
 * Returns FNV-1a of the compressed stream mixed with its length, or -1 if
 * the round trip fails. */
#include "common.h"

#define MAX_IN (1u << 20)
#define WINDOW (1u << 15)
#define HASH_BITS 15
#define MIN_MATCH 3
#define MAX_MATCH 258
#define MAX_CHAIN 32

static u8 input[MAX_IN];
static u8 packed[MAX_IN + MAX_IN / 8 + 16];
static u8 unpacked[MAX_IN];
static i32 head[1u << HASH_BITS];
static i32 prev[WINDOW];

static const char *const words[] = {
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "sandbox",
    "plugin", "runtime", "module", "memory", "table", "function", "export",
    "deadline", "epoch", "compile", "cache", "instance", "pool", "guest",
    "host", "trap", "fuel", "limit", "wasm", "engine", "store", "call",
    "return", "value", "stack", "and", "of", "to", "in", "is", "it", "a",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static u32 gen_text(u32 len) {
    u32 i = 0;
    while (i < len) {
        const char *w = words[rng_next() % NWORDS];
        while (*w && i < len) input[i++] = (u8)*w++;
        if (i < len) {
            u64 r = rng_next() % 16;
            input[i++] = r == 0 ? '.' : r == 1 ? ',' : r == 2 ? '\n' : ' ';
        }
    }
    return len;
}

static inline u32 hash3(const u8 *p) {
    u32 v = (u32)p[0] << 16 | (u32)p[1] << 8 | p[2];
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Groups of 8 tokens behind a flag byte; a literal is 1 byte, a match is
 * 3 bytes: 15-bit distance-1 and 8-bit length-MIN_MATCH... with the top
 * bit of the distance word unused. */
static u32 compress(u32 n) {
    for (u32 i = 0; i < (1u << HASH_BITS); i++) head[i] = -1;
    u32 out = 0, pos = 0;
    while (pos < n) {
        u32 flag_at = out++;
        u8 flags = 0;
        for (int bit = 0; bit < 8 && pos < n; bit++) {
            u32 best_len = 0, best_dist = 0;
            if (pos + MIN_MATCH <= n) {
                u32 h = hash3(input + pos);
                i32 cand = head[h];
                int chain = MAX_CHAIN;
                u32 limit = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
                while (cand >= 0 && pos - (u32)cand <= WINDOW && chain-- > 0) {
                    const u8 *a = input + cand, *b = input + pos;
                    if (a[best_len] == b[best_len]) {
                        u32 l = 0;
                        while (l < limit && a[l] == b[l]) l++;
                        if (l > best_len) {
                            best_len = l;
                            best_dist = pos - (u32)cand;
                            if (l == limit) break;
                        }
                    }
                    cand = prev[cand & (WINDOW - 1)];
                }
            }
            u32 advance = best_len >= MIN_MATCH ? best_len : 1;
            if (best_len >= MIN_MATCH) {
                flags |= (u8)(1u << bit);
                u32 d = best_dist - 1;
                packed[out++] = (u8)(d >> 8);
                packed[out++] = (u8)d;
                packed[out++] = (u8)(best_len - MIN_MATCH);
            } else {
                packed[out++] = input[pos];
            }
            for (u32 k = 0; k < advance; k++, pos++) {
                if (pos + MIN_MATCH <= n) {
                    u32 h = hash3(input + pos);
                    prev[pos & (WINDOW - 1)] = head[h];
                    head[h] = (i32)pos;
                }
            }
        }
        packed[flag_at] = flags;
    }
    return out;
}

static u32 decompress(u32 len) {
    u32 in = 0, out = 0;
    while (in < len) {
        u8 flags = packed[in++];
        for (int bit = 0; bit < 8 && in < len; bit++) {
            if (flags & (1u << bit)) {
                u32 d = ((u32)packed[in] << 8 | packed[in + 1]) + 1;
                u32 l = (u32)packed[in + 2] + MIN_MATCH;
                in += 3;
                for (u32 k = 0; k < l; k++, out++) unpacked[out] = unpacked[out - d];
            } else {
                unpacked[out++] = packed[in++];
            }
        }
    }
    return out;
}

EXPORT("run") i64 run(i32 n) {
    u32 len = (u32)n * 1024u;
    if (len == 0 || len > MAX_IN) return -2;
    rng_seed(0x1234567u + (u32)n);
    gen_text(len);
    u32 clen = compress(len);
    u32 dlen = decompress(clen);
    if (dlen != len) return -1;
    for (u32 i = 0; i < len; i++)
        if (unpacked[i] != input[i]) return -1;
    return (i64)(fnv1a(FNV_OFFSET, packed, clen) ^ ((u64)clen << 32));
}
