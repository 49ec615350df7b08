/*
 * client.c: the client object and the life of one request: URL against the base,
 * one exchange per hop, sent once more on a new connection when a reused one
 * fails it before the server acted on it (closed without an answer: idempotent
 * methods only, RFC 9112 §9.3.1; a 408: any method, RFC 9110 §15.5.9; either way
 * only a body that can be sent again), cookies stored from every hop, and
 * redirects (RFC 9110 §15.4): a POST met by 301/302, and any method but HEAD met
 * by 303, becomes GET without a body; otherwise method and body are kept;
 * credentials stay with the first origin.
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

static bool has_ctl(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return true;
    return false;
}

static int make_auth(flare_http_client *c, const flare_http_auth *a, flare_error *err)
{
    flare_buf b = FLARE_BUF_INIT;
    int rc = 0;
    if (a->type == FLARE_HTTP_AUTH_BASIC) {
        const char *user = a->username ? a->username : "", *pass = a->password ? a->password : "";
        /* RFC 7617 §2: the user-id cannot contain a colon. */
        if (strchr(user, ':') || has_ctl(user) || has_ctl(pass))
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "basic auth: the user name may not hold ':' and neither part "
                                   "control characters");
        flare_buf pair = FLARE_BUF_INIT;
        rc = flare_buf_appendf(&pair, "%s:%s", user, pass);
        if (rc == 0) rc = flare_buf_append_str(&b, "Basic ");
        if (rc == 0) rc = flare_http__client_base64(&b, pair.data, pair.len);
        flare_buf_free(&pair);
    } else if (a->type == FLARE_HTTP_AUTH_BEARER) {
        const char *t = a->token ? a->token : "";
        if (!*t || has_ctl(t) || strchr(t, ' '))
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "bearer auth: the token is empty or holds spaces or control "
                                   "characters (RFC 6750 §2.1)");
        rc = flare_buf_appendf(&b, "Bearer %s", t);
    } else if (a->type != FLARE_HTTP_AUTH_NONE) {
        return flare_error_set(err, FLARE_EINVAL, 0, "auth: unknown type %d", (int)a->type);
    } else {
        return 0;
    }
    if (rc == 0) rc = flare_buf_append(&b, "", 1);
    if (rc < 0) {
        flare_buf_free(&b);
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    }
    c->auth_header = b.data;
    return 0;
}

static int copy_config(flare_http_client *c, const flare_http_client_config *cfg, flare_error *err)
{
    bool failed = false;
    if (cfg->base_url) {
        int rc = flare_url_parse(&c->base, cfg->base_url, strlen(cfg->base_url), err);
        if (rc < 0) return rc;
        c->has_base = true;
    }
    const char *ua = cfg->user_agent ? cfg->user_agent : FLARE_HTTP_CLIENT_USER_AGENT;
    if (has_ctl(ua))
        return flare_error_set(err, FLARE_EINVAL, 0, "user agent holds control characters");
    if (*ua) c->user_agent = dup_or_null(ua, &failed);
    if (cfg->num_headers) {
        int rc = flare_http__client_check_fields(cfg->headers, cfg->num_headers, "default", err);
        if (rc < 0) return rc;
        c->headers = calloc(cfg->num_headers, sizeof *c->headers);
        if (!c->headers) return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
        c->num_headers = cfg->num_headers;
        for (size_t i = 0; i < cfg->num_headers; i++) {
            c->headers[i].name = dup_or_null(cfg->headers[i].name, &failed);
            c->headers[i].value = dup_or_null(cfg->headers[i].value, &failed);
        }
    }
    int rc = make_auth(c, &cfg->auth, err);
    if (rc < 0) return rc;
    c->connect_timeout_ms = cfg->connect_timeout_ms < 0    ? -1
                            : cfg->connect_timeout_ms == 0 ? FLARE_HTTP_CLIENT_CONNECT_TIMEOUT_MS
                                                           : cfg->connect_timeout_ms;
    c->read_timeout_ms = cfg->read_timeout_ms < 0    ? -1
                         : cfg->read_timeout_ms == 0 ? FLARE_HTTP_CLIENT_READ_TIMEOUT_MS
                                                     : cfg->read_timeout_ms;
    c->total_timeout_ms = cfg->total_timeout_ms > 0 ? cfg->total_timeout_ms : -1;
    c->max_response_bytes =
        cfg->max_response_bytes ? cfg->max_response_bytes : FLARE_HTTP_CLIENT_MAX_RESPONSE;
    c->max_redirects = cfg->max_redirects < 0    ? -1
                       : cfg->max_redirects == 0 ? FLARE_HTTP_CLIENT_MAX_REDIRECTS
                                                 : cfg->max_redirects;
    c->decompress = !cfg->no_decompress;
    c->keepalive = !cfg->no_keepalive;
    c->pool_idle_ms = cfg->pool_idle_timeout_ms > 0 ? (uint64_t)cfg->pool_idle_timeout_ms
                                                    : FLARE_HTTP_CLIENT_POOL_IDLE_MS;
    c->pool_per_origin =
        cfg->pool_max_per_origin ? cfg->pool_max_per_origin : FLARE_HTTP_CLIENT_POOL_PER_ORIGIN;
    c->jar = cfg->cookie_jar;
    if (cfg->resolver) {
        c->resolver = *cfg->resolver;
        c->has_resolver = true;
    }
    c->family = cfg->family;
    c->trace = cfg->trace;
    c->trace_ctx = cfg->trace_ctx;
    if (cfg->tls) {
        c->tls_cfg = *cfg->tls;
        c->tls_cfg.ca_file = c->tls_strings[0] = dup_or_null(cfg->tls->ca_file, &failed);
        c->tls_cfg.ca_dir = c->tls_strings[1] = dup_or_null(cfg->tls->ca_dir, &failed);
        c->tls_cfg.cert_file = c->tls_strings[2] = dup_or_null(cfg->tls->cert_file, &failed);
        c->tls_cfg.key_file = c->tls_strings[3] = dup_or_null(cfg->tls->key_file, &failed);
    }
    c->tls_cfg.resolver = c->has_resolver ? &c->resolver : NULL;
    c->tls_cfg.family = c->family;
    if (failed) return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    return 0;
}

