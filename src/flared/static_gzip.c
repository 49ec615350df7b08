/*
 * static_gzip.c: content codings of the static route: which codings a request
 * accepts (Accept-Encoding with q-values, RFC 9110 §12.5.3) and on-the-fly gzip
 * with zlib of a file up to FLARED_GZIP_MAX_INPUT, built whole in memory; the
 * caller keeps the result cached (larger files: static_stream.c).
 */
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "static_internal.h"

#define Q_UNSET (-1)
#define Q_ONE   1000

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 §12.4.2 qvalue in thousandths; -1 when malformed. */
static int qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * Q_ONE;
    if (len == 1) return q;
    if (s[1] != '.' || len > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        q += (s[i] - '0') * scale;
    }
    return q > Q_ONE ? -1 : q;
}

int flared_member_weight(const char *p, size_t len)
{
    const char *end = p + len;
    int q = Q_ONE;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ';'))
            p++;
        const char *param = p;
        while (p < end && *p != ';')
            p++;
        const char *pend = p;
        while (pend > param && is_ows(pend[-1]))
            pend--;
        size_t plen = (size_t)(pend - param);
        /* Parameter names are case-insensitive (§5.6.6). The weight is "q=" with no
         * whitespace around '=' (§12.4.2): "q = 0" is malformed, not a weight of 1,
         * which would hand a client the coding it tried to refuse. */
        bool is_q = plen >= 2 && (param[0] == 'q' || param[0] == 'Q');
        if (is_q && param[1] == '=') {
            q = qvalue(param + 2, plen - 2);
        } else if (is_q && is_ows(param[1])) {
            const char *eq = param + 1;
            while (eq < pend && is_ows(*eq))
                eq++;
            if (eq < pend && *eq == '=') return -1;
        }
        if (q < 0) return -1;
    }
    return q;
}

static int rank(flared_coding c)
{
    /* Equal weights: the smaller encoding first. */
    return c == FLARED_CODING_BR ? 0 : c == FLARED_CODING_GZIP ? 1 : 2;
}

size_t flared_static_accept_encoding(const flare_http_request *head,
                                     flared_coding order[FLARED_CODING__COUNT])
{
    int q[FLARED_CODING__COUNT] = {Q_UNSET, Q_UNSET, Q_UNSET}, star = Q_UNSET;
    const flare_http_header *h = flared_static_field(head, FLARE_HDR_ACCEPT_ENCODING, NULL);
    if (!h) {
        /* Any coding would be acceptable (§12.5.3), but clients that omit the field
         * are usually tools that expect the bytes of the file. */
        order[0] = FLARED_CODING_IDENTITY;
        return 1;
    }
    for (size_t i = (size_t)(h - head->headers); i < head->num_headers; i++) {
        if (head->headers[i].id != FLARE_HDR_ACCEPT_ENCODING) continue;
        const char *p = head->headers[i].value, *end = p + head->headers[i].value_len;
        while (p < end) {
            while (p < end && (is_ows(*p) || *p == ','))
                p++;
            const char *tok = p;
            while (p < end && *p != ',' && *p != ';' && !is_ows(*p))
                p++;
            size_t tlen = (size_t)(p - tok);
            const char *params = p;
            while (p < end && *p != ',')
                p++;
            if (tlen == 0) continue;
            int w = flared_member_weight(params, (size_t)(p - params));
            if (w < 0) continue; /* a malformed member is ignored */
            int *slot = NULL;
            /* Codings are case-insensitive; x-gzip is gzip (§8.4.1.3). */
            if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
                slot = &q[FLARED_CODING_GZIP];
            else if (tlen == 2 && strncasecmp(tok, "br", 2) == 0)
                slot = &q[FLARED_CODING_BR];
            else if (tlen == 8 && strncasecmp(tok, "identity", 8) == 0)
                slot = &q[FLARED_CODING_IDENTITY];
            else if (tlen == 1 && *tok == '*')
                slot = &star;
            if (slot && w > *slot) *slot = w;
        }
    }
    size_t n = 0;
    int weight[FLARED_CODING__COUNT];
    for (int c = 0; c < FLARED_CODING__COUNT; c++) {
        /* A coding not listed takes the weight of "*". Identity is acceptable unless
         * refused outright (identity;q=0, or *;q=0 without identity), but when not
         * listed it comes last: "gzip;q=0.5" still means the client wants gzip. */
        int w = q[c] != Q_UNSET               ? q[c]
                : star != Q_UNSET             ? star
                : c == FLARED_CODING_IDENTITY ? 1
                                              : 0;
        weight[c] = w;
        if (w > 0) order[n++] = (flared_coding)c;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort of at most three */
        for (size_t j = i; j > 0; j--) {
            flared_coding a = order[j - 1], b = order[j];
            if (weight[b] > weight[a] || (weight[b] == weight[a] && rank(b) < rank(a))) {
                order[j - 1] = b;
                order[j] = a;
            }
        }
    return n;
}

const char *flared_coding_name(flared_coding c)
{
    return c == FLARED_CODING_GZIP ? "gzip" : c == FLARED_CODING_BR ? "br" : NULL;
}

const char *flared_coding_suffix(flared_coding c)
{
    return c == FLARED_CODING_GZIP ? ".gz" : c == FLARED_CODING_BR ? ".br" : NULL;
}

flared_coding flared_static_stored_coding(const char *name, size_t len, const char *type)
{
    /* As flared_static_mime_type: ".svgz" alone is a dotfile without an extension. */
    bool svgz = len > 5 && name[len - 6] != '/' && strncasecmp(name + len - 5, ".svgz", 5) == 0;
    return svgz && strcmp(type, "image/svg+xml") == 0 ? FLARED_CODING_GZIP : FLARED_CODING_IDENTITY;
}

int flared_static_gzip_encode(const void *in, size_t len, int level, flare_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (level < 1 || level > 9 || len > UINT32_MAX) return FLARE_EINVAL;
    /* windowBits 15 + 16: a gzip wrapper (RFC 1952) rather than zlib's. */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return FLARE_ENOMEM;
    uLong bound = deflateBound(&zs, (uLong)len);
    int rc = flare_buf_reserve(out, (size_t)bound);
    if (rc < 0) {
        deflateEnd(&zs);
        return rc;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    int zrc = deflate(&zs, Z_FINISH);
    size_t produced = (size_t)bound - zs.avail_out;
    deflateEnd(&zs);
    /* deflateBound is an upper bound for a single Z_FINISH call, so anything but
     * Z_STREAM_END is a zlib failure, not a short buffer. */
    if (zrc != Z_STREAM_END) return FLARE_EINVAL;
    out->len += produced;
    return 0;
}
