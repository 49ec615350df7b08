/*
 * parse_request.c: the request-head parser (RFC 9112 §3, §5, §6), in one pass:
 * the request line, then each field line as soon as its CRLF is in the buffer,
 * checked by the same scan that finds its end (on the SIMD paths, bit scans over
 * the stop masks of 64-byte chunks, simd.h). The pass is compiled once per path
 * with the kernels inlined, and the path is picked once per call. The answers
 * are those of checking the whole head first: an error in a field line counts
 * only once the head is complete and free of bare LFs (until then it is
 * INCOMPLETE, or 431 past the size limit), so a prefix never gets an error the
 * whole message would not get. On any failure every output is reset.
 */
#include "parse_path.h"

#include <string.h>

enum { LINE_MORE = -1 };

typedef struct request_line {
    const char *method, *target;
    size_t method_len, target_len;
    uint8_t minor;
    uint8_t method_id;
    uint8_t target_form;
    size_t end; /* just past the CRLF */
} request_line;

/* The caller's limits with defaults and caps applied. */
typedef struct parse_limits {
    size_t max_uri, max_head, max_fields;
} parse_limits;

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* unreserved / sub-delims (RFC 3986 §2.2, §2.3): the bytes of a reg-name besides
 * pct-encoded, as a 256-bit set: ALPHA DIGIT "-._~!$&'()*+,;=". */
static const uint64_t host_bits[4] = {0x2bff7fd200000000u, 0x47fffffe87fffffeu, 0, 0};

static bool is_host_char(unsigned char c)
{
    return (host_bits[c >> 6] >> (c & 63)) & 1u;
}

/* Index of the first byte of s[0..n) that is not a lowercase letter, digit, '-'
 * or '.', the bytes most host names are made of (all of them host chars), eight
 * at a time: every lane is tested exactly, with sums that cannot carry. */
static ALWAYS_INLINE size_t skip_common_host(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 8 || !flare_http__little_endian()) {
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                         s[i] == '-' || s[i] == '.'))
            i++;
        return i;
    }
    for (;; i += 8) {
        if (i + 8 > n) i = n - 8; /* overlaps bytes already passed */
        uint64_t x = flare_http__load64(s + i);
        uint64_t y = x & ~FLARE_HTTP__HIGHS;
        uint64_t common = flare_http__in_range7(y, 'a', 'z') | flare_http__in_range7(y, '0', '9') |
                          flare_http__in_range7(y, '-', '.');
        uint64_t other = ~(common & ~x) & FLARE_HTTP__HIGHS;
        if (other) return i + (size_t)__builtin_ctzll(other) / 8;
        if (i + 8 == n) return n;
    }
}

/* uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3). With need_port, as CONNECT's
 * authority-form (RFC 9110 §9.3.6), both host and port must be present. */
