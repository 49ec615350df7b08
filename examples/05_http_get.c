/*
 * 05_http_get.c: the HTTP client, one call per method. A forked child serves an
 * echo route with flare_http_server on loopback; the parent uses the one-shot
 * calls (get, post, head) and a client object (put, patch, delete), reads the
 * JSON the server sends back, and raises on a 404, as the seed's example does.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/http.h"
#include "flare/http_client.h"
#include "flare/tcp.h"

/* {"method": ..., "json": <the body, parsed>} */
static int echo(const flare_request *req, flare_response *resp, void *data)
{
    json_t *doc = json_pack("{s:s%}", "method", req->head->method, (size_t)req->head->method_len);
    json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
    json_object_set_new(doc, "json", body ? body : json_null());
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    int rc = flare_response_json(resp, 200, text);
    free(text);
    return rc;
}

static void serve(int fd)
{
    flare_reactor *r;
    flare_http_server *srv;
    if (flare_reactor_new(&r, NULL) < 0 || flare_http_server_new(&srv, r, NULL, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_ANY, NULL, "/anything", echo, NULL, 0, NULL) <
            0 ||
        flare_http_server_add_listener(srv, fd, NULL) < 0)
        _exit(1);
    flare_http_server_run(srv, NULL);
    _exit(0);
}

int main(void)
{
    flare_error err;
    pid_t child = -1; /* killed on the failure path too: a server left behind never exits */
    flare_tcp_listener l;
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err) < 0) goto fail;
    child = fork();
    if (child == 0) serve(l.fd);
    char base[64], url[96];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", l.local.port);
    flare_tcp_listener_close(&l);
    snprintf(url, sizeof url, "%s/anything", base);
    int ok = 1;

    flare_http_reply r;
    if (flare_http_get(url, &r, &err) < 0) goto fail;
    printf("GET    %d ok=%d %s\n", r.status, flare_http_reply_ok(&r), r.body);
    ok &= r.status == 200;
    flare_http_reply_free(&r);

    /* A string body is sent as application/json. */
    if (flare_http_post(url, "{\"hello\": \"flare\"}", &r, &err) < 0) goto fail;
    if (flare_http_reply_raise_for_status(&r, &err) < 0) goto fail;
    json_t *doc;
    if (flare_http_reply_json(&r, &doc, &err) < 0) goto fail;
    const char *hello = json_string_value(flare_http_json_path(doc, "json.hello"));
    printf("POST   %d json.hello=%s\n", r.status, hello ? hello : "(none)");
    ok &= hello && !strcmp(hello, "flare");
    json_decref(doc);
    flare_http_reply_free(&r);

    if (flare_http_head(url, &r, &err) < 0) goto fail;
    printf("HEAD   %d, %zu body bytes, Content-Length %s\n", r.status, r.body_len,
           flare_http_reply_header(&r, "Content-Length"));
    ok &= r.status == 200 && r.body_len == 0;
    flare_http_reply_free(&r);

    /* A client keeps its connection alive between requests. */
    flare_http_client_config cfg = {.base_url = base};
    flare_http_client *c;
    if (flare_http_client_new(&c, &cfg, &err) < 0) goto fail;
    if (flare_http_client_put(c, "/anything", "[1, 2]", &r, &err) < 0) goto fail;
    printf("PUT    %d %s\n", r.status, r.body);
    flare_http_reply_free(&r);
    if (flare_http_client_patch(c, "/anything", "{\"x\": 1}", &r, &err) < 0) goto fail;
    printf("PATCH  %d %s\n", r.status, r.body);
    flare_http_reply_free(&r);
    if (flare_http_client_delete(c, "/anything", &r, &err) < 0) goto fail;
    printf("DELETE %d %s\n", r.status, r.body);
    ok &= strstr(r.body, "DELETE") != NULL;
    flare_http_reply_free(&r);
    if (flare_http_client_get(c, "/nowhere", &r, &err) < 0) goto fail;
    ok &= flare_http_reply_raise_for_status(&r, &err) == FLARE_EHTTP_STATUS;
    printf("raise_for_status: %s (%s)\n", err.message, flare_error_name(err.code));
    flare_http_reply_free(&r);
    printf("connections opened %llu, reused %llu\n",
           (unsigned long long)flare_http_client_get_stats(c)->connections_opened,
           (unsigned long long)flare_http_client_get_stats(c)->connections_reused);
    ok &= flare_http_client_get_stats(c)->connections_opened == 1;
    flare_http_client_free(c);

    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return ok ? 0 : 1;
fail:
    if (child > 0) kill(child, SIGKILL), waitpid(child, NULL, 0);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
