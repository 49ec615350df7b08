/*
 * url.c: http/https (and ws/wss) URL parsing, RFC 3986 §5 reference resolution and the pieces
 * a request needs (request-target, Host). Invariant: a flare_url that parsed holds
 * only visible ASCII with valid percent-escapes, so any field may be copied into a
 * request head as is. Everything a URL owns lives in one allocation (u->mem).
 */
#include "flare/url.h"

#include <ctype.h>
#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/dns.h"
#include "flare/net.h"

/* One component of a reference, by RFC 3986 Appendix B; present even when empty. */
typedef struct span {
    const char *p;
    size_t len;
    bool present;
} span;

typedef struct uri_ref {
    span scheme, authority, path, query, fragment;
} uri_ref;

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* sub-delims (RFC 3986 §2.2) */
static bool is_sub_delim(unsigned char c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* Splits s by the regular expression of RFC 3986 Appendix B (it never fails). */
static void split_ref(const char *s, size_t len, uri_ref *r)
{
    memset(r, 0, sizeof *r);
    size_t i = 0;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (§3.1) */
    if (len && isalpha((unsigned char)s[0])) {
        size_t j = 1;
        while (j < len &&
               (isalnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.'))
            j++;
        if (j < len && s[j] == ':') {
            r->scheme = (span){s, j, true};
            i = j + 1;
        }
    }
    if (len - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
        size_t j = i + 2;
        while (j < len && s[j] != '/' && s[j] != '?' && s[j] != '#')
            j++;
        r->authority = (span){s + i + 2, j - i - 2, true};
        i = j;
    }
    size_t j = i;
    while (j < len && s[j] != '?' && s[j] != '#')
        j++;
    r->path = (span){s + i, j - i, true};
    i = j;
    if (i < len && s[i] == '?') {
        j = i + 1;
        while (j < len && s[j] != '#')
            j++;
        r->query = (span){s + i + 1, j - i - 1, true};
        i = j;
    }
    if (i < len && s[i] == '#') r->fragment = (span){s + i + 1, len - i - 1, true};
}

/* The message shows the URL with controls escaped: an error is one line, never two. */
static int bad(flare_error *err, const char *s, size_t len, size_t off, const char *why)
{
    static const char hex[] = "0123456789abcdef";
    char shown[160];
    size_t o = 0;
    for (size_t i = 0; i < len && o < sizeof shown - 8; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c > 0x20 && c != 0x7f && c < 0x80) {
            shown[o++] = (char)c;
        } else {
            shown[o++] = '\\';
            shown[o++] = 'x';
            shown[o++] = hex[c >> 4];
            shown[o++] = hex[c & 15];
        }
    }
    shown[o] = '\0';
    return flare_error_set(err, FLARE_EURL, 0, "invalid URL \"%s%s\": %s (at offset %zu)", shown,
                           o >= sizeof shown - 8 ? "..." : "", why, off);
}

/* The bytes a component scan stops at: '%' (an escape to check) and the ones
 * RFC 3986 never allows raw, to be encoded: '"' '<' '>' '\\' '^' '`' '{' '|' '}'
 * and everything from 0x80 (controls and SP were refused before). */
static const uint64_t component_stops[4] = {
    (1ull << '"') | (1ull << '%') | (1ull << '<') | (1ull << '>'),
    (1ull << ('\\' - 64)) | (1ull << ('^' - 64)) | (1ull << ('`' - 64)) | (1ull << ('{' - 64)) |
        (1ull << ('|' - 64)) | (1ull << ('}' - 64)),
    UINT64_MAX, UINT64_MAX};

static bool component_stop(unsigned char ch, bool encode_hash)
{
    return ((component_stops[ch >> 6] >> (ch & 63)) & 1) || (encode_hash && ch == '#');
}

/*
 * Appends a path, query or fragment: percent-escapes are checked (§2.1), bytes
 * outside ASCII and the printable characters RFC 3986 never allows raw are encoded
 * (what browsers send), so the result is a valid component. A fragment also has
 * '#' encoded. Runs of plain bytes are appended at once.
 */
static int append_component(flare_buf *b, const char *url, size_t url_len, span c, bool encode_hash,
                            flare_error *err)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < c.len) {
        size_t run = i;
        while (run < c.len && !component_stop((unsigned char)c.p[run], encode_hash))
            run++;
        int rc = run > i ? flare_buf_append(b, c.p + i, run - i) : 0;
        i = run;
        if (rc == 0 && i < c.len) {
            unsigned char ch = (unsigned char)c.p[i];
            if (ch == '%') {
                if (i + 2 >= c.len || hexval(c.p[i + 1]) < 0 || hexval(c.p[i + 2]) < 0)
                    return bad(err, url, url_len, (size_t)(c.p + i - url),
                               "'%' must be followed by two hex digits");
                rc = flare_buf_append(b, c.p + i, 3);
                i += 3;
            } else {
                char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
                rc = flare_buf_append(b, esc, 3);
                i++;
            }
        }
        if (rc < 0) return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    }
    return 0;
}