static bool valid_authority(const char *s, size_t n, bool need_port)
{
    size_t i = 0;
    if (n > 0 && s[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture, by character class only. */
        i = 1;
        while (i < n && (is_host_char((unsigned char)s[i]) || s[i] == ':'))
            i++;
        if (i == 1 || i == n || s[i] != ']') return false;
        i++;
    } else {
        i = skip_common_host(s, n);
        while (i < n) {
            if (is_host_char((unsigned char)s[i])) {
                i++;
            } else if (s[i] == '%') {
                if (n - i < 3 || !is_hex((unsigned char)s[i + 1]) ||
                    !is_hex((unsigned char)s[i + 2]))
                    return false;
                i += 3;
            } else {
                break;
            }
        }
    }
    if (need_port && i == 0) return false;
    if (i == n) return !need_port;
    if (s[i] != ':') return false;
    size_t digits = n - i - 1;
    if (need_port && (digits == 0 || digits > 5)) return false;
    for (size_t k = i + 1; k < n; k++)
        if (!is_digit((unsigned char)s[k])) return false;
    return true;
}

/* The usual Host value, a name of lowercase letters, digits, '-' and '.' with an
 * optional ":" port: a shortcut that valid_authority(s, n, false) would accept. */
static ALWAYS_INLINE bool plain_host(const char *s, size_t n)
{
    size_t i = skip_common_host(s, n);
    if (i < n && s[i] == ':') {
        while (++i < n)
            if (!is_digit((unsigned char)s[i])) return false;
    }
    return i == n;
}

#ifdef FLARE_HTTP_X86_SIMD
/* The bytes of b in the class of row lo up to lo + the row `last`, as 0xff lanes:
 * b - lo <= last, unsigned (min(b - lo, last) == b - lo), constants from memory. */
static ALWAYS_INLINE __m128i in_host_class(__m128i b, int lo, int last)
{
    __m128i offset = _mm_sub_epi8(b, FLARE_HTTP__XMM(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(offset, FLARE_HTTP__XMM(last)), offset);
}

/* The common host bytes (see skip_common_host) and the digits among the 16 bytes
 * at s, as bit masks, with SSE2 (the x86-64 baseline). */
static ALWAYS_INLINE void host_block(const char *s, uint32_t *common, uint32_t *digit)
{
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i d = in_host_class(b, FLARE_HTTP__ROW_DIGIT, FLARE_HTTP__ROW_DIGITS_LAST);
    __m128i lower = in_host_class(b, FLARE_HTTP__ROW_LOWER, FLARE_HTTP__ROW_LETTERS_LAST);
    __m128i dash_dot = in_host_class(b, FLARE_HTTP__ROW_DASH, FLARE_HTTP__ROW_DASH_DOT_LAST);
    *common = (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(lower, d), dash_dot));
    *digit = (uint32_t)_mm_movemask_epi8(d);
}

/* plain_host for the n <= 32 bytes at s, read as one (n <= 16) or two 16-byte
 * blocks that start `skip` bytes before s (all within the buffer): the common
 * bytes, then at most one ':' followed by digits only. */
static ALWAYS_INLINE bool plain_host_blocks(const char *s, size_t n, size_t skip)
{
    const char *p = s - skip;
    uint32_t common, digit;
    host_block(p, &common, &digit);
    if (n > 16) {
        uint32_t c1, d1;
        host_block(p + 16, &c1, &d1);
        common |= c1 << 16;
        digit |= d1 << 16;
    }
    common >>= skip;
    digit >>= skip;
    uint32_t want = n == 32 ? UINT32_MAX : (1u << n) - 1;
    uint32_t other = ~common & want;
    if (!other) return true;
    unsigned i = (unsigned)__builtin_ctz(other);
    if (s[i] != ':') return false;
    uint32_t port = want & ~(uint32_t)((2ull << i) - 1);
    return (digit & port) == port;
}

/* plain_host for n <= 64 in one block loaded under a byte mask (so it reads only
 * s[0..n)), the classes as range compares straight into bit masks. */
FLARE_HTTP__AVX512 static inline bool plain_host_avx512(const char *s, size_t n)
{
    uint64_t live = flare_http__live_bytes(n);
    __m512i b = _mm512_maskz_loadu_epi8(live, (const void *)s);
/* Each class lo..hi as b - lo < hi - lo + 1, unsigned (rows of lo, then sizes). */
#define IN_CLASS(i)                                                                                \
    _mm512_cmplt_epu8_mask(_mm512_sub_epi8(b, FLARE_HTTP__ZMM(FLARE_HTTP__ROW_DIGIT + (i))),       \
                           FLARE_HTTP__ZMM(FLARE_HTTP__ROW_DIGITS + (i)))
    uint64_t digit = IN_CLASS(0);
    uint64_t other = ~(IN_CLASS(1) | digit | IN_CLASS(2)) & live;
#undef IN_CLASS
    if (!other) return true;
    unsigned i = (unsigned)__builtin_ctzll(other);
    if (s[i] != ':') return false;
    uint64_t port = live & ~((2ull << i) - 1);
    return (digit & port) == port;
}
#endif

/* plain_host on a SIMD path: in blocks when the value is short enough and the
 * blocks lie within the buffer (before `limit`). Longer ones are left to the
 * exact check, out of the field loop, which they are rare enough to afford. */
static ALWAYS_INLINE bool plain_host_on(int path, const char *s, size_t n, const char *limit)
{
#ifdef FLARE_HTTP_X86_SIMD
    if (path == FLARE_SIMD_AVX512) return n <= 64 && plain_host_avx512(s, n);
    if (path != FLARE_SIMD_SCALAR) {
        size_t room = (size_t)(limit - s);
        return n <= 32 && room >= (n > 16 ? 32 : 16) && plain_host_blocks(s, n, 0);
    }
#endif
    (void)limit;
    return plain_host(s, n);
}

/* absolute-form (RFC 9112 §3.2.2): scheme "://" authority [ path ] [ "?" query ],
 * scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1). The
 * authority must not be empty (RFC 9110 §4.2.1 for http and https). */
static bool is_absolute_form(const char *t, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)t[0])) return false;
    size_t i = 1;
    while (i < n && (is_alpha((unsigned char)t[i]) || is_digit((unsigned char)t[i]) ||
                     t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (n - i < 4 || memcmp(t + i, "://", 3) != 0) return false;
    char first = t[i + 3];
    return first != '/' && first != '?' && first != '#';
}

/* Picks the target form and checks it against the method (RFC 9112 §3.2);
 * returns 0 or 400. */
static int classify_target(request_line *rl)
{
    const char *t = rl->target;
    size_t n = rl->target_len;
    bool connect = rl->method_id == FLARE_METHOD_CONNECT;
    if (t[0] == '/') {
        rl->target_form = FLARE_TARGET_ORIGIN;
        return connect ? 400 : 0;
    }
    if (n == 1 && t[0] == '*') {
        /* asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4). */
        rl->target_form = FLARE_TARGET_ASTERISK;
        return rl->method_id == FLARE_METHOD_OPTIONS ? 0 : 400;
    }
    if (!connect && is_absolute_form(t, n)) {
        /* Its authority replaces Host (RFC 9112 §3.2.2), so it must be as valid as
         * a Host value (§3.2): uri-host [ ":" port ], without userinfo or '#'. The
         * scheme holds no ':', so the first one starts "://". */
        const char *auth = (const char *)memchr(t, ':', n) + 3;
        size_t auth_len = 0, rest = n - (size_t)(auth - t);
        while (auth_len < rest && auth[auth_len] != '/' && auth[auth_len] != '?')
            auth_len++;
        rl->target_form = FLARE_TARGET_ABSOLUTE;
        /* With a port but no host (http://:80/) the host is still empty: RFC 9110
         * §4.2.1 has a recipient reject such a URI. */
        return auth[0] != ':' && valid_authority(auth, auth_len, false) ? 0 : 400;
    }
    /* authority-form is only for CONNECT (RFC 9112 §3.2.3); CONNECT takes no
     * other form (RFC 9110 §9.3.6). */
    if (connect && valid_authority(t, n, true)) {
        rl->target_form = FLARE_TARGET_AUTHORITY;
        return 0;
    }
    return 400;
}

/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3),
 * read from buf[0..n) byte by byte where it matters. Returns 0, LINE_MORE when
 * buf ends inside the line, or the status to answer. It decides at the first CR
 * or LF at the latest. This is the reference the fast path below must agree with. */
