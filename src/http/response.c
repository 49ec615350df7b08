/*
 * response.c: the response builder handlers fill, and its framing into the
 * connection's output buffer. The builder's buffers are reused across requests.
 * Header names must be tokens and values free of CR, LF and NUL (RFC 9110 §5.5),
 * so a handler cannot inject header lines or split the response.
 */
#include "server_internal.h"
#include "simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The reason phrases of the IANA registry (RFC 9110 §15 and the RFCs it lists). */
const char *flare_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 511:
        return "Network Authentication Required";
    default:
        return "Unknown";
    }
}

void flare_http__response_reset(flare_response *resp)
{
    resp->upgrade_fn = NULL;
    resp->upgrade_data = NULL;
    resp->defer_ops = NULL;
    resp->defer_data = NULL;
    resp->status = 200;
    resp->close = false;
    resp->body_is_static = false;
    resp->static_body = NULL;
    resp->static_len = 0;
    resp->file_fd = -1;
    resp->file_offset = 0;
    resp->file_len = 0;
    resp->fixed = NULL;
    flare_buf_reset(&resp->headers);
    flare_buf_reset(&resp->body);
}

void flare_response_status(flare_response *resp, int status)
{
    resp->status = status >= 100 && status <= 599 ? status : 500;
}

/* 0 when name is a token other than the framing fields and value holds no CR, LF
 * or NUL (RFC 9110 §5.5), FLARE_EINVAL otherwise. The server frames every message
 * itself (RFC 9112 §6); a second length would let a handler split the response
 * stream. */
static int check_field(const char *name, size_t name_len, const char *value, size_t value_len)
{
    if (!flare_http_is_token(name, name_len)) return FLARE_EINVAL;
    flare_http_hdr id = flare_http_header_id(name, name_len);
    if (id == FLARE_HDR_CONTENT_LENGTH || id == FLARE_HDR_TRANSFER_ENCODING) return FLARE_EINVAL;
    return flare_http_is_field_value(value, value_len) ? 0 : FLARE_EINVAL;
}

/* Appends "name: value\r\n" to a checked field's buffer with one reservation. */
static int append_field(flare_buf *b, const char *name, size_t name_len, const char *value,
                        size_t value_len)
{
    int rc = flare_buf_reserve(b, name_len + value_len + 4);
    if (rc < 0) return rc;
    char *p = b->data + b->len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    if (value_len) memcpy(p, value, value_len); /* an empty value may be NULL */
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    b->len = (size_t)(p - b->data);
    return 0;
}

int flare_response_headern(flare_response *resp, const char *name, size_t name_len,
                           const char *value, size_t value_len)
{
    int rc = check_field(name, name_len, value, value_len);
    return rc < 0 ? rc : append_field(&resp->headers, name, name_len, value, value_len);
}

int flare_header_block_add(flare_header_block *b, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    int rc = check_field(name, name_len, value, value_len);
    return rc < 0 ? rc : append_field(&b->lines, name, name_len, value, value_len);
}

void flare_header_block_free(flare_header_block *b)
{
    flare_buf_free(&b->lines);
}

bool flare_http__header_block_valid(const flare_header_block *b)
{
    const char *p = b->lines.data, *end = p + b->lines.len;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *cr = colon ? memchr(colon, '\r', (size_t)(end - colon)) : NULL;
        /* "name: value\r\n": what append_field writes, and nothing else. */
        if (!cr || cr + 1 == end || cr[1] != '\n' || cr - colon < 2 || colon[1] != ' ' ||
            check_field(p, (size_t)(colon - p), colon + 2, (size_t)(cr - colon - 2)) < 0)
            return false;
        p = cr + 2;
    }
    return true;
}

int flare_response_header_block(flare_response *resp, const flare_header_block *b)
{
    return b->lines.len ? flare_buf_append(&resp->headers, b->lines.data, b->lines.len) : 0;
}

int flare_response_header(flare_response *resp, const char *name, const char *value)
{
    return flare_response_headern(resp, name, strlen(name), value, strlen(value));
}

int flare_response_body(flare_response *resp, const void *data, size_t len)
{
    resp->body_is_static = false;
    return flare_buf_append(&resp->body, data, len);
}