/* Drops the last segment of out and the "/" before it (RFC 3986 §5.2.4 step 2C). */
static void drop_last_segment(flare_buf *out)
{
    while (out->len > 0 && out->data[out->len - 1] != '/')
        out->len--;
    if (out->len > 0) out->len--;
}

/* remove_dot_segments (RFC 3986 §5.2.4), appending the result to out. */
static int remove_dot_segments(const char *path, size_t len, flare_buf *out)
{
    /* Most paths have no dot segment: a segment starts the path or follows a '/'. */
    if (path[0] != '.' && !memmem(path, len, "/.", 2)) return flare_buf_append(out, path, len);
    size_t base = out->len;
    char *in = malloc(len + 1);
    if (!in) return FLARE_ENOMEM;
    memcpy(in, path, len);
    in[len] = '\0';
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        const char *p = in + i;
        size_t left = len - i;
        if (left >= 3 && !memcmp(p, "../", 3)) {
            i += 3; /* A */
        } else if (left >= 2 && !memcmp(p, "./", 2)) {
            i += 2;
        } else if (left >= 3 && !memcmp(p, "/./", 3)) {
            i += 2; /* B: "/./" becomes "/" */
        } else if (left == 2 && !memcmp(p, "/.", 2)) {
            in[i + 1] = '/';
            i += 1;
        } else if (left >= 4 && !memcmp(p, "/../", 4)) {
            i += 3; /* C */
            drop_last_segment(out);
            if (out->len < base) out->len = base;
        } else if (left == 3 && !memcmp(p, "/..", 3)) {
            in[i + 2] = '/';
            i += 2;
            drop_last_segment(out);
            if (out->len < base) out->len = base;
        } else if ((left == 1 && p[0] == '.') || (left == 2 && !memcmp(p, "..", 2))) {
            i = len; /* D */
        } else {
            size_t j = i + (p[0] == '/' ? 1 : 0); /* E: move one segment */
            while (j < len && in[j] != '/')
                j++;
            rc = flare_buf_append(out, p, j - i);
            i = j;
        }
    }
    free(in);
    return rc;
}

/* Parses "[v6]" (with an optional RFC 6874 zone "%25id") into the host text: the
 * address lowercased (RFC 5952 §4.3), the zone as written, since an interface name
 * is case-sensitive ("%25LO" is not "lo"). */
