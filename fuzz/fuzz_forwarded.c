/*
 * fuzz_forwarded.c: the client address behind trusted proxies
 * (flare_http_client_addr) over the X-Forwarded-For fields of a request the
 * parser accepted. Byte 0 picks the socket peer and the trusted blocks; the rest
 * is field lines after a fixed request line. Checks: the answer equals a
 * reference written here from the header's contract, with inet_pton for the
 * addresses and a byte-wise prefix compare for the blocks; all field lines
 * together are one list, read right to left (RFC 9110 §5.3).
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "flare/http.h"
#include "fuzz.h"

#define MAX_FIELDS 64

static const char *const peers[] = {"127.0.0.1", "10.1.2.3", "192.0.2.7", "::1", "fd00::5"};
static const char *const blocks[] = {"127.0.0.0/8", "10.0.0.0/8", "::1/128", "fd00::/8",
                                     "0.0.0.0/0"};

static flare_ip_addr ip_of(const char *s)
{
    flare_ip_addr ip;
    FUZZ_CHECK(flare_ip_parse(&ip, s, strlen(s), NULL) == 0);
    return ip;
}

/* inet_pton of s[0..n): 4 or 16 bytes into out, 0 when it is not an address. */
static size_t pton(const char *s, size_t n, uint8_t out[16])
{
    char tmp[64];
    if (n >= sizeof tmp || memchr(s, '\0', n)) return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, out) == 1) return 4;
    if (inet_pton(AF_INET6, tmp, out) == 1) return 16;
    return 0;
}

/* A block as "A.B.C.D/len" text against an address of alen bytes; IPv4-mapped
 * IPv6 addresses count as their IPv4 address. */
static bool ref_in_block(const char *block, const uint8_t *a, size_t alen)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (alen == 16 && !memcmp(a, mapped, 12)) {
        a += 12;
        alen = 4;
    }
    const char *slash = strchr(block, '/');
    uint8_t net[16];
    size_t nlen = pton(block, (size_t)(slash - block), net);
    unsigned bits = (unsigned)atoi(slash + 1);
    if (nlen != alen) return false;
    for (unsigned i = 0; i < bits; i++)
        if (((a[i / 8] ^ net[i / 8]) >> (7 - i % 8)) & 1) return false;
    return true;
}

static bool ref_trusted(const uint8_t *a, size_t alen, unsigned mask)
{
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
        if ((mask >> i) & 1 && ref_in_block(blocks[i], a, alen)) return true;
    return false;
}

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The contract of flare_http_client_addr, from the joined list: the rightmost
 * untrusted hop, the leftmost when all are trusted, and the peer when there is no
 * field, or an entry on the way is empty, zoned or not an address. Returns the
 * address length (4 or 16), 0 for "the socket peer". */
static size_t reference(const char *list, size_t len, bool any, uint8_t out[16], unsigned mask)
{
    if (!any) return 0;
    size_t end = len, alen = 0;
    for (;;) {
        size_t start = end;
        while (start > 0 && list[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && ows(list[a]))
            a++;
        while (b > a && ows(list[b - 1]))
            b--;
        if (a == b || memchr(list + a, '%', b - a)) return 0;
        alen = pton(list + a, b - a, out);
        if (!alen) return 0;
        if (!ref_trusted(out, alen, mask)) return alen;
        if (start == 0) return alen;
        end = start - 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    unsigned peer_i = data[0] % 5, mask = (unsigned)(data[0] / 5) % 32;
    char req[4200];
    static const char line[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    memcpy(req, line, sizeof line - 1);
    memcpy(req + sizeof line - 1, data + 1, size - 1);
    size_t req_len = sizeof line - 1 + size - 1;

    flare_http_header fields[MAX_FIELDS];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS};
    int status;
    if (flare_http_parse_request(req, req_len, 0, NULL, &head, &status) <= 0) return 0;

    flare_cidr trusted[5];
    size_t n = 0;
    for (size_t i = 0; i < 5; i++)
        if ((mask >> i) & 1)
            FUZZ_CHECK(flare_cidr_parse(&trusted[n++], blocks[i], strlen(blocks[i]), NULL) == 0);
    flare_sock_addr peer = {.ip = ip_of(peers[peer_i]), .port = 4321}, got;
    flare_http_client_addr(&head, &peer, trusted, n, &got);

    /* The reference sees every X-Forwarded-For value joined by commas, in order. */
    char list[4200];
    size_t len = 0;
    bool any = false;
    for (size_t i = 0; i < head.num_headers; i++) {
        const flare_http_header *h = &fields[i];
        if (h->name_len != 15 || strncasecmp(h->name, "x-forwarded-for", 15)) continue;
        if (any) list[len++] = ',';
        memcpy(list + len, h->value, h->value_len);
        len += h->value_len;
        any = true;
    }
    uint8_t peer_bytes[16], want[16];
    size_t peer_len = pton(peers[peer_i], strlen(peers[peer_i]), peer_bytes);
    size_t want_len =
        ref_trusted(peer_bytes, peer_len, mask) ? reference(list, len, any, want, mask) : 0;
    if (!want_len) {
        FUZZ_CHECK(got.port == peer.port && got.ip.family == peer.ip.family);
        FUZZ_CHECK(!memcmp(got.ip.bytes, peer.ip.bytes, sizeof got.ip.bytes));
        return 0;
    }
    FUZZ_CHECK(got.port == 0);
    FUZZ_CHECK(got.ip.family == (want_len == 4 ? AF_INET : AF_INET6));
    FUZZ_CHECK(!memcmp(got.ip.bytes, want, want_len));
    return 0;
}
