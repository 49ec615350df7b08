/*
 * hosts.c: hosts-file answers for absolute names. glibc's files back end compares
 * a name byte for byte with the file's, so "localhost." misses the "localhost"
 * line although both spell the same absolute name (RFC 1034 §3.1); resolve.c asks
 * here first for a name with a trailing dot, as nsswitch's usual "files dns" order
 * would for the short spelling. Lines are hosts(5): an address, then names, '#'
 * to the end of the line; names compare without case (RFC 4343 §3).
 */
#include "hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *token_end(const char *p, const char *end)
{
    while (p < end && *p != ' ' && *p != '\t')
        p++;
    return p;
}

static size_t without_trailing_dot(const char *s, size_t len)
{
    return len > 1 && s[len - 1] == '.' ? len - 1 : len;
}

/* True when one of the names after the address on [p, end) is name. */
static bool line_lists(const char *p, const char *end, const char *name, size_t len)
{
    for (p = skip_blanks(p, end); p < end; p = skip_blanks(p, end)) {
        const char *e = token_end(p, end);
        size_t entry_len = without_trailing_dot(p, (size_t)(e - p));
        if (entry_len == len && strncasecmp(p, name, len) == 0) return true;
        p = e;
    }
    return false;
}

void flare_dns__hosts_lookup(const char *path, const char *name, size_t len, flare_dns_result *out)
{
    len = without_trailing_dot(name, len);
    FILE *f = fopen(path, "re");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (out->count < FLARE_DNS_MAX_ADDRS && (n = getline(&line, &cap, f)) > 0) {
        const char *end = memchr(line, '#', (size_t)n);
        if (!end) end = line + n;
        while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        const char *addr = skip_blanks(line, end);
        const char *addr_end = token_end(addr, end);
        flare_ip_addr ip;
        if (addr == addr_end || flare_ip_parse(&ip, addr, (size_t)(addr_end - addr), NULL) < 0)
            continue;
        if (line_lists(addr_end, end, name, len)) out->addrs[out->count++] = ip;
    }
    free(line);
    fclose(f);
}
