/*
 * access_format.c: the access_log_format compiler and the line formatter.
 * Variables are nginx-style: $name or ${name}, where name is [A-Za-z0-9_]+; an
 * unknown name is a config error. Formatting writes straight into the caller's
 * buffer (the worker's log buffer): no allocation, no printf per value, and the
 * time strings are rebuilt only when the second changes.
 */
#include "access_format.h"
#include "request_id.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    flared_log_var var;
} variables[] = {
    {"remote_addr", FLARED_LV_REMOTE_ADDR},
    {"remote_port", FLARED_LV_REMOTE_PORT},
    {"remote_user", FLARED_LV_REMOTE_USER},
    {"time_local", FLARED_LV_TIME_LOCAL},
    {"time_iso8601", FLARED_LV_TIME_ISO8601},
    {"request", FLARED_LV_REQUEST},
    {"request_method", FLARED_LV_REQUEST_METHOD},
    {"request_uri", FLARED_LV_REQUEST_URI},
    {"server_protocol", FLARED_LV_SERVER_PROTOCOL},
    {"host", FLARED_LV_HOST},
    {"status", FLARED_LV_STATUS},
    {"bytes_sent", FLARED_LV_BYTES_SENT},
    {"body_bytes_sent", FLARED_LV_BODY_BYTES_SENT},
    {"request_body_length", FLARED_LV_REQUEST_LENGTH},
    {"request_time", FLARED_LV_REQUEST_TIME},
    {"request_time_us", FLARED_LV_REQUEST_TIME_US},
    {"worker", FLARED_LV_WORKER},
    {"pid", FLARED_LV_PID},
    {"tls_version", FLARED_LV_TLS_VERSION},
    {"ssl_protocol", FLARED_LV_TLS_VERSION}, /* nginx's name for it */
    {"ssl_cipher", FLARED_LV_SSL_CIPHER},
    {"ssl_client_s_dn", FLARED_LV_SSL_CLIENT_S_DN},
    {"ssl_client_verify", FLARED_LV_SSL_CLIENT_VERIFY},
    {"connection_requests", FLARED_LV_CONNECTION_REQUESTS},
    {"upstream_addr", FLARED_LV_UPSTREAM_ADDR},
    {"upstream_status", FLARED_LV_UPSTREAM_STATUS},
    {"upstream_response_time", FLARED_LV_UPSTREAM_TIME},
    {"request_id", FLARED_LV_REQUEST_ID},
};

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* "$http_x_request_id" names the field X-Request-Id: lower case, '_' for '-'. */
static size_t field_name(const char *s, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        out[i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
    return len;
}

static int variable_op(const char *name, size_t len, flared_log_op *op, char *names)
{
    static const char http[] = "http_", sent[] = "sent_http_";
    if (len > sizeof sent - 1 && memcmp(name, sent, sizeof sent - 1) == 0) {
        op->var = FLARED_LV_SENT_HTTP;
        op->len = field_name(name + sizeof sent - 1, len - (sizeof sent - 1), names);
        op->text = names;
        return 0;
    }
    if (len > sizeof http - 1 && memcmp(name, http, sizeof http - 1) == 0) {
        op->var = FLARED_LV_HTTP;
        op->len = field_name(name + sizeof http - 1, len - (sizeof http - 1), names);
        op->text = names;
        return 0;
    }
    for (size_t i = 0; i < sizeof variables / sizeof variables[0]; i++)
        if (strlen(variables[i].name) == len && memcmp(variables[i].name, name, len) == 0) {
            op->var = variables[i].var;
            op->text = NULL;
            op->len = 0;
            return 0;
        }
    return -1;
}

long flared_log_format_compile(const char *format, size_t len, flared_log_op *ops, char *names,
                               size_t *err_offset, const char **why)
{
    size_t n = 0, i = 0;
    while (i < len) {
        if (format[i] != '$') {
            size_t start = i;
            while (i < len && format[i] != '$')
                i++;
            ops[n++] =
                (flared_log_op){.var = FLARED_LV_LITERAL, .text = format + start, .len = i - start};
            continue;
        }
        size_t dollar = i++;
        bool braced = i < len && format[i] == '{';
        if (braced) i++;
        size_t start = i;
        while (i < len && name_char(format[i]))
            i++;
        size_t name_len = i - start;
        if (name_len == 0) {
            *err_offset = dollar;
            *why = "'$' must be followed by a variable name ($status or ${status})";
            return -1;
        }
        if (braced) {
            if (i >= len || format[i] != '}') {
                *err_offset = dollar;
                *why = "'${' is missing its '}'";
                return -1;
            }
            i++;
        }
        if (variable_op(format + start, name_len, &ops[n], names + start) < 0) {
            *err_offset = dollar;
            *why = "unknown variable";
            return -1;
        }
        n++;
    }
    return (long)n;
}

/* --------------------------------------------------------------- output */

typedef struct out {
    char *p, *end;
} out;

static void put(out *o, const char *s, size_t len)
{
    size_t room = (size_t)(o->end - o->p);
    if (len > room) len = room;
    memcpy(o->p, s, len);
    o->p += len;
}

/* One byte: most values that are absent ("-") and most separators. */
static void put_char(out *o, char ch)
{
    if (o->p < o->end) *o->p++ = ch;
}

/* nginx's escaping for log values: nothing a reader could take for a quote, a line
 * break or a terminal control sequence goes out raw. */
static void put_escaped(out *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len && o->p < o->end; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *o->p++ = (char)c;
            continue;
        }
        if (o->end - o->p < 4) {
            o->end = o->p; /* full: nothing more goes on this line */
            return;
        }
        o->p[0] = '\\';
        o->p[1] = 'x';
        o->p[2] = hex[c >> 4];
        o->p[3] = hex[c & 15];
        o->p += 4;
    }
}

