/* Parsing: generates a JSON document of n records, parses it into a tree
 * (bump-allocated nodes, unescaped strings, numbers as double), walks the
 * tree and writes it back out. Returns a checksum of the walk and of the
 * re-serialized text, or a negative value on a parse error. */
#include "common.h"

#define TEXT_MAX (8u << 20)
#define ARENA_MAX (32u << 20)

static char text[TEXT_MAX];
static char out[TEXT_MAX];
static u8 arena[ARENA_MAX];
static usize arena_top;

static void *alloc(usize n) {
    usize at = align_up(arena_top, 8);
    if (at + n > ARENA_MAX) return 0;
    arena_top = at + n;
    return arena + at;
}

enum kind { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct node {
    u8 kind;
    u32 len;            /* string bytes, or number of children */
    double num;
    const char *str;    /* J_STR: unescaped bytes */
    struct node *first; /* J_ARR / J_OBJ children */
    struct node *next;  /* sibling */
    const char *key;    /* member key in an object */
    u32 key_len;
} node;

/* ---- generator ---- */
static u32 tpos;
static void put(const char *s) { while (*s) text[tpos++] = *s++; }
static void put_u(u64 v) {
    char b[24];
    int i = 0;
    do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) text[tpos++] = b[--i];
}
static void put_i(i64 v) {
    if (v < 0) { text[tpos++] = '-'; v = -v; }
    put_u((u64)v);
}

static const char *const names[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"};

static void generate(u32 n) {
    tpos = 0;
    put("{\"version\":3,\"records\":[");
    for (u32 i = 0; i < n; i++) {
        if (i) text[tpos++] = ',';
        u64 r = rng_next();
        put("{\"id\":"); put_u(i);
        put(",\"name\":\""); put(names[r % 8]); put("\\\""); put_u(r >> 40); put("\\n\\u00e9\"");
        put(",\"score\":"); put_i((i64)(r % 20000) - 10000); text[tpos++] = '.'; put_u((r >> 20) % 100);
        put(",\"ratio\":"); put_u((r >> 8) % 10); put(".5e-"); put_u((r >> 12) % 4);
        put(",\"active\":"); put(r & 1 ? "true" : "false");
        put(",\"tags\":[");
        u32 ntags = (u32)(r >> 33) % 5;
        for (u32 t = 0; t < ntags; t++) {
            if (t) text[tpos++] = ',';
            text[tpos++] = '"'; put(names[(r >> (3 * t)) % 8]); text[tpos++] = '"';
        }
        put("],\"nested\":{\"x\":"); put_i((i64)(r % 1000) - 500);
        put(",\"y\":null,\"z\":[1,2,[3,4,{\"deep\":true}]]}}");
    }
    put("]}");
    text[tpos] = 0;
}

/* ---- parser ---- */
static const char *p;
static int depth;

static void ws(void) { while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++; }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static const char *parse_string(u32 *len_out) {
    if (*p != '"') return 0;
    p++;
    const char *start = p;
    usize max = 0;
    while (start[max] != '"') {
        if (!start[max]) return 0;
        if (start[max] == '\\') max++;
        max++;
    }
    char *dst = alloc(max + 1);
    if (!dst) return 0;
    u32 n = 0;
    while (*p != '"') {
        char c = *p++;
        if (c != '\\') { dst[n++] = c; continue; }
        c = *p++;
        switch (c) {
        case 'n': dst[n++] = '\n'; break;
        case 't': dst[n++] = '\t'; break;
        case 'r': dst[n++] = '\r'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case '"': case '\\': case '/': dst[n++] = c; break;
        case 'u': {
            u32 cp = 0;
            for (int k = 0; k < 4; k++) {
                int h = hexval(*p++);
                if (h < 0) return 0;
                cp = cp << 4 | (u32)h;
            }
            if (cp < 0x80) dst[n++] = (char)cp;
            else if (cp < 0x800) { dst[n++] = (char)(0xC0 | cp >> 6); dst[n++] = (char)(0x80 | (cp & 63)); }
            else { dst[n++] = (char)(0xE0 | cp >> 12); dst[n++] = (char)(0x80 | ((cp >> 6) & 63)); dst[n++] = (char)(0x80 | (cp & 63)); }
            break;
        }
        default: return 0;
        }
    }
    p++;
    *len_out = n;
    return dst;
}

static int parse_number(double *out_num) {
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    if (*p < '0' || *p > '9') return 0;
    double v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (*p >= '0' && *p <= '9') { v += (*p++ - '0') * scale; scale *= 0.1; }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        int eneg = 0, e = 0;
        if (*p == '-' || *p == '+') eneg = *p++ == '-';
        while (*p >= '0' && *p <= '9') e = e * 10 + (*p++ - '0');
        while (e--) v = eneg ? v / 10 : v * 10;
    }
    *out_num = neg ? -v : v;
    return 1;
}

