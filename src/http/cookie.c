/*
 * cookie.c: the cookie type and its text forms (RFC 6265): the Set-Cookie parser
 * of §5.2 (lenient, as a user agent must be), the cookie-date algorithm of
 * §5.1.1, the Cookie header splitter and the Set-Cookie serialiser of §4.1.
 * Invariant: a flare_cookie built by init/setters or the parser holds no control
 * characters, ';' in attribute values or CR/LF anywhere, so it can go in a header.
 */
#include "flare/cookie.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* cookie-octet (RFC 6265 §4.1.1): visible ASCII but DQUOTE, comma, ';' and '\'. */
static bool is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
           (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/* A cookie-name is a token (RFC 6265 §4.1.1). */
static bool valid_name(const char *s, size_t len)
{
    return flare_http_is_token(s, len);
}

/* cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ) */
static bool valid_value(const char *s, size_t len)
{
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_cookie_octet((unsigned char)s[i])) return false;
    return true;
}

/* Attribute values may hold any CHAR but controls and ';' (§4.1.1 av-octet). */
static bool valid_av(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ';') return false;
    }
    return true;
}

static bool has_ctl(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
    }
    return false;
}

int flare_cookie_init(flare_cookie *c, const char *name, const char *value, flare_error *err)
{
    memset(c, 0, sizeof *c);
    if (!name || !valid_name(name, strlen(name)))
        return flare_error_set(err, FLARE_EINVAL, 0, "cookie: name \"%s\" is not a token",
                               name ? name : "(null)");
    if (!value) value = "";
    if (!valid_value(value, strlen(value)))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "cookie %s: value holds a space, quote, comma, ';', '\\' or a "
                               "control character",
                               name);
    if (strlen(name) + strlen(value) > FLARE_COOKIE_MAX_NAME_VALUE)
        return flare_error_set(err, FLARE_EINVAL, 0, "cookie %s: name and value over %d bytes",
                               name, FLARE_COOKIE_MAX_NAME_VALUE);
    c->name = strdup(name);
    c->value = strdup(value);
    if (!c->name || !c->value) {
        flare_cookie_free(c);
        return flare_error_set(err, FLARE_ENOMEM, 0, "cookie: out of memory");
    }
    return 0;
}

