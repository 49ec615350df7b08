/*
 * fuzz_proxy_protocol.c: the PROXY protocol parser (include/flare/proxy_protocol.h).
 * Checks: a header's length never exceeds the input; a v1 header is at most 107
 * bytes and ends in CRLF; parsing exactly the header's bytes gives the same
 * result; every shorter prefix of an accepted header is incomplete (so a
 * resumed read is never refused); and addresses come with their family.
 */
#include <string.h>

#include "flare/proxy_protocol.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    flare_proxy_header ph, again;
    ssize_t n = flare_proxy_parse(buf, size, &ph);
    FUZZ_CHECK(n > 0 || n == FLARE_EPARSE || n == FLARE_EINCOMPLETE);
    if (n == FLARE_EINCOMPLETE) FUZZ_CHECK(size < 16 + 65535);
    if (n <= 0) return 0;
    FUZZ_CHECK((size_t)n <= size);
    FUZZ_CHECK(ph.version == 1 || ph.version == 2);
    if (ph.version == 1) {
        FUZZ_CHECK(n <= FLARE_PROXY_V1_MAX);
        FUZZ_CHECK(buf[n - 2] == '\r' && buf[n - 1] == '\n');
    } else {
        FUZZ_CHECK(n >= FLARE_PROXY_V2_FIXED);
    }
    if (ph.has_addresses) {
        FUZZ_CHECK(ph.src.ip.family == AF_INET || ph.src.ip.family == AF_INET6);
        FUZZ_CHECK(ph.src.ip.family == ph.dst.ip.family);
    }
    FUZZ_CHECK(flare_proxy_parse(buf, (size_t)n, &again) == n);
    FUZZ_CHECK(memcmp(&ph, &again, sizeof ph) == 0);
    for (size_t i = 0; i < (size_t)n; i++)
        FUZZ_CHECK(flare_proxy_parse(buf, i, &again) == FLARE_EINCOMPLETE);
    return 0;
}
