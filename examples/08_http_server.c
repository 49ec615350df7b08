/* 08_http_server.c: the seed's server in C. Usage: 08_http_server [PORT] (default 8080). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "flare/http.h"

static int handler(const flare_request *req, flare_response *resp, void *data)
{
    if (req->path_len == 1) return flare_response_text(resp, 200, "text/plain", "hello", 5);
    if (req->path_len == 5 && memcmp(req->path, "/data", 5) == 0) {
        json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
        if (!body) return flare_response_text(resp, 400, "text/plain", "bad json\n", 9);
        json_decref(body);
        return flare_response_json(resp, 200, "{\"received\": true}");
    }
    return flare_response_not_found(resp);
}
int main(int argc, char **argv)
{
    flare_reactor *r;
    flare_http_server *srv;
    flare_error err;
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "8080");
    if (flare_reactor_new(&r, &err) < 0 || flare_http_server_new(&srv, r, NULL, &err) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_ANY, NULL, "/", handler, NULL, 0, &err) < 0 ||
        flare_http_server_listen(srv, addr, NULL, &err) < 0)
        return fprintf(stderr, "%s\n", err.message), 1;
    return flare_http_server_run(srv, &err) < 0 ? 1 : 0;
}
