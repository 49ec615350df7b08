/*
 * fuzz_cookie.c: Cookie and Set-Cookie (flare_cookie_parse_set_cookie,
 * flare_cookie_parse_header, flare_cookie_parse_date, flare_cookie_serialize and
 * the jar). Checks: a parsed Set-Cookie serialises without control bytes (no
 * header injection) and parses back to the same cookie; Cookie pairs are slices
 * of the input with non-empty names; a jar never emits a control byte in its
 * Cookie header.
 */
#include <string.h>

#include "flare/cookie.h"
#include "fuzz.h"

#define NOW 1764000000 /* a fixed "now" (Nov 2025): runs are reproducible */

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A field value may hold HTAB, SP, VCHAR and obs-text (RFC 9110 §5.5), never CR,
 * LF, NUL or another control byte. */
static const char *skip_dots_ws(const char *s)
{
    if (!s) return "";
    while (*s == '.' || *s == ' ' || *s == '\t')
        s++;
    return s;
}

static void check_no_ctl(const flare_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        FUZZ_CHECK((c >= 0x20 && c != 0x7f) || c == '\t');
    }
}

static void set_cookie_round_trip(const char *s, size_t len)
{
    flare_cookie c, d;
    if (flare_cookie_parse_set_cookie(&c, s, len, NULL) < 0) return;
    FUZZ_CHECK(c.name && c.name[0] && c.value);
    flare_buf out = FLARE_BUF_INIT;
    if (flare_cookie_serialize(&c, &out) == 0) {
        check_no_ctl(&out);
        FUZZ_CHECK(flare_cookie_parse_set_cookie(&d, out.data, out.len, NULL) == 0);
        FUZZ_CHECK(str_eq(c.name, d.name) && str_eq(c.value, d.value));
        /* §5.2.3 drops one leading dot of a trimmed Domain; what follows it (".. a",
         * ". a") keeps a dot or a space that the next parse drops or trims: a
         * domain that starts so may lose those bytes, nothing else changes. */
        FUZZ_CHECK(str_eq(skip_dots_ws(c.domain), skip_dots_ws(d.domain)));
        FUZZ_CHECK(str_eq(c.path, d.path));
        FUZZ_CHECK(c.secure == d.secure && c.http_only == d.http_only);
        FUZZ_CHECK(c.same_site == d.same_site);
        FUZZ_CHECK(c.has_expires == d.has_expires && c.has_max_age == d.has_max_age);
        if (c.has_expires && c.expires >= 0 && c.expires <= 253402300799)
            FUZZ_CHECK(c.expires == d.expires);
        if (c.has_max_age && c.max_age < INT64_MAX / 20 && c.max_age > -(INT64_MAX / 20))
            FUZZ_CHECK(c.max_age == d.max_age);
        flare_cookie copy;
        if (flare_cookie_copy(&copy, &d, NULL) == 0) {
            FUZZ_CHECK(str_eq(copy.name, d.name) && str_eq(copy.domain, d.domain));
            flare_cookie_free(&copy);
        }
        flare_cookie_free(&d);
    }
    flare_buf_free(&out);
    flare_cookie_free(&c);
    flare_cookie_free(&c); /* documented safe twice */
}

static void cookie_header(const char *s, size_t len)
{
    flare_cookie_pair pairs[8];
    ssize_t n = flare_cookie_parse_header(s, len, pairs, 8, NULL);
    FUZZ_CHECK(n == FLARE_ELIMIT || (n >= 0 && n <= 8));
    for (ssize_t i = 0; i < n; i++) {
        FUZZ_CHECK(pairs[i].name_len > 0);
        FUZZ_CHECK(pairs[i].name >= s && pairs[i].name + pairs[i].name_len <= s + len);
        FUZZ_CHECK(pairs[i].value >= s && pairs[i].value + pairs[i].value_len <= s + len);
        FUZZ_CHECK(!memchr(pairs[i].name, ';', pairs[i].name_len));
        FUZZ_CHECK(!memchr(pairs[i].value, ';', pairs[i].value_len));
    }
}

static void jar(const char *s, size_t len)
{
    flare_cookie_jar *j;
    if (flare_cookie_jar_new(&j, NULL) < 0) return;
    static const char *const urls[] = {"http://www.example.com/a/b", "https://example.com/",
                                       "http://127.0.0.1/x"};
    flare_url u[3];
    bool ok[3];
    for (int i = 0; i < 3; i++)
        ok[i] = flare_url_parse(&u[i], urls[i], strlen(urls[i]), NULL) == 0;
    /* Each line of the input is one Set-Cookie from one of the URLs. */
    const char *p = s, *end = s + len;
    int k = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if (ok[k % 3])
            (void)flare_cookie_jar_store(j, &u[k % 3], p, (size_t)(line_end - p), NOW, NULL);
        k++;
        p = nl ? nl + 1 : end;
    }
    FUZZ_CHECK(flare_cookie_jar_count(j) <= FLARE_COOKIE_JAR_MAX);
    for (int i = 0; i < 3; i++) {
        flare_buf h = FLARE_BUF_INIT;
        if (ok[i] && flare_cookie_jar_header(j, &u[i], NOW + 10, &h) >= 0) check_no_ctl(&h);
        flare_buf_free(&h);
    }
    for (size_t i = 0; i < flare_cookie_jar_count(j); i++)
        FUZZ_CHECK(flare_cookie_jar_get(j, i) != NULL);
    (void)flare_cookie_jar_remove_expired(j, NOW + 100000000);
    for (int i = 0; i < 3; i++)
        if (ok[i]) flare_url_free(&u[i]);
    flare_cookie_jar_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    set_cookie_round_trip(s, size);
    cookie_header(s, size);
    int64_t t;
    if (flare_cookie_parse_date(s, size, &t) == 0) {
        /* §5.1.1: years 1601.. and valid calendar fields only. */
        FUZZ_CHECK(t >= -11644473600ll);
    }
    jar(s, size);
    return 0;
}