static int parse_request_line(const flare_http_scan_ops *ops, const char *buf, size_t n,
                              size_t max_uri, request_line *rl)
{
    size_t p = 0;
    if (n == 0) return LINE_MORE;
    /* At most one empty line before the request-line is skipped (RFC 9112 §2.2);
     * a second one fails the method check below. */
    if (buf[0] == '\r') {
        if (n < 2) return LINE_MORE;
        if (buf[1] != '\n') return 400;
        p = 2;
    }
    /* method = token, case-sensitive (RFC 9110 §9.1). */
    size_t len = ops->skip_token(buf + p, n - p);
    if (p + len == n) return LINE_MORE;
    /* Exactly one SP between the parts (RFC 9112 §3). */
    if (len == 0 || buf[p + len] != ' ') return 400;
    rl->method = buf + p;
    rl->method_len = len;
    p += len + 1;

    /* The target's bytes are all visible ASCII but '#' (RFC 9112 §3.2, RFC 3986:
     * no fragment is sent); the scan stops one past the limit so a long target
     * costs no more. */
    size_t room = n - p;
    size_t scan = room < max_uri + 1 ? room : max_uri + 1;
    len = ops->skip_target(buf + p, scan);
    if (len > max_uri) return 414;
    if (p + len == n) return LINE_MORE;
    if (len == 0 || buf[p + len] != ' ') return 400;
    rl->target = buf + p;
    rl->target_len = len;
    p += len + 1;

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). */
    static const char version[8] = "HTTP/1.1";
    for (size_t i = 0; i < 8; i++) {
        if (p + i == n) return LINE_MORE;
        unsigned char c = (unsigned char)buf[p + i];
        bool ok = (i == 5 || i == 7) ? is_digit(c) : c == (unsigned char)version[i];
        if (!ok) return 400;
    }
    unsigned char major = (unsigned char)buf[p + 5], minor = (unsigned char)buf[p + 7];
    p += 8;
    if (p == n) return LINE_MORE;
    if (buf[p] != '\r') return 400;
    if (p + 1 == n) return LINE_MORE;
    if (buf[p + 1] != '\n') return 400;
    rl->end = p + 2;

    /* Only HTTP/1.x is spoken here (RFC 9110 §15.6.6); a higher 1.x minor is
     * answered as the highest we support, 1.1 (RFC 9110 §2.5). */
    if (major != '1') return 505;
    rl->minor = minor == '0' ? 0 : 1;
    rl->method_id = (uint8_t)flare_http_method_id(rl->method, rl->method_len);
    return classify_target(rl);
}