void flare_response_body_static(flare_response *resp, const void *data, size_t len)
{
    resp->body_is_static = true;
    resp->static_body = data;
    resp->static_len = len;
}

void flare_http__response_drop_file(flare_response *resp)
{
    if (resp->file_fd < 0) return;
    close(resp->file_fd);
    resp->file_fd = -1;
    free(resp->file_parts); /* set only with a file, so the reset need not look */
    resp->file_parts = NULL;
}

void flare_response_file(flare_response *resp, int fd, off_t offset, uint64_t len)
{
    flare_http__response_drop_file(resp);
    resp->file_fd = fd;
    resp->file_offset = offset;
    resp->file_len = len;
}

int flare_response_file_parts(flare_response *resp, int fd, const flare_file_part *parts, size_t n)
{
    flare_http__response_drop_file(resp);
    size_t text = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        text += parts[i].text_len;
        total += parts[i].text_len + parts[i].len;
    }
    if (n == 0 || n > UINT32_MAX) {
        close(fd);
        return FLARE_EINVAL;
    }
    flare_http__file_parts *p = malloc(sizeof *p + n * sizeof p->part[0] + text);
    if (!p) {
        close(fd);
        return FLARE_ENOMEM;
    }
    *p = (flare_http__file_parts){.count = (uint32_t)n, .rest = total};
    char *t = FLARE_HTTP__PART_TEXT(p);
    for (size_t i = 0; i < n; i++) {
        p->part[i] = (flare_http__file_part){parts[i].offset, parts[i].len, parts[i].text_len};
        if (parts[i].text_len) memcpy(t, parts[i].text, parts[i].text_len);
        t += parts[i].text_len;
    }
    resp->file_fd = fd;
    resp->file_len = total;
    resp->file_parts = p;
    return 0;
}

int flare_response_text(flare_response *resp, int status, const char *content_type,
                        const char *body, size_t len)
{
    flare_response_status(resp, status);
    int rc = flare_response_header(resp, "Content-Type", content_type);
    if (rc < 0) return rc;
    return flare_response_body(resp, body, len);
}

int flare_response_json(flare_response *resp, int status, const char *json)
{
    return flare_response_text(resp, status, "application/json", json, strlen(json));
}

int flare_response_status_text(flare_response *resp, int status)
{
    char text[64]; /* the longest reason phrase is 31 bytes */
    int n = snprintf(text, sizeof text, "%d %s\n", status, flare_http_reason(status));
    if (n < 0 || (size_t)n >= sizeof text) n = (int)sizeof text - 1;
    return flare_response_text(resp, status, "text/plain; charset=utf-8", text, (size_t)n);
}

int flare_response_not_found(flare_response *resp)
{
    return flare_response_status_text(resp, 404);
}

int flare_response_redirect(flare_response *resp, int status, const char *location)
{
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308)
        return FLARE_EINVAL;
    flare_response_status(resp, status);
    return flare_response_header(resp, "Location", location);
}

void flare_response_close(flare_response *resp)
{
    resp->close = true;
}

void flare_response_upgrade(flare_response *resp, flare_http_upgrade_fn fn, void *data)
{
    resp->upgrade_fn = fn;
    resp->upgrade_data = data;
}

/* Appends a decimal number without printf. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put((p), (lit), sizeof(lit) - 1)

int flare_http__head_start_init(flare_http__head_start *hs, const char *server_name,
                                const char *http_date)
{
    size_t n = server_name ? strlen(server_name) : 0;
    /* A CR or LF would end the field and let the rest pose as fields of its own. */
    if (n > FLARE_HTTP__SERVER_NAME_MAX ||
        (n && (!flare_http_is_field_value(server_name, n) || server_name[0] == ' ' ||
               server_name[0] == '\t' || server_name[n - 1] == ' ' || server_name[n - 1] == '\t')))
        return FLARE_EINVAL;
    char *p = PUT_LIT(hs->ok, "HTTP/1.1 200 OK\r\n");
    if (n) {
        p = PUT_LIT(p, "Server: ");
        p = put(p, server_name, n);
        p = PUT_LIT(p, "\r\n");
    }
    hs->server_len = (uint16_t)(p - hs->ok - FLARE_HTTP__OK_LINE_LEN);
    p = PUT_LIT(p, "Date: ");
    hs->ok_len = (uint16_t)(p - hs->ok);
    hs->http_date = http_date;
    return 0;
}

