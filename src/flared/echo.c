/*
 * echo.c: the echo route: a JSON description of the request in the style of
 * httpbin's /anything (method, url, args, headers, data, json, origin), or with
 * `raw: true` the request body returned unchanged with its Content-Type.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flare/url.h"

#include "handlers_internal.h"

static bool is_utf8(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* No overlong forms, no surrogates, nothing past U+10FFFF (RFC 3629 §3). */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

static char *base64(const unsigned char *p, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* Sets key to a decoded string, or appends to an array when the key repeats. */
static void add_multi(json_t *obj, const char *key, json_t *value)
{
    json_t *old = json_object_get(obj, key);
    if (!old) {
        json_object_set_new(obj, key, value);
    } else if (json_is_array(old)) {
        json_array_append_new(old, value);
    } else {
        json_t *arr = json_array();
        json_array_append(arr, old);
        json_array_append_new(arr, value);
        json_object_set_new(obj, key, arr);
    }
}

/* One form-encoded key or value; -1 for a bad escape, an encoded NUL (it would cut a
 * JSON key short) or bytes that are not UTF-8 (JSON cannot carry them, and json_dumps
 * would fail the whole answer): such a pair is left out. */
static long decode_arg(const char *s, size_t len, char *dst)
{
    ssize_t n = flare_url_percent_decode(s, len, dst, true);
    if (n < 0 || memchr(dst, '\0', (size_t)n) || !is_utf8((const unsigned char *)dst, (size_t)n))
        return -1;
    return (long)n;
}

static json_t *parse_args(const char *q, size_t len)
{
    json_t *args = json_object();
    char *buf = malloc(len + 1);
    if (!buf) return args;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && q[end] != '&')
            end++;
        const char *eq = memchr(q + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (q + i)) : end - i;
        long k = decode_arg(q + i, klen, buf);
        if (k > 0) {
            char *key = strndup(buf, (size_t)k);
            const char *v = eq ? eq + 1 : q + end;
            size_t vraw = eq ? (size_t)(q + end - v) : 0;
            long vl = decode_arg(v, vraw, buf);
            if (key && vl >= 0) add_multi(args, key, json_stringn_nocheck(buf, (size_t)vl));
            free(key);
        }
        i = end + 1;
    }
    free(buf);
    return args;
}

/* The combined field so far whose name matches *name without regard to case (RFC 9110
 * §5.1), or NULL; when found, *name becomes the first spelling, which keys the field. */
static json_t *field_named(json_t *headers, char **name)
{
    const char *key;
    json_t *value;
    json_object_foreach(headers, key, value)
    {
        if (strcasecmp(key, *name) != 0) continue;
        char *first = strdup(key);
        if (first) {
            free(*name);
            *name = first;
        }
        return value;
    }
    return NULL;
}

/* A field value as a JSON string: obs-text bytes (RFC 9110 §5.5) are not UTF-8, so
 * they are shown as ISO-8859-1 characters rather than dropped. */
static json_t *field_value(const char *v, size_t len)
{
    if (is_utf8((const unsigned char *)v, len)) return json_stringn(v, len);
    char *text = malloc(2 * len + 1);
    if (!text) return json_string("");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x80) {
            text[n++] = (char)ch;
        } else {
            text[n++] = (char)(0xC0 | ch >> 6);
            text[n++] = (char)(0x80 | (ch & 0x3F));
        }
    }
    json_t *s = json_stringn(text, n);
    free(text);
    return s ? s : json_string("");
}

static json_t *describe(const flare_request *req)
{
    const flare_http_request *h = req->head;
    json_t *doc = json_object();
    json_object_set_new(doc, "method", json_stringn(h->method, h->method_len));
    /* The URL as the client named it: the Host field keeps its port, and the scheme
     * is the connection's (RFC 9110 §4.2). */
    const flare_http_header *host = flare_http_request_header(h, FLARE_HDR_HOST);
    const char *host_text = host ? host->value : req->host;
    int host_len = host ? (int)host->value_len : (int)req->host_len;
    char *url = malloc((size_t)host_len + h->target_len + 16);
    if (url) {
        int n = h->target_form == FLARE_TARGET_ABSOLUTE
                    ? snprintf(url, h->target_len + 1, "%.*s", (int)h->target_len, h->target)
                    : snprintf(url, (size_t)host_len + h->target_len + 16, "%s://%.*s%.*s",
                               req->tls ? "https" : "http", host_len, host_text, (int)h->target_len,
                               h->target);
        json_object_set_new(doc, "url", json_stringn(url, (size_t)n));
        free(url);
    }
    json_object_set_new(doc, "args", parse_args(req->query ? req->query : "", req->query_len));
    json_t *headers = json_object();
    for (size_t i = 0; i < h->num_headers; i++) {
        char *name = strndup(h->headers[i].name, h->headers[i].name_len);
        if (!name) continue;
        json_t *old = field_named(headers, &name);
        json_t *value = field_value(h->headers[i].value, h->headers[i].value_len);
        if (old) {
            /* RFC 9110 §5.3: repeated fields combine into one comma-separated list. */
            size_t ol = json_string_length(old), nl = json_string_length(value);
            char *joined = malloc(ol + nl + 3);
            if (joined) {
                memcpy(joined, json_string_value(old), ol);
                memcpy(joined + ol, ", ", 2);
                memcpy(joined + ol + 2, json_string_value(value), nl);
                json_object_set_new(headers, name, json_stringn(joined, ol + nl + 2));
                free(joined);
            }
            json_decref(value);
        } else {
            json_object_set_new(headers, name, value);
        }
        free(name);
    }
    json_object_set_new(doc, "headers", headers);
    const unsigned char *body = (const unsigned char *)req->body;
    if (is_utf8(body, req->body_len)) {
        json_object_set_new(doc, "data", json_stringn(req->body, req->body_len));
    } else {
        char *b64 = base64(body, req->body_len);
        char *data = b64 ? malloc(strlen(b64) + 40) : NULL;
        if (data) {
            strcpy(data, "data:application/octet-stream;base64,");
            strcat(data, b64);
            json_object_set_new(doc, "data", json_string(data));
        }
        free(data);
        free(b64);
    }
    json_t *parsed =
        req->body_len ? json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(doc, "json", parsed ? parsed : json_null());
    char origin[FLARE_IP_STR_MAX] = "";
    if (req->peer->ip.family) flare_ip_format(&req->peer->ip, origin, sizeof origin);
    json_object_set_new(doc, "origin", json_string(origin));
    return doc;
}

int flared_handle_echo(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    flared_route_headers(resp, ctx);
    if (ctx->route->u.echo.raw) {
        const flare_http_header *ct = flare_http_request_header(req->head, FLARE_HDR_CONTENT_TYPE);
        if (ct) flare_response_headern(resp, "Content-Type", 12, ct->value, ct->value_len);
        return flare_response_body(resp, req->body, req->body_len);
    }
    json_t *doc = describe(req);
    if (!doc) return FLARE_ENOMEM;
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) return FLARE_ENOMEM;
    int rc = flare_response_text(resp, 200, "application/json", text, strlen(text));
    if (rc == 0) rc = flare_response_body(resp, "\n", 1);
    free(text);
    return rc;
}