int flare_http_client_new(flare_http_client **out, const flare_http_client_config *cfg,
                          flare_error *err)
{
    *out = NULL;
    static const flare_http_client_config defaults;
    flare_http_client *c = calloc(1, sizeof *c);
    if (!c) return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    int rc = copy_config(c, cfg ? cfg : &defaults, err);
    if (rc < 0) {
        flare_http_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void flare_http_client_close_idle(flare_http_client *c)
{
    if (c) flare_http__client_pool_clear(c);
}

void flare_http_client_free(flare_http_client *c)
{
    if (!c) return;
    flare_http__client_pool_clear(c);
    flare_url_free(&c->base);
    free(c->user_agent);
    for (size_t i = 0; i < c->num_headers; i++) {
        free((char *)c->headers[i].name);
        free((char *)c->headers[i].value);
    }
    free(c->headers);
    free(c->auth_header);
    for (size_t i = 0; i < FLARE_N_ELEMENTS(c->tls_strings); i++)
        free(c->tls_strings[i]);
    flare_tls_client_ctx_free(c->tls_ctx);
    flare_buf_free(&c->head);
    flare_buf_free(&c->rbuf);
    free(c->fields);
    free(c);
}

const flare_http_client_stats *flare_http_client_get_stats(const flare_http_client *c)
{
    return &c->stats;
}

/* "scheme://" at the start: an absolute URL; anything else is relative to the base. */
static bool is_absolute(const char *s)
{
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    return p[0] == ':' && p[1] == '/' && p[2] == '/';
}

/* The base URL is a prefix: "https://api/v1" + "items" or "/items" = "https://api/v1/items". */
static int make_url(flare_http_client *c, const char *s, flare_url *out, flare_error *err)
{
    if (is_absolute(s)) return flare_url_parse(out, s, strlen(s), err);
    memset(out, 0, sizeof *out);
    if (!c->has_base)
        return flare_error_set(err, FLARE_EURL, 0,
                               "invalid URL \"%.200s\": relative, and the client has no base "
                               "URL",
                               s);
    flare_buf b = FLARE_BUF_INIT;
    const flare_url *base = &c->base;
    int rc = flare_buf_appendf(&b, "%s://", base->scheme);
    if (rc == 0 && base->userinfo) rc = flare_buf_appendf(&b, "%s@", base->userinfo);
    if (rc == 0) rc = flare_url_host_header(base, &b);
    size_t path_len = strlen(base->path);
    while (path_len > 0 && base->path[path_len - 1] == '/')
        path_len--;
    if (rc == 0) rc = flare_buf_append(&b, base->path, path_len);
    if (rc == 0 && *s != '?' && *s != '/' && *s) rc = flare_buf_append(&b, "/", 1);
    if (rc == 0 && *s == '\0') rc = flare_buf_append(&b, "/", 1);
    if (rc == 0) rc = flare_buf_append_str(&b, s);
    if (rc < 0) {
        flare_buf_free(&b);
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    }
    rc = flare_url_parse(out, b.data, b.len, err);
    flare_buf_free(&b);
    return rc;
}

/* RFC 9110 §9.2.2: methods a client may repeat without changing the outcome. */
static bool idempotent(const char *m)
{
    static const char *const list[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(list); i++)
        if (!strcmp(m, list[i])) return true;
    return false;
}

/* The body can go out again: a buffer, or a stream the caller can rewind. */
static bool replayable(const client_req *rq)
{
    return !rq->body_read || rq->body_rewind;
}

/* A streamed body that went out before starts over, or the request cannot be sent. */
static int rewind_body(client_req *rq, flare_error *err)
{
    if (!rq->body_read || !rq->body_sent) return 0;
    if (!rq->body_rewind)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "%s: the streamed body was sent and cannot be sent again "
                               "(no body_rewind)",
                               rq->method);
    return rq->body_rewind(rq->body_ctx, err);
}

static int send_once(flare_http_client *c, client_req *rq, flare_http_reply *reply,
                     flare_error *err)
{
    for (int attempt = 0;; attempt++) {
        client_conn *k;
        bool reused, reusable, got_response;
        int rc = rewind_body(rq, err);
        if (rc == 0)
            rc = flare_http__client_conn_get(c, rq->url, rq->deadline_ms, &k, &reused, err);
        if (rc < 0) return rc;
        rq->retry_408 = reused && attempt == 0 && replayable(rq);
        rq->body_sent = rq->body_read != NULL;
        rc = flare_http__client_exchange(c, k, rq, reply, &reusable, &got_response, err);
        flare_http__client_conn_release(c, k, rc == 0 && reusable);
        if (rc == 0) {
            reply->reused_connection = reused;
            return 0;
        }
        const char *why;
        if (rc == CLIENT_RETRY_408) {
            /* RFC 9110 §15.5.9: a 408 on a reused connection is the server closing it
             * idle, before our request arrived: not applied, so any method goes again. */
            why = "408 Request Timeout";
        } else {
            /* The server may close an idle connection just as we send on it (RFC 9112
             * §9.3.1): without a byte of answer, a safe request goes again, once; one
             * that is not idempotent may have been applied, and is not. */
            bool stale = reused && !got_response && !rq->body_failed &&
                         (rc == FLARE_ECLOSED || rc == FLARE_ECONNRESET || rc == FLARE_ESYS);
            if (!stale || attempt > 0 || !idempotent(rq->method) || !replayable(rq)) return rc;
            why = err ? err->message : flare_strerror(rc);
        }
        c->stats.retries++;
        flare_http__client_trace(c, "retrying %s on a new connection (the reused one failed: %s)",
                                 rq->method, why);
        flare_http_reply_free(reply);
    }
}

static void store_cookies(flare_http_client *c, const flare_url *url, const flare_http_reply *r)
{
    if (!c->jar) return;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].id == FLARE_HDR_SET_COOKIE) {
            flare_error why;
            if (flare_cookie_jar_store(c->jar, url, r->headers[i].value, r->headers[i].value_len,
                                       now, &why) < 0)
                flare_http__client_trace(c, "%s", why.message); /* ignored, as §5.3 says */
        }
}