/* Framing facts gathered over the field lines. */
typedef struct request_fields {
    flare_http__framing fr;
    int host_index;
    bool expect_seen, expect_other;
} request_fields;

/* A valid Host value (RFC 9112 §3.2), one the field loop's inline check left
 * undecided. On the SIMD paths (`blocks`) most such values are a short name too
 * near the end of the buffer for blocks that start at it (a Host line last in the
 * head, as health checks and wrk's default request have it): the blocks that end
 * at its last byte are read then, before the exact check. The scalar path takes
 * the exact check alone, the reference the others are tested against. */
static bool host_value_valid(const char *s, size_t n, const char *start, bool blocks)
{
#ifdef FLARE_HTTP_X86_SIMD
    size_t block = n > 16 ? 32 : 16;
    if (blocks && n <= 32 && (size_t)(s - start) + n >= block && plain_host_blocks(s, n, block - n))
        return true;
#else
    (void)start;
    (void)blocks;
#endif
    return valid_authority(s, n, false);
}

/* Applies one of the fields that decide framing (ids HOST..EXPECT), those of the
 * buffer at `start` (`blocks` as for host_value_valid); returns 0 or the status
 * to answer. */
static int take_field(request_fields *f, const flare_http_header *h, size_t index,
                      const char *start, bool blocks)
{
    switch ((flare_http_hdr)h->id) {
    case FLARE_HDR_HOST:
        /* Exactly one Host, with a valid value (RFC 9112 §3.2). */
        if (f->host_index >= 0) return 400;
        if (!host_value_valid(h->value, h->value_len, start, blocks)) return 400;
        /* A port without a host (":80") names no host, as http://:80/ does not (RFC 9110
         * §4.2.1); an empty value is allowed (RFC 9112 §3.2). */
        if (h->value_len && h->value[0] == ':') return 400;
        f->host_index = (int)index;
        return 0;
    case FLARE_HDR_EXPECT: {
        /* Expect = #expectation, and the only one defined is 100-continue
         * (RFC 9110 §10.1.1); an empty list expects nothing we can meet either. */
        const char *cur = h->value, *end = h->value + h->value_len, *elem;
        size_t len;
        bool any = false;
        while (flare_http__list_next(&cur, end, &elem, &len)) {
            any = true;
            if (len != 12 || !flare_http__eq_nocase(elem, "100-continue", 12))
                f->expect_other = true;
        }
        if (!any) f->expect_other = true;
        f->expect_seen = true;
        return 0;
    }
    default:
        return flare_http__framing_take(&f->fr, h) < 0 ? 400 : 0;
    }
}