/* Status line, Server and Date: the part every response shares. A 200's is copied
 * whole, as one fixed-size block when it fits (the caller's room covers 64 bytes). */
static char *put_preamble(char *p, int status, const flare_http__head_start *hs)
{
    if (status == 200) {
        if (hs->ok_len <= 64)
            memcpy(p, hs->ok, 64);
        else
            memcpy(p, hs->ok, hs->ok_len);
        p += hs->ok_len;
    } else {
        p = PUT_LIT(p, "HTTP/1.1 ");
        *p++ = (char)('0' + status / 100);
        *p++ = (char)('0' + status / 10 % 10);
        *p++ = (char)('0' + status % 10);
        *p++ = ' ';
        const char *reason = flare_http_reason(status);
        p = put(p, reason, strlen(reason));
        p = PUT_LIT(p, "\r\n");
        p = put(p, hs->ok + FLARE_HTTP__OK_LINE_LEN, hs->server_len);
        p = PUT_LIT(p, "Date: ");
    }
    p = put(p, hs->http_date, FLARE_IMF_FIXDATE_LEN);
    return PUT_LIT(p, "\r\n");
}

/* Status line, Server, Date, the handler's fields, the framing field, Connection and
 * the blank line; `need` must cover it. */
static char *put_head(char *p, flare_response *resp, const flare_http__head_start *hs, int frame,
                      uint64_t length, bool close, bool http10_keep_alive)
{
    p = put_preamble(p, resp->status, hs);
    if (resp->fixed) p = put(p, resp->fixed->tail.data, resp->fixed->fields_len);
    p = put(p, resp->headers.data ? resp->headers.data : "", resp->headers.len);
    if (frame == FLARE_HTTP__FRAME_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, length);
        p = PUT_LIT(p, "\r\n");
    } else if (frame == FLARE_HTTP__FRAME_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (close)
        p = PUT_LIT(p, "Connection: close\r\n");
    else if (http10_keep_alive)
        p = PUT_LIT(p, "Connection: keep-alive\r\n");
    return PUT_LIT(p, "\r\n");
}

/* Fixed parts: status line and reason (< 50), Date (37), the framing field (< 40),
 * Connection (< 30), the separators: 256 covers them with room to spare. */
static size_t head_bytes(const flare_response *resp, const flare_http__head_start *hs)
{
    return 256 + hs->server_len + (resp->fixed ? resp->fixed->fields_len : 0) + resp->headers.len;
}

/* What flare_response_fixed set, unchanged since: its preformatted tail is the rest. */
static bool fixed_as_set(const flare_response *resp)
{
    const flare_fixed_response *f = resp->fixed;
    return f && resp->status == f->status && resp->headers.len == 0 && resp->body_is_static &&
           resp->static_body == f->tail.data + f->head_len && resp->file_fd < 0;
}

/* fixed_as_set, for a keep-alive HTTP/1.1 response with its body: two copies. */
static int serialize_fixed(const flare_response *resp, flare_buf *out,
                           const flare_http__head_start *hs, size_t *head_len)
{
    const flare_fixed_response *f = resp->fixed;
    int rc = flare_buf_reserve(out, 256 + hs->server_len + f->tail.len);
    if (rc < 0) return rc;
    char *start = out->data + out->len;
    char *p = put_preamble(start, f->status, hs);
    *head_len = (size_t)(p - start) + f->head_len;
    p = put(p, f->tail.data, f->tail.len);
    out->len += (size_t)(p - start);
    return 0;
}