static bool is_redirect(int status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* RFC 9110 §15.4.2-4: POST to GET is what clients do for 301/302 (only POST: PUT
 * or DELETE stay as they are), and 303 asks for GET for every method but HEAD.
 * 307/308 (§15.4.8-9) repeat the request as it was. */
static bool becomes_get(int status, const char *method)
{
    return status == 303 ? strcmp(method, "HEAD") != 0 : status <= 302 && !strcmp(method, "POST");
}

bool flare_http__client_follows(const client_req *rq, int status)
{
    /* A hop that keeps the body needs it again: not when it was streamed for good. */
    return rq->follow && is_redirect(status) && (replayable(rq) || becomes_get(status, rq->method));
}

/* RFC 9110 §10.2.2: Location is one URI-reference. Two lines that differ leave the
 * target ambiguous (a head spliced on its way, say) and following either may go
 * where the server did not mean: neither is followed, the 3xx is kept. The same
 * value twice is that value. *location is NULL when there is none. */
static int redirect_target(const flare_http_reply *r, const char **location, flare_error *err)
{
    *location = NULL;
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *h = &r->headers[i];
        if (h->id != FLARE_HDR_LOCATION) continue;
        if (*location && strcmp(*location, h->value))
            return flare_error_set(err, FLARE_EPROTO, 0,
                                   "redirect (status %d) with two different Locations, not "
                                   "followed: \"%.200s\" and \"%.200s\"",
                                   r->status, *location, h->value);
        *location = h->value;
    }
    return 0;
}