static int parse_ip_literal(const char *url, size_t url_len, const char *p, size_t len,
                            flare_buf *host, flare_error *err)
{
    size_t off = (size_t)(p - url);
    if (len > 0 && (p[0] == 'v' || p[0] == 'V'))
        return bad(err, url, url_len, off, "IPvFuture addresses are not supported");
    char text[FLARE_IP_STR_MAX + 8];
    size_t n = 0;
    bool zone = false;
    for (size_t i = 0; i < len; i++) {
        if (n + 1 >= sizeof text) return bad(err, url, url_len, off, "IPv6 literal too long");
        /* §6874: the zone separator is written "%25" in a URI. */
        if (p[i] == '%') {
            if (i + 2 >= len || p[i + 1] != '2' || p[i + 2] != '5')
                return bad(err, url, url_len, off + i, "an IPv6 zone must start with \"%25\"");
            i += 2;
            text[n++] = '%';
            zone = true;
            continue;
        }
        text[n++] = zone ? p[i] : (char)tolower((unsigned char)p[i]);
    }
    flare_ip_addr ip;
    flare_error ipe;
    if (flare_ip_parse(&ip, text, n, &ipe) < 0 || ip.family != AF_INET6)
        return bad(err, url, url_len, off, "not a valid IPv6 address in brackets");
    if (flare_buf_append(host, text, n) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    return 0;
}

/*
 * A host name written in Unicode (UTF-8), as users type and some servers' Locations
 * carry it, appended as the A-label name the network knows ("xn--..."): IDNA2008 with
 * UTS #46 non-transitional mapping, which also lowercases, and transitional mapping
 * for the names it disallows, as curl does with libidn2. curl also retries after any
 * other failure: a name that breaks the bidi rule (RFC 5893) or the joiner rule
 * (RFC 5892 Appendix A: "a" U+200D "b" would go as "ab") stays refused here, as the
 * WHATWG URL standard (CheckBidi, CheckJoiners) has browsers refuse it.
 */
static int append_idn_host(const char *url, size_t url_len, const char *host, size_t n,
                           flare_buf *mem, flare_error *err)
{
    size_t at = (size_t)(host - url);
    char text[4 * FLARE_HOSTNAME_MAX + 1]; /* UTF-8 of a name that may fit once encoded */
    if (n >= sizeof text) return bad(err, url, url_len, at, "host name too long");
    memcpy(text, host, n);
    text[n] = '\0';
    char *ascii = NULL;
    int rc = idn2_to_ascii_8z(text, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc == IDN2_DISALLOWED)
        rc = idn2_to_ascii_8z(text, &ascii, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
    if (rc != IDN2_OK) {
        char why[120];
        snprintf(why, sizeof why, "not a valid international host name (%s)", idn2_strerror(rc));
        return bad(err, url, url_len, at, why);
    }
    /* UTS #46 maps some characters to ASCII delimiters (U+FF1A to ':', U+2100 to
     * "a/c", U+FF20 to '@'): the name they make is refused like one typed so, and
     * the message shows it, since the URL as typed has no such character. */
    flare_error he;
    if (flare_hostname_validate(ascii, strlen(ascii), &he) < 0) {
        char why[FLARE_ERROR_MESSAGE_MAX];
        snprintf(why, sizeof why, "not a valid host name once mapped by IDNA to \"%.80s\" (%.200s)",
                 ascii, he.message);
        rc = bad(err, url, url_len, at, why);
    } else if (flare_buf_append_str(mem, ascii) < 0) {
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    }
    idn2_free(ascii);
    return rc;
}

/* Field offsets into the storage while it is being built (it may move). */
typedef struct url_offsets {
    long scheme, userinfo, user, password, host, path, query, fragment;
} url_offsets;

static int push_nul(flare_buf *b)
{
    return flare_buf_append(b, "", 1);
}

static int parse_authority(const char *s, size_t len, span auth, flare_url *u, flare_buf *mem,
                           url_offsets *off, flare_error *err)
{
    const char *p = auth.p, *end = auth.p + auth.len;
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q; /* userinfo ends at the last '@' */
    if (at) {
        for (const char *q = p; q < at; q++) {
            unsigned char c = (unsigned char)*q;
            if (c == '%') {
                if (at - q < 3 || hexval(q[1]) < 0 || hexval(q[2]) < 0)
                    return bad(err, s, len, (size_t)(q - s), "bad percent-escape in userinfo");
            } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':' && c != '@') {
                /* a raw '@' before the last one is taken as data, as browsers do */
                return bad(err, s, len, (size_t)(q - s), "character not allowed in userinfo");
            }
        }
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        off->userinfo = (long)mem->len;
        if (flare_buf_append(mem, p, (size_t)(at - p)) < 0 || push_nul(mem) < 0) goto nomem;
        off->user = (long)mem->len;
        if (flare_buf_reserve(mem, (size_t)(user_end - p) + 1) < 0) goto nomem;
        mem->len += (size_t)flare_url_percent_decode(p, (size_t)(user_end - p),
                                                     mem->data + mem->len, false);
        if (push_nul(mem) < 0) goto nomem;
        if (colon) {
            off->password = (long)mem->len;
            if (flare_buf_reserve(mem, (size_t)(at - colon)) < 0) goto nomem;
            mem->len += (size_t)flare_url_percent_decode(colon + 1, (size_t)(at - colon - 1),
                                                         mem->data + mem->len, false);
            if (push_nul(mem) < 0) goto nomem;
        }
        p = at + 1;
    }
    const char *port = NULL;
    off->host = (long)mem->len;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close) return bad(err, s, len, (size_t)(p - s), "'[' without ']'");
        int rc = parse_ip_literal(s, len, p + 1, (size_t)(close - p - 1), mem, err);
        if (rc < 0) return rc;
        u->ipv6 = true;
        if (close + 1 < end) {
            if (close[1] != ':') return bad(err, s, len, (size_t)(close + 1 - s), "junk after ']'");
            port = close + 2;
        }
    } else {
        const char *colon = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':') colon = q;
        const char *host_end = colon ? colon : end;
        if (host_end == p) return bad(err, s, len, (size_t)(p - s), "no host");
        bool ascii = true;
        for (const char *q = p; q < host_end; q++) {
            if (*q == '%' || *q == '[' || *q == ']')
                return bad(err, s, len, (size_t)(q - s), "character not allowed in a host name");
            if ((unsigned char)*q >= 0x80) ascii = false;
        }
        if (!ascii) {
            int rc = append_idn_host(s, len, p, (size_t)(host_end - p), mem, err);
            if (rc < 0) return rc;
        } else {
            flare_error he;
            if (flare_hostname_validate(p, (size_t)(host_end - p), &he) < 0)
                return bad(err, s, len, (size_t)(p - s), "not a valid host name");
            for (const char *q = p; q < host_end; q++) {
                char c = (char)tolower((unsigned char)*q); /* §3.2.2: case-insensitive */
                if (flare_buf_append(mem, &c, 1) < 0) goto nomem;
            }
        }
        if (colon) port = colon + 1;
    }
    if (push_nul(mem) < 0) goto nomem;
    /* §3.2.3: an empty port means the scheme's default. */
    if (port && port < end) {
        unsigned long v = 0;
        for (const char *q = port; q < end; q++) {
            if (*q < '0' || *q > '9')
                return bad(err, s, len, (size_t)(q - s), "port is not a number");
            v = v * 10 + (unsigned long)(*q - '0');
            if (v > 65535) return bad(err, s, len, (size_t)(port - s), "port above 65535");
        }
        if (v == 0) return bad(err, s, len, (size_t)(port - s), "port 0");
        u->port = (uint16_t)v;
        u->explicit_port = true;
    }
    return 0;