/* take_field with the usual Host and Connection values handled inline, so that
 * the field loop calls out only for the rest. */
static ALWAYS_INLINE int take_framing_field(int path, request_fields *f, const flare_http_header *h,
                                            size_t index, const char *start, const char *limit)
{
    if (h->id == FLARE_HDR_HOST && f->host_index < 0 && (!h->value_len || h->value[0] != ':') &&
        plain_host_on(path, h->value, h->value_len, limit)) {
        f->host_index = (int)index;
        return 0;
    }
    if (h->id == FLARE_HDR_CONNECTION && h->value_len == 10 &&
        flare_http__eq_nocase(h->value, "keep-alive", 10)) {
        f->fr.conn |= FLARE_HTTP__CONN_KEEP_ALIVE;
        return 0;
    }
    return take_field(f, h, index, start, path != FLARE_SIMD_SCALAR);
}

/* The checks that need every field (RFC 9112 §3.2, §6.1, §6.3; RFC 9110 §10.1.1);
 * returns 0 or the status to answer. */
static ALWAYS_INLINE int finish_fields(flare_http_request *req, const request_fields *f)
{
    bool http11 = req->minor_version == 1;
    if (http11 && f->host_index < 0) return 400;
    if (f->fr.te.present) {
        /* Transfer-Encoding in HTTP/1.0 means broken framing (RFC 9112 §6.1);
         * with Content-Length it is a smuggling pattern (RFC 9112 §6.3 item 3). */
        if (!http11 || f->fr.content_length >= 0 || f->fr.te.malformed) return 400;
        /* chunked must be final and once, else the length is unknowable (§6.3 item 4). */
        if (!f->fr.te.last_is_chunked || f->fr.te.chunked_seen != 1) return 400;
        /* Any other coding is one we do not implement (RFC 9112 §6.1). */
        if (f->fr.te.other_coding) return 501;
    }
    req->chunked = f->fr.te.present;
    req->content_length = f->fr.content_length;
    req->host_index = f->host_index;
    if (http11) {
        /* HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1); others get 417. */
        if (f->expect_other) return 417;
        req->expect_continue = f->expect_seen;
        req->keep_alive = !(f->fr.conn & FLARE_HTTP__CONN_CLOSE);
        /* Upgrade in an HTTP/1.0 request is ignored (RFC 9110 §7.8). */
        req->upgrade =
            (f->fr.conn & FLARE_HTTP__CONN_UPGRADE) && req->known_index[FLARE_HDR_UPGRADE] >= 0;
    } else {
        /* close wins over keep-alive (RFC 9112 §9.3). */
        req->keep_alive =
            (f->fr.conn & FLARE_HTTP__CONN_KEEP_ALIVE) && !(f->fr.conn & FLARE_HTTP__CONN_CLOSE);
        req->expect_continue = req->upgrade = false;
    }
    return 0;
}

