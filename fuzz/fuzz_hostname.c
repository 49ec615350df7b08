/*
 * fuzz_hostname.c: host name validation (flare_hostname_validate) against a
 * reference written here from RFC 1035 §2.3.1/§2.3.4 and RFC 1123 §2.1 (with '_'
 * counted as a letter, as RFC 2181 §11 lets DNS names have it), and the
 * front of flare_dns_resolve_with: numeric literals, validation, and the
 * answer filtering (family, duplicates, the cap) of an injected resolver whose
 * answer comes from the input. No query ever leaves the process.
 */
#include <string.h>
#include <sys/socket.h>

#include "flare/dns.h"
#include "fuzz.h"

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool ref_valid(const char *s, size_t len)
{
    if (len > 0 && s[len - 1] == '.') len--; /* one trailing dot: fully qualified */
    if (len == 0 || len > 253) return false;
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && s[end] != '.')
            end++;
        size_t n = end - start;
        if (n == 0 || n > 63) return false;
        if (s[start] == '-' || s[end - 1] == '-') return false;
        for (size_t i = start; i < end; i++)
            if (!alnum(s[i]) && s[i] != '-') return false;
        start = end + 1;
    }
    return true;
}

typedef struct answer {
    const uint8_t *data;
    size_t len;
    int calls;
} answer;

static int fake_resolver(const char *host, flare_dns_family family, flare_dns_result *out,
                         void *ctx, flare_error *err)
{
    answer *a = ctx;
    a->calls++;
    (void)host;
    (void)family;
    (void)err;
    if (a->len == 0) return FLARE_ERESOLVE;
    /* Each 5-byte record: a family byte and 4 address bytes (v6 repeats them). */
    size_t n = a->len / 5 > 40 ? 40 : a->len / 5;
    out->count = n; /* may claim more than the array holds: the caller must cap it */
    for (size_t i = 0; i < n && i < FLARE_DNS_MAX_ADDRS; i++) {
        const uint8_t *r = a->data + 5 * i;
        memset(&out->addrs[i], 0, sizeof out->addrs[i]);
        out->addrs[i].family = (r[0] & 1) ? AF_INET6 : AF_INET;
        for (int k = 0; k < 16; k++)
            out->addrs[i].bytes[k] = r[1 + k % 4];
        if (out->addrs[i].family == AF_INET) memset(out->addrs[i].bytes + 4, 0, 12);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t name_len = nl ? (size_t)(nl - s) : size;
    int rc = flare_hostname_validate(s, name_len, NULL);
    FUZZ_CHECK((rc == 0) == ref_valid(s, name_len));
    FUZZ_CHECK(rc == 0 || rc == FLARE_EHOSTNAME);

    if (name_len > 300 || memchr(s, 0, name_len)) return 0;
    char host[301];
    memcpy(host, s, name_len);
    host[name_len] = 0;
    answer a = {nl ? (const uint8_t *)nl + 1 : NULL, nl ? size - name_len - 1 : 0, 0};
    flare_resolver r = {fake_resolver, &a};
    static const flare_dns_family families[] = {FLARE_DNS_ANY, FLARE_DNS_V4, FLARE_DNS_V6};
    flare_dns_result out;
    int res = flare_dns_resolve_with(&r, host, families[size % 3], &out, NULL);
    if (res == 0) {
        FUZZ_CHECK(out.count >= 1 && out.count <= FLARE_DNS_MAX_ADDRS);
        for (size_t i = 0; i < out.count; i++) {
            if (families[size % 3] == FLARE_DNS_V4) FUZZ_CHECK(out.addrs[i].family == AF_INET);
            if (families[size % 3] == FLARE_DNS_V6) FUZZ_CHECK(out.addrs[i].family == AF_INET6);
            for (size_t k = 0; k < i; k++)
                FUZZ_CHECK(!flare_ip_equal(&out.addrs[i], &out.addrs[k]));
        }
    } else {
        FUZZ_CHECK(out.count == 0);
    }
    /* Only valid names reach a resolver. */
    if (a.calls) FUZZ_CHECK(ref_valid(host, name_len));
    return 0;
}