static node *parse_value(void) {
    ws();
    node *nd = alloc(sizeof(node));
    if (!nd) return 0;
    memset(nd, 0, sizeof *nd);
    switch (*p) {
    case '{': case '[': {
        char close = *p == '{' ? '}' : ']';
        nd->kind = *p == '{' ? J_OBJ : J_ARR;
        if (++depth > 64) return 0;
        p++;
        ws();
        node **tail = &nd->first;
        if (*p == close) { p++; depth--; return nd; }
        for (;;) {
            const char *key = 0;
            u32 klen = 0;
            if (nd->kind == J_OBJ) {
                ws();
                key = parse_string(&klen);
                if (!key) return 0;
                ws();
                if (*p++ != ':') return 0;
            }
            node *child = parse_value();
            if (!child) return 0;
            child->key = key;
            child->key_len = klen;
            *tail = child;
            tail = &child->next;
            nd->len++;
            ws();
            if (*p == ',') { p++; continue; }
            if (*p == close) { p++; break; }
            return 0;
        }
        depth--;
        return nd;
    }
    case '"':
        nd->kind = J_STR;
        nd->str = parse_string(&nd->len);
        return nd->str ? nd : 0;
    case 't': if (p[1] == 'r' && p[2] == 'u' && p[3] == 'e') { p += 4; nd->kind = J_TRUE; return nd; } return 0;
    case 'f': if (p[1] == 'a' && p[2] == 'l' && p[3] == 's' && p[4] == 'e') { p += 5; nd->kind = J_FALSE; return nd; } return 0;
    case 'n': if (p[1] == 'u' && p[2] == 'l' && p[3] == 'l') { p += 4; nd->kind = J_NULL; return nd; } return 0;
    default:
        nd->kind = J_NUM;
        return parse_number(&nd->num) ? nd : 0;
    }
}

/* ---- walk and write back ---- */
static u64 walk_hash;
static u32 opos;

static void emit(const char *s, u32 n) { for (u32 i = 0; i < n; i++) out[opos++] = s[i]; }

static void emit_string(const char *s, u32 n) {
    out[opos++] = '"';
    for (u32 i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\') { out[opos++] = '\\'; out[opos++] = c; }
        else if (c == '\n') { out[opos++] = '\\'; out[opos++] = 'n'; }
        else out[opos++] = c;
    }
    out[opos++] = '"';
}

static void emit_number(double v) {
    /* fixed point, 3 decimals: deterministic and enough for a checksum */
    if (v < 0) { out[opos++] = '-'; v = -v; }
    u64 scaled = (u64)(v * 1000.0 + 0.5);
    u64 ip = scaled / 1000, fp = scaled % 1000;
    char b[24];
    int i = 0;
    do { b[i++] = (char)('0' + ip % 10); ip /= 10; } while (ip);
    while (i) out[opos++] = b[--i];
    out[opos++] = '.';
    out[opos++] = (char)('0' + fp / 100);
    out[opos++] = (char)('0' + fp / 10 % 10);
    out[opos++] = (char)('0' + fp % 10);
}

static void walk(const node *nd) {
    walk_hash = (walk_hash ^ nd->kind) * 0x100000001b3ull;
    if (nd->key) {
        walk_hash = fnv1a(walk_hash, (const u8 *)nd->key, nd->key_len);
        emit_string(nd->key, nd->key_len);
        out[opos++] = ':';
    }
    switch (nd->kind) {
    case J_NULL: emit("null", 4); break;
    case J_TRUE: emit("true", 4); break;
    case J_FALSE: emit("false", 5); break;
    case J_NUM: {
        i64 fixed = (i64)(nd->num * 1000.0);
        walk_hash = fnv1a(walk_hash, (const u8 *)&fixed, 8);
        emit_number(nd->num);
        break;
    }
    case J_STR:
        walk_hash = fnv1a(walk_hash, (const u8 *)nd->str, nd->len);
        emit_string(nd->str, nd->len);
        break;
    default: {
        out[opos++] = nd->kind == J_OBJ ? '{' : '[';
        for (const node *c = nd->first; c; c = c->next) {
            if (c != nd->first) out[opos++] = ',';
            walk(c);
        }
        out[opos++] = nd->kind == J_OBJ ? '}' : ']';
    }
    }
}

EXPORT("run") i64 run(i32 n) {
    if (n <= 0 || n > 20000) return -2;
    rng_seed(99 + (u64)n);
    generate((u32)n);
    arena_top = 0;
    depth = 0;
    p = text;
    node *root = parse_value();
    if (!root) return -1;
    ws();
    if (*p) return -3;
    walk_hash = FNV_OFFSET;
    opos = 0;
    walk(root);
    return (i64)(fnv1a(walk_hash, (const u8 *)out, opos) ^ opos);
}