nomem:
    return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
}

static const char *field(const flare_buf *mem, long off)
{
    return off < 0 ? NULL : mem->data + off;
}

/* A missing or unsupported scheme, and the ones expected instead. */
static int bad_scheme(flare_error *err, const char *s, size_t len, unsigned schemes, bool none)
{
    char why[80];
    snprintf(why, sizeof why, "%s scheme (expected %s)", none ? "no" : "unsupported",
             schemes == FLARE_URL_WS     ? "ws:// or wss://"
             : schemes == FLARE_URL_HTTP ? "http:// or https://"
                                         : "http://, https://, ws:// or wss://");
    return bad(err, s, len, 0, why);
}

int flare_url_parse(flare_url *u, const char *s, size_t len, flare_error *err)
{
    return flare_url_parse_schemes(u, s, len, FLARE_URL_HTTP, err);
}

int flare_url_parse_schemes(flare_url *u, const char *s, size_t len, unsigned schemes,
                            flare_error *err)
{
    memset(u, 0, sizeof *u);
    if (!s) return flare_error_set(err, FLARE_EURL, 0, "invalid URL: NULL");
    if (len > FLARE_URL_MAX)
        return flare_error_set(err, FLARE_EURL, 0, "invalid URL: %zu bytes, more than %d", len,
                               FLARE_URL_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* No control bytes or spaces: they would split a request line or a header. */
        if (c <= 0x20 || c == 0x7f)
            return bad(err, s, len, i, c == ' ' ? "space (encode it as %20)" : "control character");
    }
    uri_ref r;
    split_ref(s, len, &r);
    if (!r.scheme.present) return bad_scheme(err, s, len, schemes, true);
    char scheme[8];
    if (r.scheme.len >= sizeof scheme) return bad_scheme(err, s, len, schemes, false);
    for (size_t i = 0; i < r.scheme.len; i++)
        scheme[i] = (char)tolower((unsigned char)r.scheme.p[i]); /* §3.1 */
    scheme[r.scheme.len] = '\0';
    uint16_t default_port = flare_url_default_port(scheme);
    bool ws = scheme[0] == 'w';
    if (!default_port || !(schemes & (ws ? FLARE_URL_WS : FLARE_URL_HTTP)))
        return bad_scheme(err, s, len, schemes, false);
    if (!r.authority.present) return bad(err, s, len, r.scheme.len + 1, "no \"//\" and host");
    /* RFC 6455 §3: ws-URI = "ws:" "//" host [ ":" port ] path [ "?" query ]. */
    const char *at = ws ? memchr(r.authority.p, '@', r.authority.len) : NULL;
    if (at) return bad(err, s, len, (size_t)(at - s), "userinfo is not allowed (RFC 6455 §3)");
    if (ws && r.fragment.present)
        return bad(err, s, len, (size_t)(r.fragment.p - 1 - s),
                   "a fragment is not allowed (RFC 6455 §3: write '#' as %23)");

    flare_buf mem = FLARE_BUF_INIT;
    url_offsets off = {-1, -1, -1, -1, -1, -1, -1, -1};
    int rc = FLARE_ENOMEM;
    if (flare_buf_reserve(&mem, len + 32) < 0) goto nomem;
    off.scheme = 0;
    if (flare_buf_append(&mem, scheme, r.scheme.len + 1) < 0) goto nomem;
    u->port = default_port;
    rc = parse_authority(s, len, r.authority, u, &mem, &off, err);
    if (rc < 0) goto fail;

    /* The path, escapes checked, then normalised (§5.2.4; §6.2.2.3). */
    flare_buf raw = FLARE_BUF_INIT;
    rc = append_component(&raw, s, len, r.path, false, err);
    if (rc == 0) {
        off.path = (long)mem.len;
        if (raw.len == 0 || raw.data[0] != '/') {
            /* http(s) URIs always have an absolute path; "" is "/" (RFC 9110 §4.2.1). */
            if (flare_buf_append(&mem, "/", 1) < 0) rc = FLARE_ENOMEM;
        }
        if (rc == 0 && raw.len && remove_dot_segments(raw.data, raw.len, &mem) < 0)
            rc = FLARE_ENOMEM;
        if (rc == 0 && mem.len == (size_t)off.path && flare_buf_append(&mem, "/", 1) < 0)
            rc = FLARE_ENOMEM;
        if (rc == 0 && push_nul(&mem) < 0) rc = FLARE_ENOMEM;
    }
    flare_buf_free(&raw);
    if (rc == FLARE_ENOMEM) goto nomem;
    if (rc < 0) goto fail;
    if (r.query.present) {
        off.query = (long)mem.len;
        if ((rc = append_component(&mem, s, len, r.query, false, err)) < 0) goto fail;
        if (push_nul(&mem) < 0) goto nomem;
    }
    if (r.fragment.present) {
        off.fragment = (long)mem.len;
        if ((rc = append_component(&mem, s, len, r.fragment, true, err)) < 0) goto fail;
        if (push_nul(&mem) < 0) goto nomem;
    }
    u->mem = mem.data;
    u->scheme = field(&mem, off.scheme);
    u->userinfo = field(&mem, off.userinfo);
    u->user = field(&mem, off.user);
    u->password = field(&mem, off.password);
    u->host = field(&mem, off.host);
    u->path = field(&mem, off.path);
    u->query = field(&mem, off.query);
    u->fragment = field(&mem, off.fragment);
    return 0;
nomem:
    rc = flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
fail:
    flare_buf_free(&mem);
    memset(u, 0, sizeof *u);
    return rc;
}

