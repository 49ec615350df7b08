/*
 * fuzz_local_files.c: the two system files flared reads besides its config:
 * /etc/hosts (flare_dns__hosts_lookup, hosts(5), used for absolute names) and
 * /etc/mime.types (flared_mime_table_load). Byte 0 picks which (bit 0); the rest
 * is the file, written to a memfd and read through /proc/self/fd as the code reads
 * a path. Checks against references written here from the file formats:
 *   hosts: every name on a line (as written, with a trailing dot added or taken off,
 *     in upper case) gets the addresses of exactly the lines listing it, in file
 *     order, at most FLARE_DNS_MAX_ADDRS; '#' starts a comment;
 *   mime.types: every extension gets the type of the first line naming it (types
 *     have a '/' and no control byte, extensions of at most 32 bytes, compared
 *     without case), the count is that of distinct extensions, and a type found is
 *     safe in a header.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/dns/hosts.h"
#include "flare/net.h"
#include "fuzz.h"
#include "static_internal.h"

#define MAX_INPUT 4096
#define EXT_MAX   32
#define MAX_NAMES 64

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One line [*p, end of line) of text[0..len): its bytes before any '#', without the
 * CRs that end them (hosts.c strips those). Advances *p past the line. */
static size_t next_line(const char *text, size_t len, size_t *p, const char **line)
{
    size_t start = *p, eol = start;
    while (eol < len && text[eol] != '\n')
        eol++;
    *p = eol + 1;
    *line = text + start;
    size_t n = eol - start;
    const char *hash = memchr(*line, '#', n);
    if (hash) n = (size_t)(hash - *line);
    while (n > 0 && ((*line)[n - 1] == '\r' || (*line)[n - 1] == '\n'))
        n--;
    return n;
}

/* Token i (0 the address) of line[0..n) split at blanks, or NULL. */
static const char *token(const char *line, size_t n, size_t i, size_t *len)
{
    size_t k = 0;
    while (k < n) {
        while (k < n && blank(line[k]))
            k++;
        if (k == n) break;
        size_t start = k;
        while (k < n && !blank(line[k]))
            k++;
        if (i-- == 0) {
            *len = k - start;
            return line + start;
        }
    }
    return NULL;
}

static size_t undotted(const char *s, size_t len)
{
    return len > 1 && s[len - 1] == '.' ? len - 1 : len;
}

static void ref_hosts(const char *text, size_t len, const char *name, size_t name_len,
                      flare_dns_result *out)
{
    out->count = 0;
    name_len = undotted(name, name_len);
    size_t p = 0;
    while (p < len && out->count < FLARE_DNS_MAX_ADDRS) {
        const char *line;
        size_t n = next_line(text, len, &p, &line), alen, tlen;
        const char *addr = token(line, n, 0, &alen), *t;
        flare_ip_addr ip;
        if (!addr || flare_ip_parse(&ip, addr, alen, NULL) < 0) continue;
        for (size_t i = 1; (t = token(line, n, i, &tlen)); i++)
            if (undotted(t, tlen) == name_len && !strncasecmp(t, name, name_len)) {
                out->addrs[out->count++] = ip;
                break;
            }
    }
}

static void check_hosts(const char *path, const char *text, size_t len)
{
    size_t p = 0, names = 0;
    while (p < len && names < MAX_NAMES) {
        const char *line, *t;
        size_t n = next_line(text, len, &p, &line), tlen;
        for (size_t i = 1; (t = token(line, n, i, &tlen)) && names < MAX_NAMES; i++, names++) {
            /* resolve.c asks only for valid host names, which hold no NUL. */
            if (memchr(t, '\0', tlen) || tlen > 250) continue;
            char spelled[3][256];
            size_t lens[3] = {tlen, tlen + 1, undotted(t, tlen)};
            memcpy(spelled[0], t, tlen);
            memcpy(spelled[1], t, tlen);
            spelled[1][tlen] = '.';
            for (size_t k = 0; k < tlen; k++)
                spelled[2][k] = (char)(t[k] >= 'a' && t[k] <= 'z' ? t[k] - 32 : t[k]);
            for (size_t s = 0; s < 3; s++) {
                flare_dns_result got = {0}, want;
                flare_dns__hosts_lookup(path, spelled[s], lens[s], &got);
                ref_hosts(text, len, spelled[s], lens[s], &want);
                FUZZ_CHECK(got.count == want.count);
                for (size_t a = 0; a < got.count; a++)
                    FUZZ_CHECK(flare_ip_equal(&got.addrs[a], &want.addrs[a]));
            }
        }
    }
}