static int finish_reply(flare_http_reply *reply, const flare_url *url, const char *method,
                        int redirects)
{
    flare_buf b = FLARE_BUF_INIT;
    if (flare_url_format(url, 0, &b) < 0 || flare_buf_append(&b, "", 1) < 0) {
        flare_buf_free(&b);
        return FLARE_ENOMEM;
    }
    free(reply->url);
    free(reply->method);
    reply->url = b.data;
    reply->method = strdup(method);
    reply->redirects = redirects;
    return reply->method ? 0 : FLARE_ENOMEM;
}

int flare_http_client_request(flare_http_client *c, const flare_http_request_opts *opts,
                              flare_http_reply *reply, flare_error *err)
{
    memset(reply, 0, sizeof *reply);
    if (!c || !opts || !opts->url)
        return flare_error_set(err, FLARE_EINVAL, 0, "http request: NULL client, options or URL");
    flare_url url, first;
    int rc = make_url(c, opts->url, &url, err);
    if (rc < 0) return rc;
    int total = opts->total_timeout_ms > 0 ? opts->total_timeout_ms : c->total_timeout_ms;
    client_req rq = {
        .method = opts->method ? opts->method : "GET",
        .headers = opts->headers,
        .num_headers = opts->num_headers,
        .body = opts->body,
        .body_len = opts->body ? opts->body_len : 0,
        .has_body = opts->body != NULL || opts->body_read != NULL,
        .body_read = opts->body_read,
        .body_rewind = opts->body_rewind,
        .body_ctx = opts->body_ctx,
        .body_sized = opts->body_read && opts->body_sized,
        .body_size = opts->body_size,
        .content_type = opts->content_type,
        .follow = c->max_redirects >= 0,
        .deadline_ms = total > 0 ? flare_monotonic_ms() + (uint64_t)total : UINT64_MAX,
        .on_body = opts->on_body,
        .on_body_ctx = opts->on_body_ctx,
        .on_head = opts->on_head,
        .on_head_ctx = opts->on_head_ctx,
    };
    rc = opts->body && opts->body_read
             ? flare_error_set(err, FLARE_EINVAL, 0, "http request: both body and body_read set")
             : flare_http__client_check_request(&rq, err);
    if (rc == 0) rc = flare_url_copy(&first, &url, err);
    if (rc < 0) {
        flare_url_free(&url);
        return rc;
    }
    int redirects = 0;
    for (;;) {
        rq.url = &url;
        rq.is_head = !strcmp(rq.method, "HEAD");
        rc = send_once(c, &rq, reply, err);
        if (rc < 0) break;
        store_cookies(c, &url, reply);
        const char *location = NULL;
        if (!flare_http__client_follows(&rq, reply->status) ||
            (rc = redirect_target(reply, &location, err)) < 0 || !location)
            break;
        if (redirects >= c->max_redirects) {
            flare_buf where = FLARE_BUF_INIT;
            flare_url_format(&url, 0, &where);
            rc = flare_error_set(err, FLARE_EREDIRECT, 0,
                                 "too many redirects: stopped after %d, at %.*s (status %d)",
                                 redirects, (int)(where.len > 300 ? 300 : where.len),
                                 where.data ? where.data : "", reply->status);
            flare_buf_free(&where);
            break;
        }
        flare_url next;
        rc = flare_url_resolve(&next, &url, location, strlen(location), err);
        if (rc == FLARE_EURL) {
            /* The server's fault, not the caller's: a protocol error, the 3xx kept. */
            char why[FLARE_ERROR_MESSAGE_MAX];
            snprintf(why, sizeof why, "%s", err ? err->message : "invalid URL");
            rc = flare_error_set(err, FLARE_EPROTO, 0,
                                 "redirect (status %d) to a Location that cannot be followed: %s",
                                 reply->status, why);
        }
        if (rc < 0) break;
        if (becomes_get(reply->status, rq.method)) {
            rq.method = "GET";
            rq.body_dropped = true;
            rq.body = NULL;
            rq.body_len = 0;
            rq.has_body = false;
            rq.body_read = NULL;
            rq.body_sized = false;
        }
        if (!flare_url_same_origin(&next, &first)) rq.cross_origin = true;
        flare_http__client_trace(c, "following redirect %d (%d) to %s%s", redirects + 1,
                                 reply->status, location,
                                 rq.cross_origin ? " (new origin: credentials dropped)" : "");
        flare_url_free(&url);
        url = next;
        flare_http_reply_free(reply);
        redirects++;
    }
    if ((rc == 0 || reply->status) && finish_reply(reply, &url, rq.method, redirects) < 0 &&
        rc == 0)
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    flare_url_free(&url);
    flare_url_free(&first);
    return rc;
}
