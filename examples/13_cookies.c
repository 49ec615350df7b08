/*
 * 13_cookies.c: the seed's cookie example (Cookie, CookieJar,
 * parse_cookie_header, parse_set_cookie_header), then cookies on the wire: a
 * forked child's server sets them with flare_response_set_cookie and reads them
 * back with flare_request_cookie; the client's jar carries them between requests.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "flare/cookie.h"
#include "flare/http_client.h"
#include "flare/tcp.h"

static int login(const flare_request *req, flare_response *resp, void *data)
{
    flare_cookie c;
    if (flare_cookie_init(&c, "session", "abc123", NULL) < 0) return -1;
    flare_cookie_set_path(&c, "/", NULL);
    c.http_only = true;
    c.same_site = FLARE_SAMESITE_LAX;
    int rc = flare_response_set_cookie(resp, &c, NULL);
    flare_cookie_free(&c);
    return rc < 0 ? rc : flare_response_redirect(resp, 303, "/me");
}

static int me(const flare_request *req, flare_response *resp, void *data)
{
    size_t len;
    const char *session = flare_request_cookie(req, "session", &len);
    char body[128];
    int n = snprintf(body, sizeof body, "session=%.*s\n", session ? (int)len : 4,
                     session ? session : "none");
    return flare_response_text(resp, session ? 200 : 401, "text/plain", body, (size_t)n);
}

static void serve(int fd)
{
    flare_reactor *r;
    flare_http_server *srv;
    if (flare_reactor_new(&r, NULL) < 0 || flare_http_server_new(&srv, r, NULL, NULL) < 0 ||
        flare_http_server_route(srv, NULL, FLARE_M_POST, NULL, "/login", login, NULL, 0, NULL) <
            0 ||
        flare_http_server_route(srv, NULL, FLARE_M_GET, NULL, "/me", me, NULL, 0, NULL) < 0 ||
        flare_http_server_add_listener(srv, fd, NULL) < 0)
        _exit(1);
    flare_http_server_run(srv, NULL);
    _exit(0);
}

int main(void)
{
    flare_error err;
    pid_t child = -1; /* killed on the failure path too: a server left behind never exits */
    int ok = 1;
    int64_t now = (int64_t)time(NULL);

    /* jar.set(Cookie("session", "abc123", secure=True, http_only=True)) */
    flare_cookie_jar *jar;
    flare_cookie c;
    if (flare_cookie_jar_new(&jar, &err) < 0 ||
        flare_cookie_init(&c, "session", "abc123", &err) < 0)
        goto fail;
    c.secure = c.http_only = true;
    if (flare_cookie_jar_set(jar, &c, now, &err) < 0) goto fail;
    flare_cookie_free(&c);
    flare_buf header = FLARE_BUF_INIT;
    flare_cookie_jar_header(jar, NULL, now, &header); /* to_request_header() */
    printf("jar header:  %.*s\n", (int)header.len, header.data);
    ok &= header.len == 14;
    flare_buf_free(&header);
    flare_cookie_jar_free(jar);

    /* parse_set_cookie_header("id=42; Path=/; Max-Age=3600") */
    const char *sc = "id=42; Path=/; Max-Age=3600";
    if (flare_cookie_parse_set_cookie(&c, sc, strlen(sc), &err) < 0) goto fail;
    printf("set-cookie:  %s %s %lld\n", c.name, c.value, (long long)c.max_age);
    ok &= c.max_age == 3600;
    flare_cookie_free(&c);

    /* parse_cookie_header("a=1; b=2") */
    flare_cookie_pair pairs[8];
    ssize_t n = flare_cookie_parse_header("a=1; b=2", 8, pairs, 8, &err);
    for (ssize_t i = 0; i < n; i++)
        printf("cookie pair: %.*s = %.*s\n", (int)pairs[i].name_len, pairs[i].name,
               (int)pairs[i].value_len, pairs[i].value);
    ok &= n == 2;

    /* On the wire: the server sets the cookie, the client's jar sends it back. */
    flare_tcp_listener l;
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err) < 0) goto fail;
    child = fork();
    if (child == 0) serve(l.fd);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", l.local.port);
    flare_tcp_listener_close(&l);
    if (flare_cookie_jar_new(&jar, &err) < 0) goto fail;
    flare_http_client_config cfg = {.base_url = base, .cookie_jar = jar};
    flare_http_client *client;
    flare_http_reply r;
    if (flare_http_client_new(&client, &cfg, &err) < 0) goto fail;
    if (flare_http_client_post(client, "/login", NULL, &r, &err) < 0) goto fail;
    printf("login:       %d after %d redirect, server saw %s", r.status, r.redirects, r.body);
    ok &= r.status == 200 && flare_cookie_jar_count(jar) == 1;
    flare_http_reply_free(&r);
    const flare_cookie *stored = flare_cookie_jar_get(jar, 0);
    printf("jar:         %s=%s domain=%s host_only=%d http_only=%d\n", stored->name, stored->value,
           stored->domain, stored->host_only, stored->http_only);
    flare_http_client_free(client);
    flare_cookie_jar_free(jar);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    return ok ? 0 : 1;
fail:
    if (child > 0) kill(child, SIGKILL), waitpid(child, NULL, 0);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
