/*
 * hostname.c: syntax check of host names before they reach a resolver.
 * RFC 1035 §2.3.1 (LDH labels) as relaxed by RFC 1123 §2.1 (a label may start
 * with a digit), RFC 1035 §2.3.4 lengths. '_' is taken as a letter: DNS allows
 * it (RFC 2181 §11), service labels start with it, container platforms name
 * hosts with it, and resolvers, curl and browsers accept it. The check takes an
 * explicit length, so an embedded NUL is seen and refused, never silently
 * truncated.
 */
#include "flare/dns.h"

#include <stdbool.h>

static bool is_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int bad_byte(flare_error *err, char c, size_t offset)
{
    unsigned char u = (unsigned char)c;
    if (u > 0x20 && u < 0x7f)
        return flare_error_set(err, FLARE_EHOSTNAME, 0,
                               "invalid host name: '%c' (0x%02x) at offset %zu; only letters, "
                               "digits, '-', '_' and '.' are allowed",
                               c, u, offset);
    return flare_error_set(err, FLARE_EHOSTNAME, 0,
                           "invalid host name: byte 0x%02x at offset %zu; only letters, digits, "
                           "'-', '_' and '.' are allowed",
                           u, offset);
}

int flare_hostname_validate(const char *name, size_t len, flare_error *err)
{
    if (len == 0) return flare_error_set(err, FLARE_EHOSTNAME, 0, "invalid host name: empty");
    if (!name)
        return flare_error_set(err, FLARE_EINVAL, 0, "flare_hostname_validate: name is NULL");
    /* One trailing dot marks the name as fully qualified; it is not part of the length. */
    size_t body = name[len - 1] == '.' ? len - 1 : len;
    if (body == 0)
        return flare_error_set(err, FLARE_EHOSTNAME, 0, "invalid host name: \".\" has no labels");
    if (body > FLARE_HOSTNAME_MAX)
        return flare_error_set(err, FLARE_EHOSTNAME, 0,
                               "invalid host name: %zu bytes, longer than %d", body,
                               FLARE_HOSTNAME_MAX);

    size_t label_start = 0;
    for (size_t i = 0; i <= body; i++) {
        if (i < body && name[i] != '.') {
            if (!is_label_char(name[i]) && name[i] != '-') return bad_byte(err, name[i], i);
            continue;
        }
        size_t label_len = i - label_start;
        if (label_len == 0)
            return flare_error_set(err, FLARE_EHOSTNAME, 0,
                                   "invalid host name: empty label at offset %zu", label_start);
        if (label_len > FLARE_HOSTNAME_LABEL_MAX)
            return flare_error_set(err, FLARE_EHOSTNAME, 0,
                                   "invalid host name: label at offset %zu is %zu bytes, longer "
                                   "than %d",
                                   label_start, label_len, FLARE_HOSTNAME_LABEL_MAX);
        if (name[label_start] == '-')
            return flare_error_set(err, FLARE_EHOSTNAME, 0,
                                   "invalid host name: label starts with '-' at offset %zu",
                                   label_start);
        if (name[i - 1] == '-')
            return flare_error_set(err, FLARE_EHOSTNAME, 0,
                                   "invalid host name: label ends with '-' at offset %zu", i - 1);
        label_start = i + 1;
    }
    return 0;
}