static int set_string(char **slot, const char *s, size_t len, bool lower, flare_error *err)
{
    char *copy = malloc(len + 1);
    if (!copy) return flare_error_set(err, FLARE_ENOMEM, 0, "cookie: out of memory");
    for (size_t i = 0; i < len; i++)
        copy[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    copy[len] = '\0';
    free(*slot);
    *slot = copy;
    return 0;
}

int flare_cookie_set_domain(flare_cookie *c, const char *domain, flare_error *err)
{
    if (!domain) {
        free(c->domain);
        c->domain = NULL;
        return 0;
    }
    if (domain[0] == '.') domain++; /* §5.2.3: a leading dot is ignored */
    size_t len = strlen(domain);
    if (len == 0 || len > FLARE_COOKIE_MAX_ATTRIBUTE || !valid_av(domain, len) ||
        strchr(domain, ' '))
        return flare_error_set(err, FLARE_EINVAL, 0, "cookie: bad Domain \"%s\"", domain);
    return set_string(&c->domain, domain, len, true, err);
}

int flare_cookie_set_path(flare_cookie *c, const char *path, flare_error *err)
{
    if (!path) {
        free(c->path);
        c->path = NULL;
        return 0;
    }
    size_t len = strlen(path);
    if (path[0] != '/' || len > FLARE_COOKIE_MAX_ATTRIBUTE || !valid_av(path, len))
        return flare_error_set(err, FLARE_EINVAL, 0, "cookie: bad Path \"%s\"", path);
    return set_string(&c->path, path, len, false, err);
}

int flare_cookie_copy(flare_cookie *dst, const flare_cookie *src, flare_error *err)
{
    *dst = *src;
    dst->name = dst->value = dst->domain = dst->path = NULL;
    if ((src->name && !(dst->name = strdup(src->name))) ||
        (src->value && !(dst->value = strdup(src->value))) ||
        (src->domain && !(dst->domain = strdup(src->domain))) ||
        (src->path && !(dst->path = strdup(src->path)))) {
        flare_cookie_free(dst);
        return flare_error_set(err, FLARE_ENOMEM, 0, "cookie: out of memory");
    }
    return 0;
}

void flare_cookie_free(flare_cookie *c)
{
    if (!c) return;
    free(c->name);
    free(c->value);
    free(c->domain);
    free(c->path);
    memset(c, 0, sizeof *c);
}

/* Trims spaces and tabs (WSP) from both ends of [*p, *p + *len). */
static void trim(const char **p, size_t *len)
{
    while (*len && (**p == ' ' || **p == '\t')) {
        (*p)++;
        (*len)--;
    }
    while (*len && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
        (*len)--;
}

static bool name_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && !strncasecmp(s, lit, len);
}

/* Max-Age (§5.2.2): an optional '-' then digits; huge values saturate. */
static bool parse_max_age(const char *v, size_t len, int64_t *out)
{
    if (len == 0) return false;
    bool neg = v[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == len) return false;
    int64_t n = 0;
    for (; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return false;
        if (n < INT64_MAX / 20) n = n * 10 + (v[i] - '0');
    }
    *out = neg ? -n : n;
    return true;
}

static void apply_attribute(flare_cookie *c, const char *name, size_t name_len, const char *v,
                            size_t vlen)
{
    if (vlen > FLARE_COOKIE_MAX_ATTRIBUTE || has_ctl(v, vlen)) return; /* ignored */
    if (name_is(name, name_len, "expires")) {
        int64_t t;
        if (flare_cookie_parse_date(v, vlen, &t) == 0) {
            c->expires = t;
            c->has_expires = true;
        }
    } else if (name_is(name, name_len, "max-age")) {
        int64_t delta;
        if (parse_max_age(v, vlen, &delta)) {
            c->max_age = delta;
            c->has_max_age = true;
        }
    } else if (name_is(name, name_len, "domain")) {
        if (vlen && v[0] == '.') {
            v++;
            vlen--;
        }
        /* An empty Domain is ignored (RFC 6265bis §5.6.3). */
        if (vlen) set_string(&c->domain, v, vlen, true, NULL);
    } else if (name_is(name, name_len, "path")) {
        /* §5.2.4: a value not starting with '/' means the default path. */
        if (vlen && v[0] == '/')
            set_string(&c->path, v, vlen, false, NULL);
        else {
            free(c->path);
            c->path = NULL;
        }
    } else if (name_is(name, name_len, "secure")) {
        c->secure = true;
    } else if (name_is(name, name_len, "httponly")) {
        c->http_only = true;
    } else if (name_is(name, name_len, "samesite")) {
        if (name_is(v, vlen, "strict"))
            c->same_site = FLARE_SAMESITE_STRICT;
        else if (name_is(v, vlen, "lax"))
            c->same_site = FLARE_SAMESITE_LAX;
        else if (name_is(v, vlen, "none"))
            c->same_site = FLARE_SAMESITE_NONE;
    }
}

int flare_cookie_parse_set_cookie(flare_cookie *out, const char *s, size_t len, flare_error *err)
{
    memset(out, 0, sizeof *out);
    if (!s) return flare_error_set(err, FLARE_EPARSE, 0, "Set-Cookie: NULL");
    const char *semi = memchr(s, ';', len);
    size_t pair_len = semi ? (size_t)(semi - s) : len;
    const char *eq = memchr(s, '=', pair_len);
    if (!eq) return flare_error_set(err, FLARE_EPARSE, 0, "Set-Cookie: no '=' in the name=value");
    const char *name = s, *value = eq + 1;
    size_t name_len = (size_t)(eq - s), value_len = pair_len - name_len - 1;
    trim(&name, &name_len);
    trim(&value, &value_len);
    if (name_len == 0) return flare_error_set(err, FLARE_EPARSE, 0, "Set-Cookie: empty name");
    if (has_ctl(name, name_len) || has_ctl(value, value_len))
        return flare_error_set(err, FLARE_EPARSE, 0, "Set-Cookie: control character");
    if (name_len + value_len > FLARE_COOKIE_MAX_NAME_VALUE)
        return flare_error_set(err, FLARE_EPARSE, 0, "Set-Cookie: name and value over %d bytes",
                               FLARE_COOKIE_MAX_NAME_VALUE);
    /* What a server sends is not ours to judge beyond §5.2, but the value must
     * be safe to send back in a Cookie header: no ';' can be in it by the split. */
    if (set_string(&out->name, name, name_len, false, err) < 0 ||
        set_string(&out->value, value, value_len, false, err) < 0) {
        flare_cookie_free(out);
        return FLARE_ENOMEM;
    }
    const char *p = semi, *end = s + len;
    while (p && p < end) {
        p++; /* the ';' */
        const char *next = memchr(p, ';', (size_t)(end - p));
        const char *av_end = next ? next : end;
        const char *aeq = memchr(p, '=', (size_t)(av_end - p));
        const char *an = p, *av = aeq ? aeq + 1 : av_end;
        size_t an_len = (size_t)((aeq ? aeq : av_end) - p), av_len = (size_t)(av_end - av);
        trim(&an, &an_len);
        trim(&av, &av_len);
        apply_attribute(out, an, an_len, av, av_len);
        p = next;
    }
    return 0;
}

ssize_t flare_cookie_parse_header(const char *s, size_t len, flare_cookie_pair *pairs, size_t max,
                                  flare_error *err)
{
    size_t n = 0;
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *piece_end = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(piece_end - p));
        if (eq) {
            const char *name = p, *value = eq + 1;
            size_t name_len = (size_t)(eq - p), value_len = (size_t)(piece_end - value);
            trim(&name, &name_len);
            trim(&value, &value_len);
            if (name_len > 0) {
                if (n == max)
                    return flare_error_set(err, FLARE_ELIMIT, 0,
                                           "Cookie header: more than %zu cookies", max);
                pairs[n++] = (flare_cookie_pair){name, name_len, value, value_len};
            }
        }
        p = semi ? semi + 1 : end;
    }
    return (ssize_t)n;
}