/* A mime.types line as static_mime.c reads it: up to a NUL or '#', CR a blank like
 * SP and HTAB; copied into copy (MAX_INPUT bytes). Returns the length. */
static size_t mime_line(const char *text, size_t len, size_t *p, const char **line, char *copy)
{
    size_t n = next_line(text, len, p, line);
    const char *nul = memchr(*line, '\0', n);
    if (nul) n = (size_t)(nul - *line);
    for (size_t k = 0; k < n; k++)
        copy[k] = (*line)[k] == '\r' ? ' ' : (*line)[k];
    return n;
}

/* The type the first line naming ext[0..len) (lower case) gives it, or NULL. */
static const char *ref_mime(const char *text, size_t len, const char *ext, size_t ext_len,
                            size_t *type_len)
{
    size_t p = 0;
    while (p < len) {
        const char *line, *t;
        char copy[MAX_INPUT];
        size_t n = mime_line(text, len, &p, &line, copy), tlen;
        const char *type = token(copy, n, 0, type_len);
        if (!type || !memchr(type, '/', *type_len)) continue;
        bool ok = true;
        for (size_t k = 0; k < *type_len; k++)
            if ((unsigned char)type[k] < 0x21 || (unsigned char)type[k] == 0x7f) ok = false;
        if (!ok) continue;
        for (size_t i = 1; (t = token(copy, n, i, &tlen)); i++) {
            if (tlen != ext_len) continue;
            size_t k = 0;
            while (k < tlen && (t[k] >= 'A' && t[k] <= 'Z' ? t[k] + 32 : t[k]) == ext[k])
                k++;
            if (k == tlen) return line + (type - copy);
        }
    }
    return NULL;
}

static void check_mime(const char *path, const char *text, size_t len)
{
    flared_mime_table *t;
    FUZZ_CHECK(flared_mime_table_load(path, &t, NULL) == 0);
    size_t p = 0, distinct = 0;
    /* Every extension written in the file, lower-cased, once. */
    static char seen[MAX_INPUT][EXT_MAX + 1];
    while (p < len) {
        const char *line, *tok;
        char copy[MAX_INPUT];
        size_t n = mime_line(text, len, &p, &line, copy), tlen;
        for (size_t i = 1; (tok = token(copy, n, i, &tlen)); i++) {
            if (tlen > EXT_MAX) {
                FUZZ_CHECK(!flared_mime_table_find(t, tok, tlen));
                continue;
            }
            char ext[EXT_MAX + 1];
            for (size_t k = 0; k < tlen; k++)
                ext[k] = (char)(tok[k] >= 'A' && tok[k] <= 'Z' ? tok[k] + 32 : tok[k]);
            ext[tlen] = '\0';
            size_t type_len;
            const char *want = ref_mime(text, len, ext, tlen, &type_len);
            const char *got = flared_mime_table_find(t, tok, tlen);
            FUZZ_CHECK(!want == !got);
            if (!got) continue;
            FUZZ_CHECK(strlen(got) == type_len && !memcmp(got, want, type_len));
            for (const char *c = got; *c; c++)
                FUZZ_CHECK((unsigned char)*c >= 0x21 && (unsigned char)*c != 0x7f);
            bool dup = false;
            for (size_t d = 0; d < distinct && !dup; d++)
                dup = !strcmp(seen[d], ext);
            if (!dup) memcpy(seen[distinct++], ext, tlen + 1);
        }
    }
    FUZZ_CHECK(flared_mime_table_count(t) == distinct);
    flared_mime_table_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int fd = memfd_create("fuzz_local_files", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, text, len) == (ssize_t)len);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (data[0] & 1)
        check_mime(path, text, len);
    else
        check_hosts(path, text, len);
    close(fd);
    return 0;
}