void flare_url_free(flare_url *u)
{
    if (!u) return;
    free(u->mem);
    memset(u, 0, sizeof *u);
}

/* Appends the host as written in a URI: brackets and "%25" for IPv6 (RFC 6874). */
static int append_uri_host(const flare_url *u, flare_buf *out, bool with_zone)
{
    if (!u->ipv6) return flare_buf_append_str(out, u->host);
    const char *zone = strchr(u->host, '%');
    size_t addr_len = zone ? (size_t)(zone - u->host) : strlen(u->host);
    int rc = flare_buf_append(out, "[", 1);
    if (rc == 0) rc = flare_buf_append(out, u->host, addr_len);
    if (rc == 0 && zone && with_zone) rc = flare_buf_appendf(out, "%%25%s", zone + 1);
    if (rc == 0) rc = flare_buf_append(out, "]", 1);
    return rc;
}

int flare_url_format(const flare_url *u, unsigned flags, flare_buf *out)
{
    int rc = flare_buf_appendf(out, "%s://", u->scheme);
    if (rc == 0 && (flags & FLARE_URL_FMT_USERINFO) && u->userinfo)
        rc = flare_buf_appendf(out, "%s@", u->userinfo);
    if (rc == 0) rc = append_uri_host(u, out, true);
    if (rc == 0 && u->explicit_port) rc = flare_buf_appendf(out, ":%u", u->port);
    if (rc == 0) rc = flare_url_target(u, out);
    if (rc == 0 && (flags & FLARE_URL_FMT_FRAGMENT) && u->fragment)
        rc = flare_buf_appendf(out, "#%s", u->fragment);
    return rc;
}