static void put_u64(out *o, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + sizeof tmp - n, (size_t)n);
}

size_t flared_log_escape(const char *s, size_t len, char *buf, size_t cap)
{
    out o = {buf, buf + cap};
    put_escaped(&o, s, len);
    return (size_t)(o.p - buf);
}

/* Both time strings for one second, rebuilt when the second changes. */
typedef struct time_cache {
    time_t sec;
    char local[32], iso[32];
    size_t local_len, iso_len;
} time_cache;

static const time_cache *times_for(time_t now)
{
    static time_cache tc = {.sec = (time_t)-1};
    if (tc.sec == now) return &tc;
    struct tm tm;
    localtime_r(&now, &tm);
    tc.local_len = strftime(tc.local, sizeof tc.local, "%d/%b/%Y:%H:%M:%S %z", &tm);
    tc.iso_len = strftime(tc.iso, sizeof tc.iso, "%Y-%m-%dT%H:%M:%S%z", &tm);
    if (tc.iso_len == 24) { /* +0000 -> +00:00 as ISO 8601 writes it */
        memmove(tc.iso + 23, tc.iso + 22, 2);
        tc.iso[22] = ':';
        tc.iso_len = 25;
    }
    tc.sec = now;
    return &tc;
}

static const flare_http_header *request_field(const flare_http_request *head, const char *name,
                                              size_t len)
{
    for (size_t i = 0; i < head->num_headers; i++) {
        const flare_http_header *h = &head->headers[i];
        if (h->name_len != len) continue;
        size_t k = 0;
        while (k < len && (char)tolower((unsigned char)h->name[k]) == name[k])
            k++;
        if (k == len) return h;
    }
    return NULL;
}

/* Finds "Name: value" in the written response head (after its status line). */
static bool response_field(const flare_http_completion *d, const char *name, size_t len,
                           const char **value, size_t *value_len)
{
    if (!d->resp_head) return false; /* before the arithmetic: NULL + 0 is undefined */
    const char *p = d->resp_head, *end = d->resp_head + d->resp_head_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    while (eol && eol + 1 < end) {
        p = eol + 1;
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) break;
        size_t line = (size_t)(eol - p);
        if (line > len && p[len] == ':' && strncasecmp(p, name, len) == 0) {
            const char *v = p + len + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *value = v;
            *value_len = (size_t)(ve - v);
            return true;
        }
    }
    return false;
}