static void reset_request(flare_http_request *req)
{
    req->method = req->target = NULL;
    req->method_len = req->target_len = 0;
    req->method_id = FLARE_METHOD_OTHER;
    req->target_form = FLARE_TARGET_ORIGIN;
    req->minor_version = 0;
    req->keep_alive = req->chunked = req->expect_continue = req->upgrade = false;
    req->content_length = -1;
    req->host_index = -1;
    req->num_headers = 0;
    memset(req->known_index, 0xff, sizeof req->known_index);
}

static ssize_t fail(flare_http_request *req, int *status, int code)
{
    reset_request(req);
    *status = code;
    return FLARE_EPARSE;
}

/* No head end within the window yet: 431 (RFC 6585 §5) once the head cannot fit,
 * complete or not. */
static ssize_t need_more(flare_http_request *req, int *status, size_t len, const parse_limits *lim)
{
    if (len > lim->max_head) return fail(req, status, 431);
    reset_request(req);
    return FLARE_EINCOMPLETE;
}

/* A field line starting at `line` failed with `code`. That answer stands only
 * once the head is complete with no bare LF in it; the lines before `line` all
 * ended in CRLF, so the search starts there. */
static ssize_t field_error(const flare_http_scan_ops *ops, const char *buf, size_t window,
                           size_t line, size_t len, const parse_limits *lim,
                           flare_http_request *req, int *status, int code)
{
    size_t head_end;
    switch (flare_http__find_head_end(ops, buf, window, line, &head_end)) {
    case FLARE_HTTP__HEAD_BARE_LF:
        return fail(req, status, 400);
    case FLARE_HTTP__HEAD_MORE:
        return need_more(req, status, len, lim);
    default:
        return fail(req, status, code);
    }
}

/* --- the pass, once per path ------------------------------------------------------------- */

/* The request line as almost every client sends it: token SP target SP
 * "HTTP/1." DIGIT CRLF, all within buf[0..n), the target within max_uri, written
 * straight into req. Returns the line's end, or 0 for anything else, which goes
 * to parse_request_line so that both always agree. */
static ALWAYS_INLINE size_t fast_request_line(int path, const char *buf, size_t n, size_t max_uri,
                                              flare_http_request *req)
{
    size_t p;
    uint8_t method_id;
    if (n >= 4 && memcmp(buf, "GET ", 4) == 0) {
        method_id = FLARE_METHOD_GET;
        p = 4;
    } else {
        size_t len = token_end(path, buf, 0, n);
        if (len == 0 || len == n || buf[len] != ' ') return 0;
        method_id = (uint8_t)flare_http_method_id(buf, len);
        p = len + 1;
    }
    size_t limit = n - p > max_uri ? p + max_uri + 1 : n;
    size_t t = target_end(path, buf, p, limit);
    if (t == p || t == limit || buf[t] != ' ') return 0;
    size_t v = t + 1;
    /* "HTTP/1.1" or "HTTP/1.0" as one word, CRLF as another (bytes in memory
     * order, compared with the same bytes loaded from literals). */
    if (n - v < 10) return 0;
    uint64_t version = flare_http__load64(buf + v);
    if ((version != flare_http__load64("HTTP/1.1") && version != flare_http__load64("HTTP/1.0")) ||
        flare_http__load16(buf + v + 8) != flare_http__load16("\r\n"))
        return 0;
    /* origin-form, the usual one, needs no more checks (RFC 9112 §3.2.1). */
    if (buf[p] != '/' || method_id == FLARE_METHOD_CONNECT) return 0;
    req->method = buf;
    req->method_len = (uint32_t)(p - 1);
    req->method_id = method_id;
    req->target = buf + p;
    req->target_len = (uint32_t)(t - p);
    req->target_form = FLARE_TARGET_ORIGIN;
    req->minor_version = buf[v + 7] == '0' ? 0 : 1;
    return v + 10;
}

static size_t limit_or(size_t v, size_t dflt, size_t cap)
{
    if (v == 0) v = dflt;
    return v < cap ? v : cap;
}

/* Lengths are stored in 32 bits and indexes in 16: limits are capped there (one
 * below for the URI, whose scan looks one byte past the limit). */