/* §5.1.1 delimiter: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E */
static bool is_date_delim(unsigned char c)
{
    return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* Reads min..max digits then requires a non-digit or the end: the digit count, or 0. */
static size_t digits(const char *t, size_t len, size_t min, size_t max, int *value)
{
    size_t i = 0;
    int v = 0;
    while (i < len && i < max && isdigit((unsigned char)t[i]))
        v = v * 10 + (t[i++] - '0');
    if (i < min || (i < len && isdigit((unsigned char)t[i]))) return 0;
    *value = v;
    return i;
}

/* hms-time = time-field ":" time-field ":" time-field, then ( non-digit *OCTET ) */
static bool match_time(const char *t, size_t len, int *h, int *m, int *s)
{
    size_t a = digits(t, len, 1, 2, h);
    if (!a || a >= len || t[a] != ':') return false;
    size_t b = digits(t + a + 1, len - a - 1, 1, 2, m);
    if (!b || a + 1 + b >= len || t[a + 1 + b] != ':') return false;
    return digits(t + a + b + 2, len - a - b - 2, 1, 2, s) != 0;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int flare_cookie_parse_date(const char *s, size_t len, int64_t *out)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    bool found_time = false, found_day = false, found_month = false, found_year = false;
    int hour = 0, minute = 0, second = 0, day = 0, month = 0, year = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_date_delim((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < len && !is_date_delim((unsigned char)s[i]))
            i++;
        const char *t = s + start;
        size_t tl = i - start;
        if (tl == 0) continue;
        int v;
        if (!found_time && match_time(t, tl, &hour, &minute, &second)) {
            found_time = true;
        } else if (!found_day && digits(t, tl, 1, 2, &v)) {
            found_day = true;
            day = v;
        } else if (!found_month && tl >= 3) {
            char m3[3] = {(char)tolower((unsigned char)t[0]), (char)tolower((unsigned char)t[1]),
                          (char)tolower((unsigned char)t[2])};
            for (int k = 0; k < 12; k++)
                if (!memcmp(months + 3 * k, m3, 3)) {
                    month = k + 1;
                    found_month = true;
                }
            if (!found_month && !found_year && digits(t, tl, 2, 4, &v)) {
                found_year = true;
                year = v;
            }
        } else if (!found_year && digits(t, tl, 2, 4, &v)) {
            found_year = true;
            year = v;
        }
    }
    if (!found_time || !found_day || !found_month || !found_year) return FLARE_EPARSE;
    if (year >= 70 && year <= 99) year += 1900;
    if (year >= 0 && year <= 69) year += 2000;
    if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59)
        return FLARE_EPARSE;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[month - 1] + (month == 2 && leap)) return FLARE_EPARSE; /* no such date */
    *out = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return 0;
}

int flare_cookie_serialize(const flare_cookie *c, flare_buf *out)
{
    int rc = flare_buf_appendf(out, "%s=%s", c->name ? c->name : "", c->value ? c->value : "");
    if (rc == 0 && c->domain) rc = flare_buf_appendf(out, "; Domain=%s", c->domain);
    if (rc == 0 && c->path) rc = flare_buf_appendf(out, "; Path=%s", c->path);
    if (rc == 0 && c->has_expires) {
        char date[FLARE_IMF_FIXDATE_LEN + 1];
        /* IMF-fixdate needs a 4-digit year: clamp to 1970..9999. */
        int64_t t = c->expires < 0 ? 0 : c->expires > 253402300799 ? 253402300799 : c->expires;
        flare_format_http_date((time_t)t, date);
        rc = flare_buf_appendf(out, "; Expires=%s", date);
    }
    if (rc == 0 && c->has_max_age)
        rc = flare_buf_appendf(out, "; Max-Age=%lld", (long long)c->max_age);
    if (rc == 0 && c->secure) rc = flare_buf_append_str(out, "; Secure");
    if (rc == 0 && c->http_only) rc = flare_buf_append_str(out, "; HttpOnly");
    static const char *const same_site[] = {NULL, "Strict", "Lax", "None"};
    if (rc == 0 && c->same_site != FLARE_SAMESITE_UNSET && (unsigned)c->same_site < 4)
        rc = flare_buf_appendf(out, "; SameSite=%s", same_site[c->same_site]);
    return rc;
}