/* The last address formatted: a keep-alive connection's requests come from one client. */
static void put_address(out *o, const flare_ip_addr *ip)
{
    static flare_ip_addr last;
    static char text[64];
    static size_t len;
    if (!len || memcmp(&last, ip, sizeof last) != 0) {
        len = flare_ip_format(ip, text, sizeof text);
        last = *ip;
    }
    put(o, text, len);
}

static void put_request_line(out *o, const flare_http_request *h)
{
    put_escaped(o, h->method, h->method_len);
    put(o, " ", 1);
    put_escaped(o, h->target, h->target_len);
    put(o, h->minor_version ? " HTTP/1.1" : " HTTP/1.0", 9);
}

static void put_op(out *o, const flared_log_op *op, const flare_http_completion *d,
                   const flared_log_context *ctx)
{
    const flare_http_request *h = d->req ? d->req->head : NULL;
    char tmp[64];
    switch (op->var) {
    case FLARED_LV_LITERAL:
        put(o, op->text, op->len);
        return;
    case FLARED_LV_REMOTE_ADDR:
        if (d->peer && d->peer->ip.family) {
            put_address(o, &d->peer->ip);
            return;
        }
        break;
    case FLARED_LV_REMOTE_PORT:
        /* A client taken from X-Forwarded-For has no port (0): "-", as nginx's realip
         * leaves $remote_port empty, and as a proxy route's $remote_port is then empty. */
        if (d->peer && d->peer->ip.family && d->peer->port) {
            put_u64(o, d->peer->port);
            return;
        }
        break;
    case FLARED_LV_REMOTE_USER: /* the user Basic authentication verified; else "-" */
        if (d->remote_user_len) {
            put_escaped(o, d->remote_user, d->remote_user_len);
            return;
        }
        break;
    case FLARED_LV_TIME_LOCAL: {
        const time_cache *tc = times_for(ctx->now);
        put(o, tc->local, tc->local_len);
        return;
    }
    case FLARED_LV_TIME_ISO8601: {
        const time_cache *tc = times_for(ctx->now);
        put(o, tc->iso, tc->iso_len);
        return;
    }
    case FLARED_LV_REQUEST:
        if (h) {
            put_request_line(o, h);
            return;
        }
        break;
    case FLARED_LV_REQUEST_METHOD:
        if (h) {
            put_escaped(o, h->method, h->method_len);
            return;
        }
        break;
    case FLARED_LV_REQUEST_URI:
        if (h) {
            put_escaped(o, h->target, h->target_len);
            return;
        }
        break;
    case FLARED_LV_SERVER_PROTOCOL:
        if (h) {
            put(o, h->minor_version ? "HTTP/1.1" : "HTTP/1.0", 8);
            return;
        }
        break;
    case FLARED_LV_HOST:
        if (d->req && d->req->host_len) {
            put_escaped(o, d->req->host, d->req->host_len);
            return;
        }
        break;
    case FLARED_LV_STATUS:
        put_u64(o, (uint64_t)d->status);
        return;
    case FLARED_LV_BYTES_SENT:
        put_u64(o, d->bytes_sent);
        return;
    case FLARED_LV_BODY_BYTES_SENT:
        put_u64(o, d->bytes_sent > d->resp_head_len ? d->bytes_sent - d->resp_head_len : 0);
        return;
    case FLARED_LV_REQUEST_LENGTH:
        put_u64(o, d->body_bytes_received);
        return;
    case FLARED_LV_REQUEST_TIME: {
        put_u64(o, d->duration_us / 1000000);
        int n = snprintf(tmp, sizeof tmp, ".%06u", (unsigned)(d->duration_us % 1000000));
        put(o, tmp, (size_t)n);
        return;
    }
    case FLARED_LV_REQUEST_TIME_US:
        put_u64(o, d->duration_us);
        return;
    case FLARED_LV_WORKER:
        put_u64(o, ctx->worker_id);
        return;
    case FLARED_LV_PID:
        put_u64(o, (uint64_t)ctx->pid);
        return;
    case FLARED_LV_TLS_VERSION:
    case FLARED_LV_SSL_CIPHER: {
        const char *v = !d->tls                            ? NULL
                        : op->var == FLARED_LV_TLS_VERSION ? flare_tls_conn_version(d->tls)
                                                           : flare_tls_conn_cipher(d->tls);
        if (v) {
            put_escaped(o, v, strlen(v));
            return;
        }
        break;
    }
    case FLARED_LV_SSL_CLIENT_S_DN: { /* made once per connection, at its first use */
        size_t len;
        const char *dn = d->tls ? flare_tls_conn_peer_dn(d->tls, &len) : NULL;
        if (dn && len) {
            put_escaped(o, dn, len);
            return;
        }
        break;
    }
    case FLARED_LV_SSL_CLIENT_VERIFY: { /* "-" in clear text, as nginx leaves it empty */
        if (!d->tls) break;
        const char *why, *verify = flare_tls_conn_peer_verify(d->tls, &why);
        put(o, verify, strlen(verify));
        if (why) {
            put_char(o, ':');
            put_escaped(o, why, strlen(why));
        }
        return;
    }
    case FLARED_LV_CONNECTION_REQUESTS:
        if (d->req) {
            put_u64(o, d->req->connection_requests);
            return;
        }
        break;
    case FLARED_LV_UPSTREAM_ADDR:
        if (d->upstream && d->upstream->addr_len) {
            put_escaped(o, d->upstream->addr, d->upstream->addr_len);
            return;
        }
        break;
    case FLARED_LV_UPSTREAM_STATUS:
        if (d->upstream && d->upstream->status) {
            put_u64(o, d->upstream->status);
            return;
        }
        break;
    case FLARED_LV_UPSTREAM_TIME: {
        if (!d->upstream) break;
        /* As nginx: seconds with millisecond resolution. */
        uint64_t ms = d->upstream->time_us / 1000;
        put_u64(o, ms / 1000);
        int n = snprintf(tmp, sizeof tmp, ".%03u", (unsigned)(ms % 1000));
        put(o, tmp, (size_t)n);
        return;
    }
    case FLARED_LV_REQUEST_ID: {
        /* A head refused unparsed has a serial of its own (a 400's line names it too). */
        char id[FLARED_REQUEST_ID_LEN];
        bool room = o->end - o->p >= FLARED_REQUEST_ID_LEN; /* else cut, as put() cuts */
        flared_request_id(d->serial, room ? o->p : id);
        if (room)
            o->p += FLARED_REQUEST_ID_LEN;
        else
            put(o, id, sizeof id);
        return;
    }
    case FLARED_LV_HTTP:
        if (h) {
            const flare_http_header *f = request_field(h, op->text, op->len);
            if (f) {
                put_escaped(o, f->value, f->value_len);
                return;
            }
        }
        break;
    case FLARED_LV_SENT_HTTP: {
        const char *v;
        size_t vl;
        if (response_field(d, op->text, op->len, &v, &vl)) {
            put_escaped(o, v, vl);
            return;
        }
        break;
    }
    }
    put_char(o, '-'); /* no value, as in nginx */
}

size_t flared_log_format_line(const flared_log_format *f, const flare_http_completion *done,
                              const flared_log_context *ctx, char *buf, size_t cap)
{
    out o = {buf, buf + cap - 1}; /* the newline always fits */
    for (size_t i = 0; i < f->op_count; i++)
        put_op(&o, &f->ops[i], done, ctx);
    *o.p++ = '\n';
    return (size_t)(o.p - buf);
}
