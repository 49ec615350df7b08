/*
 * config_values.c: the typed readers of config values: mappings with a fixed
 * set of keys, sequences, strings, integers, booleans, durations, sizes and
 * paths. Each checks the node's YAML type first, then its text, and reports a
 * failure at the node itself, so every message points where the fix goes.
 */
#include "config_internal.h"
#include "flare/http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- HTTP text */

bool flared_cfg_is_field_value(const char *s, size_t len)
{
    if (len > 0 && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        return false;
    return flare_http_is_field_value(s, len);
}

/* ------------------------------------------------------------- messages */

yaml_mark_t flared_cfg_mark_in(const yaml_node_t *node, size_t offset)
{
    /* One line: the column is the node's plus the offset (and one for an opening quote).
     * Escapes in a double-quoted scalar can shift it; a multi-line one points at its start. */
    yaml_mark_t m = node->start_mark;
    if (node->type != YAML_SCALAR_NODE) return m;
    bool quoted = node->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                  node->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!memchr(node->data.scalar.value, '\n', node->data.scalar.length))
        m.column += offset + (quoted ? 1 : 0);
    return m;
}

/* The character at s[i] of the input: its code point, and its length in bytes. A malformed
 * sequence counts one character per byte (UTF-8) or 16-bit unit (UTF-16), as libyaml
 * stops at it anyway. */
static size_t char_at(const unsigned char *s, size_t len, size_t i, yaml_encoding_t encoding,
                      uint32_t *cp)
{
    if (encoding == YAML_UTF16LE_ENCODING || encoding == YAML_UTF16BE_ENCODING) {
        bool le = encoding == YAML_UTF16LE_ENCODING;
        if (len - i < 2) {
            *cp = s[i];
            return len - i;
        }
        uint32_t u = le ? (uint32_t)s[i] | (uint32_t)s[i + 1] << 8
                        : (uint32_t)s[i] << 8 | (uint32_t)s[i + 1];
        if (u >= 0xD800 && u < 0xDC00 && len - i >= 4) {
            uint32_t low = le ? (uint32_t)s[i + 2] | (uint32_t)s[i + 3] << 8
                              : (uint32_t)s[i + 2] << 8 | (uint32_t)s[i + 3];
            if (low >= 0xDC00 && low < 0xE000) {
                *cp = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
                return 4;
            }
        }
        *cp = u;
        return 2;
    }
    size_t n = s[i] < 0x80             ? 1
               : (s[i] & 0xE0) == 0xC0 ? 2
               : (s[i] & 0xF0) == 0xE0 ? 3
               : (s[i] & 0xF8) == 0xF0 ? 4
                                       : 1;
    if (n > len - i) n = 1;
    uint32_t v = n == 1 ? s[i] : s[i] & (0x7Fu >> n);
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cp = s[i];
            return 1;
        }
        v = v << 6 | (s[i + k] & 0x3Fu);
    }
    *cp = v;
    return n;
}

yaml_mark_t flared_cfg_mark_of_offset(const char *text, size_t len, size_t offset,
                                      yaml_encoding_t encoding)
{
    const unsigned char *s = (const unsigned char *)text;
    yaml_mark_t m = {.index = offset};
    if (offset > len) offset = len;
    for (size_t i = 0; i < offset;) {
        uint32_t cp, next = 0;
        size_t n = char_at(s, len, i, encoding, &cp);
        /* The byte order mark is no character of the first line. */
        bool bom = i == 0 && cp == 0xFEFF;
        i += n;
        if (bom) continue;
        if (cp == '\r' && i < len) char_at(s, len, i, encoding, &next);
        /* YAML 1.1 §5.4, as libyaml reads it: CR LF, CR, LF, NEL, LS and PS end a line. */
        if ((cp == '\r' && next != '\n') || cp == '\n' || cp == 0x85 || cp == 0x2028 ||
            cp == 0x2029) {
            m.line++;
            m.column = 0;
        } else if (cp != '\r') {
            m.column++;
        }
    }
    return m;
}