static ALWAYS_INLINE void resolve_limits(const flare_http_limits *limits,
                                         const flare_http_request *req, parse_limits *lim)
{
    if (limits) {
        lim->max_uri =
            limit_or(limits->max_uri_bytes, FLARE_HTTP_DEFAULT_MAX_URI_BYTES, UINT32_MAX - 1);
        lim->max_head =
            limit_or(limits->max_header_bytes, FLARE_HTTP_DEFAULT_MAX_HEADER_BYTES, UINT32_MAX);
        lim->max_fields = limit_or(limits->max_headers, FLARE_HTTP_DEFAULT_MAX_HEADERS, INT16_MAX);
    } else {
        lim->max_uri = FLARE_HTTP_DEFAULT_MAX_URI_BYTES;
        lim->max_head = FLARE_HTTP_DEFAULT_MAX_HEADER_BYTES;
        lim->max_fields = FLARE_HTTP_DEFAULT_MAX_HEADERS;
    }
    size_t capacity = req->headers ? req->max_headers_capacity : 0;
    if (capacity < lim->max_fields) lim->max_fields = capacity;
}

static ALWAYS_INLINE ssize_t parse_on_path(int path, const char *buf, size_t len, size_t last_len,
                                           const flare_http_limits *limits, flare_http_request *req,
                                           int *status)
{
    int unused_status;
    if (!status) status = &unused_status;
    *status = 0;
    if (!req || (!buf && len > 0)) return FLARE_EINVAL;
    parse_limits limits_resolved, *lim = &limits_resolved;
    resolve_limits(limits, req, lim);

    /* Nothing past max_head can belong to an acceptable head. */
    size_t window = len < lim->max_head ? len : lim->max_head;
    /* The first chunk is classified before the request line is read, so that
     * both run at once. */
    flare_http__chunk chunk = {0, 0, 0};
    first_chunk(path, buf, window, &chunk);

    size_t pos = fast_request_line(path, buf, window, lim->max_uri, req);
    if (pos == 0) {
        request_line rl;
        int rc = parse_request_line(path_ops(path), buf, window, lim->max_uri, &rl);
        if (rc > 0) return fail(req, status, rc);
        /* A line still open holds no LF: the head is not complete either. */
        if (rc == LINE_MORE) return need_more(req, status, len, lim);
        req->method = rl.method;
        req->method_len = (uint32_t)rl.method_len;
        req->target = rl.target;
        req->target_len = (uint32_t)rl.target_len;
        req->method_id = rl.method_id;
        req->target_form = rl.target_form;
        req->minor_version = rl.minor;
        pos = rl.end;
    }

    /* A resumed call parses nothing until the head end has arrived. Bytes before
     * last_len held neither a head end nor a bare LF (else that call would not
     * have returned INCOMPLETE). */
    if (last_len > 0 && last_len <= window) {
        size_t head_end;
        switch (flare_http__find_head_end(path_ops(path), buf, window, last_len, &head_end)) {
        case FLARE_HTTP__HEAD_BARE_LF:
            return fail(req, status, 400);
        case FLARE_HTTP__HEAD_MORE:
            return need_more(req, status, len, lim);
        default:
            break;
        }
    }

    memset(req->known_index, 0xff, sizeof req->known_index);
    request_fields f = {.fr.content_length = -1, .host_index = -1};
    flare_http_header *h = req->headers;
    size_t count = 0, max_fields = lim->max_fields;
    for (;; count++, h++) {
        size_t line = pos;
        int at = fields_at(buf, pos, window);
        if (at == FIELDS_MORE) break;
        if (at == FIELDS_END) {
            pos += 2;
            goto done;
        }
        int code = 431;
        if (count == max_fields) goto bad;
        code = 400;
        size_t colon, cr;
        int state = next_field_line(path, buf, pos, window, &chunk, &colon, &cr);
        if (state == FIELD_LINE_MORE) break;
        if (state == FIELD_LINE_BAD) goto bad;
        set_field(buf, pos, colon, cr, h);
        uint8_t id = h->id;
        pos = cr + 2;
        if (id == FLARE_HDR_OTHER) continue;
        if (req->known_index[id] < 0) req->known_index[id] = (int16_t)count;
        if (id <= FLARE_HDR_EXPECT) {
            code = take_framing_field(path, &f, h, count, buf, buf + window);
            if (code) goto bad;
        }
        continue;
    bad:
        return field_error(path_ops(path), buf, window, line, len, lim, req, status, code);
    }
    return need_more(req, status, len, lim);

done:
    req->num_headers = count;
    int rc = finish_fields(req, &f);
    if (rc) return fail(req, status, rc);
    *status = 0;
    return (ssize_t)pos;
}