int flare_http__response_serialize(flare_response *resp, flare_buf *out,
                                   const flare_http__head_start *hs, bool head_only, bool close,
                                   bool http10_keep_alive, size_t *head_len)
{
    if (!head_only && !close && !http10_keep_alive && fixed_as_set(resp))
        return serialize_fixed(resp, out, hs, head_len);
    int status = resp->status;
    bool no_content = flare_http__status_unframed(status);
    const char *body = resp->body_is_static ? resp->static_body : resp->body.data;
    uint64_t body_len = flare_http__status_contentless(status) ? 0
                        : resp->file_fd >= 0                   ? resp->file_len
                        : resp->body_is_static                 ? resp->static_len
                                                               : resp->body.len;
    size_t inline_len = (no_content || head_only || resp->file_fd >= 0) ? 0 : (size_t)body_len;
    int rc = flare_buf_reserve(out, head_bytes(resp, hs) + inline_len);
    if (rc < 0) return rc;
    char *start = out->data + out->len;
    char *p =
        put_head(start, resp, hs, no_content ? FLARE_HTTP__FRAME_NONE : FLARE_HTTP__FRAME_LENGTH,
                 body_len, close, http10_keep_alive);
    *head_len = (size_t)(p - start);
    if (inline_len) p = put(p, body, inline_len);
    out->len += (size_t)(p - start);
    return 0;
}

int flare_http__response_serialize_head(flare_response *resp, flare_buf *out,
                                        const flare_http__head_start *hs, int frame,
                                        uint64_t length, bool close, bool http10_keep_alive,
                                        size_t *head_len)
{
    int rc = flare_buf_reserve(out, head_bytes(resp, hs));
    if (rc < 0) return rc;
    char *start = out->data + out->len;
    char *p = put_head(start, resp, hs, frame, length, close, http10_keep_alive);
    *head_len = (size_t)(p - start);
    out->len += (size_t)(p - start);
    return 0;
}

int flare_http__error_response(flare_buf *out, int status, const flare_http__head_start *hs,
                               const flare_buf *fields, size_t *head_len)
{
    const char *reason = flare_http_reason(status);
    size_t reason_len = strlen(reason), fields_len = fields ? fields->len : 0;
    size_t need = 200 + hs->server_len + 2 * reason_len + fields_len;
    int rc = flare_buf_reserve(out, need);
    if (rc < 0) return rc;
    char *start = out->data + out->len;
    char *p = put_preamble(start, status, hs);
    if (fields_len) p = put(p, fields->data, fields_len);
    p = PUT_LIT(p, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    p = put_u64(p, reason_len + 5);
    p = PUT_LIT(p, "\r\nConnection: close\r\n\r\n");
    *head_len = (size_t)(p - start);
    p = put_u64(p, (uint64_t)status);
    *p++ = ' ';
    p = put(p, reason, reason_len);
    *p++ = '\n';
    out->len += (size_t)(p - start);
    return 0;
}

int flare_fixed_response_init(flare_fixed_response *f, int status, const flare_header_block *b,
                              const void *body, size_t len)
{
    *f = (flare_fixed_response){.status = status};
    if (status < 200 || status > 599 || (b && !flare_http__header_block_valid(b)))
        return FLARE_EINVAL;
    size_t fields_len = b ? b->lines.len : 0;
    size_t body_len = flare_http__status_contentless(status) ? 0 : len;
    int rc = flare_buf_reserve(&f->tail, fields_len + 64 + body_len);
    if (rc < 0) return rc;
    char *start = f->tail.data, *p = start;
    if (fields_len) p = put(p, b->lines.data, fields_len);
    if (!flare_http__status_unframed(status)) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, body_len);
        p = PUT_LIT(p, "\r\n");
    }
    p = PUT_LIT(p, "\r\n");
    f->fields_len = fields_len;
    f->head_len = (size_t)(p - start);
    if (body_len) p = put(p, body, body_len);
    f->tail.len = (size_t)(p - start);
    return 0;
}

void flare_fixed_response_free(flare_fixed_response *f)
{
    flare_buf_free(&f->tail);
    *f = (flare_fixed_response){0};
}

void flare_response_fixed(flare_response *resp, const flare_fixed_response *f)
{
    resp->fixed = f;
    resp->status = f->status;
    flare_response_body_static(resp, f->tail.data + f->head_len, f->tail.len - f->head_len);
}
