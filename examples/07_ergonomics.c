/*
 * 07_ergonomics.c: the seed's requests-style client: a client with a base URL and
 * Bearer auth, `get("/items").json()`, `post("/items", ...).raise_for_status()`,
 * default headers, timeouts, and typed errors for the failures a caller meets
 * (a bad token, a slow server). A forked child serves a small API on loopback.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/http.h"
#include "flare/http_client.h"
#include "flare/tcp.h"

static int items(const flare_request *req, flare_response *resp, void *data)
{
    const flare_http_header *auth = flare_http_request_header(req->head, FLARE_HDR_AUTHORIZATION);
    if (!auth || auth->value_len != 14 || memcmp(auth->value, "Bearer tok_abc", 14)) {
        flare_response_header(resp, "WWW-Authenticate", "Bearer");
        return flare_response_text(resp, 401, "text/plain", "who are you?\n", 13);
    }
    if (req->method == FLARE_METHOD_POST) return flare_response_json(resp, 201, "{\"id\": 3}");
    return flare_response_json(resp, 200, "[{\"id\": 1, \"name\": \"first\"}, {\"id\": 2}]");
}

static int slow(const flare_request *req, flare_response *resp, void *data)
{
    sleep(2); /* blocks this child's reactor: the client's timeout fires first */
    return flare_response_text(resp, 200, "text/plain", "late\n", 5);
}

static void serve(int fd)
{
    flare_reactor *r;
    flare_http_server *srv;
    if (flare_reactor_new(&r, NULL) < 0 || flare_http_server_new(&srv, r, NULL, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET | FLARE_M_POST, NULL, "/api/items", items,
                                NULL, 0, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, "/api/slow", slow, NULL, 0, NULL) <
            0 ||
        flare_http_server_add_listener(srv, fd, NULL) < 0)
        _exit(1);
    flare_http_server_run(srv, NULL);
    _exit(0);
}

int main(void)
{
    flare_error err;
    flare_tcp_listener l;
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err) < 0) goto fail;
    pid_t child = fork();
    if (child == 0) serve(l.fd);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u/api", l.local.port);
    flare_tcp_listener_close(&l);
    int ok = 1;

    /* HttpClient("…/api", BearerAuth("tok_abc")) */
    flare_http_kv headers[] = {{"X-Client", "07_ergonomics"}};
    flare_http_client_config cfg = {
        .base_url = base,
        .auth = {.type = FLARE_HTTP_AUTH_BEARER, .token = "tok_abc"},
        .headers = headers,
        .num_headers = 1,
        .read_timeout_ms = 500,
    };
    flare_http_client *c;
    if (flare_http_client_new(&c, &cfg, &err) < 0) goto fail;
    flare_http_reply r;
    json_t *list;
    if (flare_http_client_get(c, "/items", &r, &err) < 0 ||
        flare_http_reply_raise_for_status(&r, &err) < 0 ||
        flare_http_reply_json(&r, &list, &err) < 0)
        goto fail;
    printf("GET /items: %zu items, the first is %s\n", json_array_size(list),
           json_string_value(flare_http_json_path(list, "0.name")));
    ok &= json_array_size(list) == 2;
    json_decref(list);
    flare_http_reply_free(&r);

    if (flare_http_client_post(c, "/items", "{\"name\": \"new\"}", &r, &err) < 0 ||
        flare_http_reply_raise_for_status(&r, &err) < 0)
        goto fail;
    printf("POST /items: %d %s\n", r.status, r.body);
    ok &= r.status == 201;
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    /* A wrong token: the request succeeds, raise_for_status says what went wrong. */
    cfg.auth.token = "tok_wrong";
    if (flare_http_client_new(&c, &cfg, &err) < 0) goto fail;
    if (flare_http_client_get(c, "items", &r, &err) < 0) goto fail;
    ok &= flare_http_reply_raise_for_status(&r, &err) == FLARE_EHTTP_STATUS;
    printf("wrong token: %s\n", err.message);
    flare_http_reply_free(&r);
    /* A server slower than the read timeout: a typed error, not a hang. */
    ok &= flare_http_client_get(c, "slow", &r, &err) == FLARE_ETIMEDOUT;
    printf("slow server: %s (%s)\n", err.message, flare_error_name(err.code));
    flare_http_reply_free(&r);
    flare_http_client_free(c);

    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