const char *flared_cfg_quote(const char *s, size_t len, char buf[FLARED_CFG_SHOW_MAX])
{
    /* Room for the quotes, "..." and the NUL. */
    const size_t keep = FLARED_CFG_SHOW_MAX - 6;
    size_t n = len;
    if (n > keep) {
        n = keep;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* whole UTF-8 sequences */
    }
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch < 0x20 || ch == 0x7F) ? '?' : (char)ch;
    }
    if (n < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

const char *flared_cfg_show(const yaml_node_t *node, char buf[FLARED_CFG_SHOW_MAX])
{
    if (!node || flared_cfg_is_null(node)) return "nothing";
    if (node->type == YAML_SEQUENCE_NODE) return "a list";
    if (node->type == YAML_MAPPING_NODE) return "a mapping";
    return flared_cfg_quote((const char *)node->data.scalar.value, node->data.scalar.length, buf);
}

/* ------------------------------------------------------------ duplicates */

static int dup_cmp(const void *a, const void *b)
{
    const flared_cfg_dup *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int d = n ? memcmp(x->key, y->key, n) : 0;
    if (d) return d;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    /* Equal keys sort in file order, so each run starts with its first occurrence. */
    if (x->node->start_mark.index != y->node->start_mark.index)
        return x->node->start_mark.index < y->node->start_mark.index ? -1 : 1;
    return 0;
}

bool flared_cfg_find_dup(flared_cfg_dup *entries, size_t n, const flared_cfg_dup **first,
                         const flared_cfg_dup **dup)
{
    if (n < 2) return false;
    qsort(entries, n, sizeof entries[0], dup_cmp);
    const flared_cfg_dup *run = &entries[0];
    *dup = NULL;
    for (size_t i = 1; i < n; i++) {
        const flared_cfg_dup *e = &entries[i];
        if (e->key_len == run->key_len && memcmp(e->key, run->key, e->key_len) == 0) {
            if (!*dup || e->node->start_mark.index < (*dup)->node->start_mark.index) {
                *dup = e;
                *first = run;
            }
        } else {
            run = e;
        }
    }
    return *dup != NULL;
}

/* -------------------------------------------------------- collections */

bool flared_cfg_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    return len == 0 || (len == 1 && s[0] == '~') || (len == 4 && memcmp(s, "null", 4) == 0);
}

static void join_keys(const char *const *keys, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; keys[i] && o < cap; i++) {
        int n = snprintf(out + o, cap - o, "%s%s", i ? ", " : "", keys[i]);
        if (n < 0) break;
        o += (size_t)n;
    }
    if (!keys[0]) snprintf(out, cap, "none");
}

/* Levenshtein distance of two short strings (each at most 40 bytes). */
static size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t row[41];
    for (size_t j = 0; j <= blen; j++)
        row[j] = j;
    for (size_t i = 1; i <= alen; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[blen];
}

/* The permitted key a misspelt one most likely meant: one edit away for short
 * keys, two for longer ones; NULL when nothing is that close. */
static const char *closest_key(const char *const *keys, const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    if (len > 40) return NULL;
    for (size_t i = 0; keys[i]; i++) {
        size_t klen = strlen(keys[i]);
        if (klen > 40) continue;
        size_t d = edit_distance(name, len, keys[i], klen);
        if (d <= (klen <= 4 ? 1u : 2u) && d < best_d) {
            best = keys[i];
            best_d = d;
        }
    }
    return best;
}

int flared_cfg_map(flared_cfg_ctx *c, yaml_node_t *map, const char *key, const char *what,
                   const char *const *keys, yaml_node_t **values, yaml_node_t **key_nodes,
                   const char *type_list)
{
    char shown[FLARED_CFG_SHOW_MAX], allowed[320];
    size_t nkeys = 0;
    while (keys[nkeys])
        nkeys++;
    for (size_t i = 0; i < nkeys; i++) {
        values[i] = NULL;
        if (key_nodes) key_nodes[i] = NULL;
    }
    if (map->type != YAML_MAPPING_NODE)
        return flared_cfg_fail(c, map, "%s: expected a mapping, got %s", key,
                               flared_cfg_show(map, shown));
    /* The key nodes seen so far, for "first set at" in duplicate messages. */
    const yaml_node_t *seen[32] = {0};
    if (nkeys > sizeof seen / sizeof seen[0]) /* a schema this big is a bug here, not input */
        return flare_error_set(c->err, FLARE_EINVAL, 0, "config: schema of %zu keys", nkeys);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = flared_cfg_node(c, p->key), *v = flared_cfg_node(c, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return flared_cfg_fail(c, k, "keys %s must be plain names, not %s", what,
                                   flared_cfg_show(k, shown));
        const char *name = (const char *)k->data.scalar.value;
        size_t len = k->data.scalar.length;
        size_t i = 0;
        while (i < nkeys && !(strlen(keys[i]) == len && memcmp(keys[i], name, len) == 0))
            i++;
        if (i == nkeys) {
            flared_cfg_quote(name, len, shown);
            const char *guess = closest_key(keys, name, len);
            bool is_type = type_list && (v->type == YAML_MAPPING_NODE || flared_cfg_is_null(v));
            if (guess && is_type)
                return flared_cfg_fail(c, k, "unknown route type %s; did you mean '%s'?", shown,
                                       guess);
            if (guess)
                return flared_cfg_fail(c, k, "unknown key %s %s; did you mean '%s'?", shown, what,
                                       guess);
            if (is_type)
                return flared_cfg_fail(c, k, "unknown route type %s; supported: %s", shown,
                                       type_list);
            join_keys(keys, allowed, sizeof allowed);
            return flared_cfg_fail(c, k, "unknown key %s %s; allowed: %s", shown, what, allowed);
        }
        if (seen[i])
            return flared_cfg_fail(c, k, "duplicate key '%s'; first set at line %u, column %u",
                                   keys[i], flared_cfg_line(seen[i]), flared_cfg_column(seen[i]));
        seen[i] = k;
        values[i] = v;
        if (key_nodes) key_nodes[i] = k;
    }
    return 0;
}

