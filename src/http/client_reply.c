/*
 * client_reply.c: what a caller does with a response (header lookup, ok,
 * raise_for_status) and the short forms: per-method calls on a client, and
 * one-shot calls that use a throwaway client (no pool survives them).
 */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void flare_http_reply_free(flare_http_reply *r)
{
    if (!r) return;
    free(r->mem);
    free(r->headers);
    free(r->body);
    free(r->url);
    free(r->method);
    memset(r, 0, sizeof *r);
}

const char *flare_http_reply_header(const flare_http_reply *r, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].name_len == len && !strncasecmp(r->headers[i].name, name, len))
            return r->headers[i].value;
    return NULL;
}

bool flare_http_reply_ok(const flare_http_reply *r)
{
    return r->status >= 200 && r->status <= 299;
}

int flare_http_reply_raise_for_status(const flare_http_reply *r, flare_error *err)
{
    if (r->status > 0 && r->status < 400) return 0;
    return flare_error_set(err, FLARE_EHTTP_STATUS, 0, "HTTP %d %s for %s %.200s", r->status,
                           r->reason && *r->reason ? r->reason : "(no reason)",
                           r->method ? r->method : "request", r->url ? r->url : "(no URL)");
}

static int call(flare_http_client *c, const char *method, const char *url, const char *body,
                flare_http_reply *reply, flare_error *err)
{
    flare_http_request_opts o = {.method = method, .url = url};
    if (body) {
        o.body = body;
        o.body_len = strlen(body);
    }
    return flare_http_client_request(c, &o, reply, err);
}

int flare_http_client_get(flare_http_client *c, const char *url, flare_http_reply *reply,
                          flare_error *err)
{
    return call(c, "GET", url, NULL, reply, err);
}

int flare_http_client_head(flare_http_client *c, const char *url, flare_http_reply *reply,
                           flare_error *err)
{
    return call(c, "HEAD", url, NULL, reply, err);
}

int flare_http_client_delete(flare_http_client *c, const char *url, flare_http_reply *reply,
                             flare_error *err)
{
    return call(c, "DELETE", url, NULL, reply, err);
}

int flare_http_client_post(flare_http_client *c, const char *url, const char *body,
                           flare_http_reply *reply, flare_error *err)
{
    return call(c, "POST", url, body, reply, err);
}

int flare_http_client_put(flare_http_client *c, const char *url, const char *body,
                          flare_http_reply *reply, flare_error *err)
{
    return call(c, "PUT", url, body, reply, err);
}

int flare_http_client_patch(flare_http_client *c, const char *url, const char *body,
                            flare_http_reply *reply, flare_error *err)
{
    return call(c, "PATCH", url, body, reply, err);
}

int flare_http_fetch(const flare_http_request_opts *opts, flare_http_reply *reply, flare_error *err)
{
    memset(reply, 0, sizeof *reply);
    flare_http_client *c;
    flare_http_client_config cfg = {.no_keepalive = true};
    int rc = flare_http_client_new(&c, &cfg, err);
    if (rc < 0) return rc;
    rc = flare_http_client_request(c, opts, reply, err);
    flare_http_client_free(c);
    return rc;
}

static int one_shot(const char *method, const char *url, const char *body, flare_http_reply *reply,
                    flare_error *err)
{
    memset(reply, 0, sizeof *reply);
    flare_http_client *c;
    /* Redirects reuse nothing either: one connection per hop, closed after it. */
    flare_http_client_config cfg = {.no_keepalive = true};
    int rc = flare_http_client_new(&c, &cfg, err);
    if (rc < 0) return rc;
    rc = call(c, method, url, body, reply, err);
    flare_http_client_free(c);
    return rc;
}

int flare_http_get(const char *url, flare_http_reply *reply, flare_error *err)
{
    return one_shot("GET", url, NULL, reply, err);
}

int flare_http_head(const char *url, flare_http_reply *reply, flare_error *err)
{
    return one_shot("HEAD", url, NULL, reply, err);
}

int flare_http_delete(const char *url, flare_http_reply *reply, flare_error *err)
{
    return one_shot("DELETE", url, NULL, reply, err);
}

int flare_http_post(const char *url, const char *body, flare_http_reply *reply, flare_error *err)
{
    return one_shot("POST", url, body, reply, err);
}

int flare_http_put(const char *url, const char *body, flare_http_reply *reply, flare_error *err)
{
    return one_shot("PUT", url, body, reply, err);
}

int flare_http_patch(const char *url, const char *body, flare_http_reply *reply, flare_error *err)
{
    return one_shot("PATCH", url, body, reply, err);
}
