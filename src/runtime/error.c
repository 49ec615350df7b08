/*
 * error.c: codes to text and the flare_error filler. The tables are static and
 * read-only; nothing here keeps state between calls.
 */
#include "flare/error.h"

#include <stdio.h>
#include <string.h>

struct code_text {
    int code;
    const char *name;
    const char *text;
};

static const struct code_text code_texts[] = {
    {FLARE_OK, "FLARE_OK", "success"},
    {FLARE_EINVAL, "FLARE_EINVAL", "invalid argument"},
    {FLARE_ENOMEM, "FLARE_ENOMEM", "out of memory"},
    {FLARE_ESYS, "FLARE_ESYS", "system call failed"},
    {FLARE_EAGAIN, "FLARE_EAGAIN", "operation would block"},
    {FLARE_ETIMEDOUT, "FLARE_ETIMEDOUT", "timed out"},
    {FLARE_ECLOSED, "FLARE_ECLOSED", "connection closed by peer"},
    {FLARE_EADDR, "FLARE_EADDR", "invalid address"},
    {FLARE_EPORT, "FLARE_EPORT", "invalid port"},
    {FLARE_EHOSTNAME, "FLARE_EHOSTNAME", "invalid host name"},
    {FLARE_ERESOLVE, "FLARE_ERESOLVE", "name resolution failed"},
    {FLARE_ECONNREFUSED, "FLARE_ECONNREFUSED", "connection refused"},
    {FLARE_ECONNRESET, "FLARE_ECONNRESET", "connection reset by peer"},
    {FLARE_EMSGSIZE, "FLARE_EMSGSIZE", "message too large"},
    {FLARE_ELIMIT, "FLARE_ELIMIT", "limit exceeded"},
    {FLARE_EPARSE, "FLARE_EPARSE", "malformed input"},
    {FLARE_EINCOMPLETE, "FLARE_EINCOMPLETE", "incomplete input"},
    {FLARE_ENOTFOUND, "FLARE_ENOTFOUND", "not found"},
    {FLARE_EEXIST, "FLARE_EEXIST", "already exists"},
    {FLARE_ETLS, "FLARE_ETLS", "TLS failure"},
    {FLARE_ECERT_EXPIRED, "FLARE_ECERT_EXPIRED", "certificate expired"},
    {FLARE_EHOST_MISMATCH, "FLARE_EHOST_MISMATCH", "certificate does not match host"},
    {FLARE_EUNTRUSTED, "FLARE_EUNTRUSTED", "certificate not trusted"},
    {FLARE_EURL, "FLARE_EURL", "invalid URL"},
    {FLARE_EHTTP_STATUS, "FLARE_EHTTP_STATUS", "HTTP error status"},
    {FLARE_EREDIRECT, "FLARE_EREDIRECT", "too many redirects"},
    {FLARE_ECONFIG, "FLARE_ECONFIG", "configuration error"},
    {FLARE_EPROTO, "FLARE_EPROTO", "protocol violation"},
    {FLARE_EUNSUPPORTED, "FLARE_EUNSUPPORTED", "not supported"},
};

static const struct code_text *lookup(int code)
{
    for (size_t i = 0; i < sizeof code_texts / sizeof code_texts[0]; i++)
        if (code_texts[i].code == code) return &code_texts[i];
    return NULL;
}

const char *flare_strerror(int code)
{
    const struct code_text *ct = lookup(code);
    return ct ? ct->text : "unknown error";
}

const char *flare_error_name(int code)
{
    const struct code_text *ct = lookup(code);
    return ct ? ct->name : "FLARE_E?";
}

int flare_error_vset(flare_error *err, int code, int sys_errno, const char *fmt, va_list ap)
{
    if (!err) return code;
    err->code = code;
    err->sys_errno = sys_errno;
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof err->message ? (size_t)n : sizeof err->message - 1;
    if (sys_errno != 0 && used < sizeof err->message - 1) {
        char sysbuf[128];
        const char *s = strerror_r(sys_errno, sysbuf, sizeof sysbuf);
        snprintf(err->message + used, sizeof err->message - used, ": %s", s);
    }
    return code;
}

int flare_error_set(flare_error *err, int code, int sys_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    flare_error_vset(err, code, sys_errno, fmt, ap);
    va_end(ap);
    return code;
}

void flare_error_clear(flare_error *err)
{
    if (!err) return;
    err->code = FLARE_OK;
    err->sys_errno = 0;
    err->message[0] = '\0';
}