int flared_cfg_seq(flared_cfg_ctx *c, yaml_node_t *node, const char *key, yaml_node_item_t **items,
                   size_t *count)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_SEQUENCE_NODE)
        return flared_cfg_fail(c, node, "%s: expected a list, got %s", key,
                               flared_cfg_show(node, shown));
    *items = node->data.sequence.items.start;
    *count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    return 0;
}

/* The one wording of a list or mapping over its size limit. */
static int too_many(flared_cfg_ctx *c, yaml_node_t *node, const char *key, size_t count,
                    const char *noun, size_t max)
{
    return flared_cfg_fail(c, node, "%s: %zu %s; at most %zu are allowed", key, count, noun, max);
}

int flared_cfg_seq_max(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *noun,
                       size_t max, yaml_node_item_t **items, size_t *count)
{
    int rc = flared_cfg_seq(c, node, key, items, count);
    if (rc == 0 && *count > max) rc = too_many(c, node, key, *count, noun, max);
    return rc;
}

int flared_cfg_named_map(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *shape,
                         const char *noun, size_t max, yaml_node_pair_t **pairs, size_t *count)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type != YAML_MAPPING_NODE)
        return flared_cfg_fail(c, node, "%s: expected a mapping of %s, got %s", key, shape,
                               flared_cfg_show(node, shown));
    *pairs = node->data.mapping.pairs.start;
    *count = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    return *count > max ? too_many(c, node, key, *count, noun, max) : 0;
}

/* -------------------------------------------------------------- scalars */

/* Common check of the typed readers: a scalar that is not YAML's null. */
static int need_scalar(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char *expected)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) return 0;
    return flared_cfg_fail(c, node, "%s: expected %s, got %s", key, expected,
                           flared_cfg_show(node, shown));
}

int flared_cfg_scalar(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **s,
                      size_t *len)
{
    int rc = need_scalar(c, node, key, "a string");
    if (rc < 0) return rc;
    *s = (const char *)node->data.scalar.value;
    *len = node->data.scalar.length;
    return 0;
}

int flared_cfg_string(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out)
{
    const char *s;
    size_t len;
    int rc = flared_cfg_scalar(c, node, key, &s, &len);
    if (rc < 0) return rc;
    if (len == 0) return flared_cfg_fail(c, node, "%s: must not be empty", key);
    if (memchr(s, '\0', len)) return flared_cfg_fail(c, node, "%s: contains a NUL byte", key);
    char *copy = flared_cfg_strndup(c, s, len);
    if (!copy) return flared_cfg_nomem(c);
    *out = copy;
    return 0;
}

/* Leading digits of s as a number; *end is the first non-digit. Overflow sets *overflow. */
static uint64_t digits(const char *s, size_t len, size_t *end, bool *overflow)
{
    uint64_t v = 0;
    size_t i = 0;
    *overflow = false;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            *overflow = true;
        else
            v = v * 10 + d;
    }
    *end = i;
    return v;
}

int flared_cfg_uint(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t min,
                    uint64_t max, uint64_t *out)
{
    char shown[FLARED_CFG_SHOW_MAX];
    int rc = need_scalar(c, node, key, "an integer");
    if (rc < 0) return rc;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length, end;
    bool negative = len > 1 && s[0] == '-', overflow;
    uint64_t v = digits(s + negative, len - negative, &end, &overflow);
    if (end == 0 || end != len - negative)
        return flared_cfg_fail(c, node, "%s: expected an integer, got %s", key,
                               flared_cfg_show(node, shown));
    if (negative || overflow || v < min || v > max)
        return flared_cfg_fail(c, node, "%s: %s is out of range %llu..%llu", key,
                               flared_cfg_show(node, shown), (unsigned long long)min,
                               (unsigned long long)max);
    *out = v;
    return 0;
}

int flared_cfg_bool(flared_cfg_ctx *c, yaml_node_t *node, const char *key, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False",
                                                                              "FALSE"};
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE) {
        const char *s = (const char *)node->data.scalar.value;
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(s, yes[i]) == 0 && node->data.scalar.length == strlen(yes[i])) {
                *out = true;
                return 0;
            }
            if (strcmp(s, no[i]) == 0 && node->data.scalar.length == strlen(no[i])) {
                *out = false;
                return 0;
            }
        }
    }
    return flared_cfg_fail(c, node, "%s: expected true or false, got %s", key,
                           flared_cfg_show(node, shown));
}

