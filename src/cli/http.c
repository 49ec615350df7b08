/*
 * http.c: `flare [options] URL...`: one libflare HTTP client for all the URLs
 * (so they share keep-alive connections and a session cookie jar), the body
 * streamed to stdout or -o FILE as it arrives (decoded), a request body from
 * memory or streamed from a file (upload.c), the head printed for
 * -i/-I, JSON pretty-printed for --json, and the exit status from the outcome.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

typedef struct output {
    const cli_options *o;
    FILE *out;
    bool suppress; /* --fail and a status >= 400: no body output */
    flare_buf json;
} output;

static void trace(void *ctx, flare_http_trace_kind kind, const char *text, size_t len)
{
    (void)ctx;
    if (kind == FLARE_HTTP_TRACE_INFO) {
        fprintf(stderr, "* %.*s\n", (int)len, text);
        return;
    }
    /* Heads, line by line, as curl -v shows them. */
    const char *mark = kind == FLARE_HTTP_TRACE_REQUEST_HEAD ? "> " : "< ";
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((eol ? eol : end) - p);
        if (n && p[n - 1] == '\r') n--;
        fprintf(stderr, "%s%.*s\n", mark, (int)n, p);
        p = eol ? eol + 1 : end;
    }
}

static void tls_warning(void *ctx, const char *message)
{
    const cli_options *o = ctx;
    if (o->verbose) fprintf(stderr, "* %s\n", message);
}

static int open_output(output *w, flare_error *err)
{
    if (w->out) return 0;
    if (!w->o->output || !strcmp(w->o->output, "-")) {
        w->out = stdout;
        return 0;
    }
    w->out = fopen(w->o->output, "wb");
    if (!w->out) return flare_error_set(err, FLARE_EINVAL, errno, "cannot write %s", w->o->output);
    return 0;
}