/* Not inlined: the dispatcher below then keeps no frame of its own and only
 * jumps to the path (inlined, the scalar pass made every path pay its prologue). */
__attribute__((noinline)) static ssize_t parse_scalar(const char *buf, size_t len, size_t last_len,
                                                      const flare_http_limits *limits,
                                                      flare_http_request *req, int *status)
{
    return parse_on_path(FLARE_SIMD_SCALAR, buf, len, last_len, limits, req, status);
}

#ifdef FLARE_HTTP_X86_SIMD
FLARE_HTTP__SSE42 static ssize_t parse_sse42(const char *buf, size_t len, size_t last_len,
                                             const flare_http_limits *limits,
                                             flare_http_request *req, int *status)
{
    return parse_on_path(FLARE_SIMD_SSE42, buf, len, last_len, limits, req, status);
}

FLARE_HTTP__AVX2 static ssize_t parse_avx2(const char *buf, size_t len, size_t last_len,
                                           const flare_http_limits *limits, flare_http_request *req,
                                           int *status)
{
    return parse_on_path(FLARE_SIMD_AVX2, buf, len, last_len, limits, req, status);
}

FLARE_HTTP__AVX512 static ssize_t parse_avx512(const char *buf, size_t len, size_t last_len,
                                               const flare_http_limits *limits,
                                               flare_http_request *req, int *status)
{
    return parse_on_path(FLARE_SIMD_AVX512, buf, len, last_len, limits, req, status);
}
#endif

/* The shortest heads the SIMD passes take; shorter ones go to the scalar pass. AVX2
 * reads a head of 32 to 63 bytes as two overlapping blocks (simd.h), and its pass
 * then costs no more than the scalar one (471 against 473 instructions for a 43-byte
 * health check) and less with more fields (flared's worker: 2,253 against 2,374 per
 * 54-byte request, bench/callgrind_plaintext.sh). SSE4.2 reads such a head as four
 * 16-byte blocks, which costs more than the scalar pass (514 against 475), so it
 * keeps the scalar pass up to one whole chunk. Below its block size a path would
 * classify a zero-padded copy, slower still. AVX-512 loads any head under a mask. */
#define AVX2_SHORT_HEAD  32
#define SSE42_SHORT_HEAD 64

ssize_t flare_http_parse_request(const char *buf, size_t len, size_t last_len,
                                 const flare_http_limits *limits, flare_http_request *req,
                                 int *status)
{
    switch (flare_http__path()) {
#ifdef FLARE_HTTP_X86_SIMD
    case FLARE_SIMD_AVX512:
        return parse_avx512(buf, len, last_len, limits, req, status);
    case FLARE_SIMD_AVX2:
        if (len < AVX2_SHORT_HEAD) break;
        return parse_avx2(buf, len, last_len, limits, req, status);
    case FLARE_SIMD_SSE42:
        if (len < SSE42_SHORT_HEAD) break;
        return parse_sse42(buf, len, last_len, limits, req, status);
#endif
    default:
        break;
    }
    return parse_scalar(buf, len, last_len, limits, req, status);
}