/* Formats a byte count the way the file writes it ("16m"), for range messages. */
static const char *format_size(uint64_t v, char buf[32])
{
    static const char units[] = "gmk";
    for (int i = 0; i < 3; i++) {
        uint64_t unit = 1ull << (10 * (3 - i));
        if (v >= unit && v % unit == 0) {
            snprintf(buf, 32, "%llu%c", (unsigned long long)(v / unit), units[i]);
            return buf;
        }
    }
    snprintf(buf, 32, "%llu", (unsigned long long)v);
    return buf;
}

int flared_cfg_size(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t min,
                    uint64_t max, uint64_t *out)
{
    char shown[FLARED_CFG_SHOW_MAX], lo[32], hi[32];
    int rc = need_scalar(c, node, key, "a size");
    if (rc < 0) return rc;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length, end;
    bool overflow;
    uint64_t v = digits(s, len, &end, &overflow), unit = 1;
    if (end > 0 && end + 1 == len) {
        switch (s[end]) {
        case 'k':
        case 'K':
            unit = 1ull << 10;
            break;
        case 'm':
        case 'M':
            unit = 1ull << 20;
            break;
        case 'g':
        case 'G':
            unit = 1ull << 30;
            break;
        default:
            unit = 0;
            break;
        }
    } else if (end == 0 || end != len) {
        unit = 0;
    }
    if (unit == 0)
        return flared_cfg_fail(c, node,
                               "%s: invalid size %s; write bytes or a number with k, m or g "
                               "(e.g. 8k)",
                               key, flared_cfg_show(node, shown));
    if (overflow || v > UINT64_MAX / unit || v * unit < min || v * unit > max)
        return flared_cfg_fail(c, node, "%s: %s is out of range %s..%s", key,
                               flared_cfg_show(node, shown), format_size(min, lo),
                               format_size(max, hi));
    *out = v * unit;
    return 0;
}

int flared_cfg_duration(flared_cfg_ctx *c, yaml_node_t *node, const char *key, uint64_t *ms)
{
    char shown[FLARED_CFG_SHOW_MAX];
    int rc = need_scalar(c, node, key, "a duration");
    if (rc < 0) return rc;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length, end;
    bool overflow;
    uint64_t v = digits(s, len, &end, &overflow), unit = 0;
    const char *u = s + end;
    size_t ulen = len - end;
    if (ulen == 2 && memcmp(u, "ms", 2) == 0)
        unit = 1;
    else if (ulen == 1 && *u == 's')
        unit = 1000;
    else if (ulen == 1 && *u == 'm')
        unit = 60 * 1000;
    else if (ulen == 1 && *u == 'h')
        unit = 60 * 60 * 1000;
    if (end == 0 || unit == 0) {
        if (end > 0 && ulen == 0)
            return flared_cfg_fail(c, node,
                                   "%s: duration %s has no unit; add ms, s, m or h (e.g. 10s)", key,
                                   flared_cfg_show(node, shown));
        return flared_cfg_fail(c, node,
                               "%s: invalid duration %s; write a number with ms, s, m or h "
                               "(e.g. 10s)",
                               key, flared_cfg_show(node, shown));
    }
    if (overflow || v == 0 || v > FLARED_DURATION_MAX_MS / unit)
        return flared_cfg_fail(c, node, "%s: %s is out of range 1ms..24h", key,
                               flared_cfg_show(node, shown));
    *ms = v * unit;
    return 0;
}

bool flared_cfg_is_zero_duration(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE) return false;
    const char *s = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length, zeros = strspn(s, "0");
    const char *unit = s + zeros;
    size_t ulen = len - zeros;
    return zeros > 0 && (ulen == 0 || (ulen == 2 && memcmp(unit, "ms", 2) == 0) ||
                         (ulen == 1 && memchr("smh", unit[0], 3)));
}

int flared_cfg_path(flared_cfg_ctx *c, yaml_node_t *node, const char *key, const char **out)
{
    const char *s;
    int rc = flared_cfg_string(c, node, key, &s);
    if (rc < 0) return rc;
    if (s[0] == '/') {
        *out = s;
        return 0;
    }
    size_t dlen = strlen(c->cfg->dir), slen = strlen(s);
    bool slash = dlen > 0 && c->cfg->dir[dlen - 1] == '/';
    char *p = flared_cfg_alloc(c, dlen + !slash + slen + 1);
    if (!p) return flared_cfg_nomem(c);
    memcpy(p, c->cfg->dir, dlen);
    if (!slash) p[dlen] = '/';
    memcpy(p + dlen + !slash, s, slen + 1);
    *out = p;
    return 0;
}