int flare_url_target(const flare_url *u, flare_buf *out)
{
    int rc = flare_buf_append_str(out, u->path);
    if (rc == 0 && u->query) rc = flare_buf_appendf(out, "?%s", u->query);
    return rc;
}

int flare_url_host_header(const flare_url *u, flare_buf *out)
{
    int rc = append_uri_host(u, out, false);
    if (rc == 0 && u->port != flare_url_default_port(u->scheme))
        rc = flare_buf_appendf(out, ":%u", u->port);
    return rc;
}

bool flare_url_same_origin(const flare_url *a, const flare_url *b)
{
    return a->scheme && b->scheme && !strcmp(a->scheme, b->scheme) && !strcmp(a->host, b->host) &&
           a->port == b->port;
}

bool flare_url_is_https(const flare_url *u)
{
    return u->scheme && !strcmp(u->scheme, "https");
}

uint16_t flare_url_default_port(const char *scheme)
{
    if (!scheme) return 0;
    if (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "ws")) return 80;
    if (!strcasecmp(scheme, "https") || !strcasecmp(scheme, "wss")) return 443;
    return 0;
}

int flare_url_copy(flare_url *dst, const flare_url *src, flare_error *err)
{
    flare_buf b = FLARE_BUF_INIT;
    int rc = flare_url_format(src, FLARE_URL_FMT_USERINFO | FLARE_URL_FMT_FRAGMENT, &b);
    if (rc < 0) {
        memset(dst, 0, sizeof *dst);
        return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    }
    rc = flare_url_parse_schemes(dst, b.data, b.len, FLARE_URL_HTTP | FLARE_URL_WS, err);
    flare_buf_free(&b);
    return rc;
}

static int append_span(flare_buf *b, const char *prefix, span sp)
{
    if (!sp.present) return 0;
    int rc = prefix ? flare_buf_append_str(b, prefix) : 0;
    return rc == 0 ? flare_buf_append(b, sp.p, sp.len) : rc;
}

/*
 * ref into out with each space after the authority as "%20": servers send Locations
 * with raw spaces, and curl and browsers follow them so. Bytes from 0x80 are left to
 * flare_url_parse, which encodes them; controls stay, for it to refuse.
 */