static int on_head(void *ctx, const flare_http_reply *r, flare_error *err)
{
    output *w = ctx;
    if (w->o->fail && r->status >= 400) {
        w->suppress = true;
        return 0;
    }
    int rc = open_output(w, err);
    if (rc < 0) return rc;
    if (w->o->include || w->o->head) {
        fprintf(w->out, "HTTP/1.%d %d %s\r\n", r->minor_version, r->status, r->reason);
        for (size_t i = 0; i < r->num_headers; i++)
            fprintf(w->out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
        fputs("\r\n", w->out);
    }
    return 0;
}

static int on_body(void *ctx, const char *data, size_t len, flare_error *err)
{
    output *w = ctx;
    if (w->suppress) return 0;
    if (w->o->json) {
        if (flare_buf_append(&w->json, data, len) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
        return 0;
    }
    if (fwrite(data, 1, len, w->out) != len)
        return flare_error_set(err, FLARE_EINVAL, errno, "cannot write %s",
                               w->o->output ? w->o->output : "stdout");
    return 0;
}

/* --json: pretty-printed when the body parses, as received otherwise. */
static void print_json(output *w)
{
    if (!w->json.len) return;
    json_t *doc = json_loadb(w->json.data, w->json.len, JSON_DECODE_ANY, NULL);
    if (doc) {
        json_dumpf(doc, w->out, JSON_INDENT(2) | JSON_ENCODE_ANY);
        fputc('\n', w->out);
        json_decref(doc);
    } else {
        fwrite(w->json.data, 1, w->json.len, w->out);
    }
}

/* curl's habit: a URL without a scheme is http. */
static char *with_scheme(const char *url)
{
    if (strstr(url, "://")) return strdup(url);
    size_t n = strlen(url) + 8;
    char *s = malloc(n);
    if (s) snprintf(s, n, "http://%s", url);
    return s;
}

/* The URL as given (with a scheme), and for -T FILE the file's name after a '/'. */
static char *request_url(const cli_upload *up, const char *arg)
{
    char *url = with_scheme(arg);
    if (!url || !up->put || !strcmp(up->path, "-")) return url;
    char *named = cli_upload_url(url, up->path);
    free(url);
    return named;
}

static int one_url(const cli_options *o, flare_http_client *c, cli_upload *up, const char *arg)
{
    const char *method = o->method             ? o->method
                         : up->put             ? "PUT"
                         : o->head             ? "HEAD"
                         : o->data || up->path ? "POST"
                                               : "GET";
    flare_http_kv accept = {"Accept", "application/json"};
    bool add_accept = o->json;
    for (size_t i = 0; i < o->num_headers; i++)
        if (!strcasecmp(o->headers[i].name, "Accept")) add_accept = false;
    output w = {.o = o, .json = FLARE_BUF_INIT};
    flare_error err;
    if (up->path && cli_upload_start(up, &err) < 0) {
        cli_error(o, "%s", err.message);
        return CLI_USAGE;
    }
    char *url = request_url(up, arg);
    flare_http_request_opts opts = {
        .method = method,
        .url = url,
        .headers = add_accept ? &accept : NULL,
        .num_headers = add_accept ? 1 : 0,
        .body = o->data,
        .body_len = o->data_len,
        .on_body = on_body,
        .on_body_ctx = &w,
        .on_head = on_head,
        .on_head_ctx = &w,
    };
    if (up->path) {
        opts.body_read = cli_upload_read;
        opts.body_rewind = up->sized ? cli_upload_rewind : NULL;
        opts.body_ctx = up;
        opts.body_sized = up->sized;
        opts.body_size = up->size;
        if (up->put) opts.content_type = ""; /* curl -T names no type: -H can */
    }
    flare_http_reply r;
    int rc = url ? flare_http_client_request(c, &opts, &r, &err)
                 : flare_error_set(&err, FLARE_ENOMEM, 0, "out of memory");
    int status = CLI_OK;
    if (rc < 0) {
        cli_error(o, "%s", err.message);
        status = cli_exit_for(rc);
    } else {
        if (o->json && !w.suppress) print_json(&w);
        if (o->fail && r.status >= 400) {
            cli_error(o, "HTTP %d %s for %s %s", r.status, r.reason, r.method, r.url);
            status = CLI_FAIL;
        } else if (!flare_http_reply_ok(&r)) {
            status = CLI_STATUS;
            /* A redirect with a Location that -L did not follow: libflare stops only
             * where the hop would resend the body (any but a POST made GET). */
            bool redirect = r.status == 301 || r.status == 302 || r.status == 303 ||
                            r.status == 307 || r.status == 308;
            if (o->follow && up->path && !up->sized && redirect &&
                flare_http_reply_header(&r, "Location"))
                cli_error(o,
                          "not following the %d redirect: the body from %s cannot be sent "
                          "again",
                          r.status, strcmp(up->path, "-") ? up->path : "standard input");
        }
    }
    if (w.out && w.out != stdout && fclose(w.out) != 0 && status == CLI_OK) {
        cli_error(o, "cannot write %s: %s", o->output, strerror(errno));
        status = CLI_USAGE;
    } else if (w.out == stdout && (fflush(stdout) != 0 || ferror(stdout)) && status == CLI_OK) {
        /* A body that fit in stdio's buffer fails only here (a full disk, a
         * closed pipe): the output is lost, so success would be a lie. */
        cli_error(o, "cannot write stdout: %s", strerror(errno));
        status = CLI_USAGE;
    }
    flare_buf_free(&w.json);
    flare_http_reply_free(&r);
    free(url);
    return status;
}

int cli_http(const cli_options *o)
{
    if (o->user && o->bearer) {
        cli_error(o, "-u and --bearer both set: choose one (flare --help for usage)");
        return CLI_USAGE;
    }
    flare_http_auth auth = {0};
    char *user = NULL;
    if (o->user) {
        user = strdup(o->user);
        if (!user) return CLI_USAGE;
        char *colon = strchr(user, ':');
        if (colon) *colon = '\0';
        auth = (flare_http_auth){FLARE_HTTP_AUTH_BASIC, user, colon ? colon + 1 : "", NULL};
    } else if (o->bearer) {
        auth = (flare_http_auth){FLARE_HTTP_AUTH_BEARER, NULL, NULL, o->bearer};
    }
    if (o->insecure)
        cli_error(o, "warning: --insecure: server certificates are not verified, so anyone on "
                     "the path can read and change this traffic");
    flare_tls_client_config tls = {
        .ca_file = o->cacert,
        .verify = o->insecure ? FLARE_TLS_VERIFY_NONE : FLARE_TLS_VERIFY_PEER,
        .log = tls_warning,
        .log_ctx = (void *)o,
    };
    flare_cookie_jar *jar = NULL;
    flare_error err;
    if (flare_cookie_jar_new(&jar, &err) < 0) {
        free(user);
        return CLI_NETWORK;
    }
    /* -L alone follows 10; --max-redirects 0 follows none (the 3xx is the answer). */
    int redirects = !o->follow              ? -1
                    : o->max_redirects < 0  ? 10
                    : o->max_redirects == 0 ? -1
                                            : o->max_redirects;
    flare_http_client_config cfg = {
        .user_agent = o->user_agent,
        .headers = o->headers,
        .num_headers = o->num_headers,
        .auth = auth,
        .connect_timeout_ms = cli_ms(o->connect_timeout),
        .total_timeout_ms = cli_ms(o->max_time),
        /* Streamed to the output, a body may be as large as a download gets;
         * --json keeps it in memory, so the library's 100 MiB stands there. */
        .max_response_bytes = o->max_filesize ? o->max_filesize
                              : o->json       ? 0
                                              : UINT64_MAX / 4,
        .max_redirects = redirects,
        .no_decompress = o->raw,
        .cookie_jar = jar,
        .family = o->family,
        .tls = &tls,
        .trace = o->verbose ? trace : NULL,
    };
    flare_http_client *c;
    int status = CLI_OK;
    if (flare_http_client_new(&c, &cfg, &err) < 0) {
        cli_error(o, "%s", err.message);
        status = cli_exit_for(err.code);
    } else {
        cli_upload up = o->upload; /* the open file; its offsets change per request */
        for (size_t i = 0; i < o->num_urls; i++) {
            int s = one_url(o, c, &up, o->urls[i]);
            if (s != CLI_OK) status = s; /* curl's rule: the last failure decides */
        }
        flare_http_client_free(c);
    }
    flare_cookie_jar_free(jar);
    free(user);
    return status;
}