static int spaces_encoded(const char *ref, size_t len, flare_buf *out)
{
    uri_ref r;
    split_ref(ref, len, &r);
    const char *p = r.path.p, *end = ref + len;
    int rc = flare_buf_append(out, ref, (size_t)(p - ref));
    while (rc == 0 && p < end) {
        const char *space = memchr(p, ' ', (size_t)(end - p));
        const char *stop = space ? space : end;
        rc = flare_buf_append(out, p, (size_t)(stop - p));
        if (rc == 0 && space) rc = flare_buf_append(out, "%20", 3);
        p = space ? space + 1 : end;
    }
    /* an empty reference still needs storage: the split points into it */
    return rc == 0 ? flare_buf_reserve(out, 1) : rc;
}

int flare_url_resolve(flare_url *out, const flare_url *base, const char *ref, size_t len,
                      flare_error *err)
{
    memset(out, 0, sizeof *out);
    if (!ref || !base || !base->scheme)
        return flare_error_set(err, FLARE_EURL, 0, "resolve URL: NULL reference or base");
    if (len > FLARE_URL_MAX)
        return flare_error_set(err, FLARE_EURL, 0, "invalid URL reference: %zu bytes", len);
    flare_buf sent = FLARE_BUF_INIT;
    if (spaces_encoded(ref, len, &sent) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    ref = sent.data;
    len = sent.len;
    uri_ref r;
    split_ref(ref, len, &r);
    flare_buf t = FLARE_BUF_INIT;
    int rc = 0;
    /* RFC 3986 §5.2.2 (strict); the final parse removes dot segments of every path. */
    if (r.scheme.present) {
        rc = flare_buf_append(&t, ref, len);
    } else {
        rc = flare_buf_appendf(&t, "%s:", base->scheme);
        if (r.authority.present) {
            if (rc == 0) rc = append_span(&t, "//", r.authority);
            if (rc == 0) rc = append_span(&t, NULL, r.path);
            if (rc == 0) rc = append_span(&t, "?", r.query);
        } else {
            if (rc == 0) rc = flare_buf_append(&t, "//", 2);
            if (rc == 0 && base->userinfo) rc = flare_buf_appendf(&t, "%s@", base->userinfo);
            if (rc == 0) rc = append_uri_host(base, &t, true);
            if (rc == 0 && base->explicit_port) rc = flare_buf_appendf(&t, ":%u", base->port);
            if (r.path.len == 0) {
                if (rc == 0) rc = flare_buf_append_str(&t, base->path);
                if (rc == 0) {
                    if (r.query.present)
                        rc = append_span(&t, "?", r.query);
                    else if (base->query)
                        rc = flare_buf_appendf(&t, "?%s", base->query);
                }
            } else {
                if (r.path.p[0] != '/' && rc == 0) {
                    /* §5.2.3 merge: the base path up to its last '/'. */
                    const char *slash = strrchr(base->path, '/');
                    rc = flare_buf_append(&t, base->path, (size_t)(slash - base->path) + 1);
                }
                if (rc == 0) rc = append_span(&t, NULL, r.path);
                if (rc == 0) rc = append_span(&t, "?", r.query);
            }
        }
    }
    if (rc == 0) rc = append_span(&t, "#", r.fragment);
    flare_buf_free(&sent);
    if (rc < 0) {
        flare_buf_free(&t);
        return flare_error_set(err, FLARE_ENOMEM, 0, "URL: out of memory");
    }
    rc = flare_url_parse(out, t.data, t.len, err);
    flare_buf_free(&t);
    return rc;
}

ssize_t flare_url_percent_decode(const char *in, size_t len, char *out, bool plus_as_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%') {
            if (i + 2 >= len) return FLARE_EURL;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0) return FLARE_EURL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = plus_as_space && in[i] == '+' ? ' ' : in[i];
        }
    }
    return (ssize_t)o;
}

int flare_url_percent_encode(flare_buf *out, const char *in, size_t len, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    if (flare_buf_reserve(out, len) < 0) return FLARE_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int rc;
        if (is_unreserved(c) || (c && keep && strchr(keep, c))) {
            rc = flare_buf_append(out, &in[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = flare_buf_append(out, esc, 3);
        }
        if (rc < 0) return rc;
    }
    return 0;
}
