/*
 * test_proxy_headers.c: the request head the proxy sends upstream
 * (src/flared/proxy_headers.c): hop-by-hop removal, Host, X-Forwarded-*,
 * Forwarded with quoted IPv6 and host, Via, and the Content-Length re-framing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "proxy.h"
#include "request_id.h"

typedef struct parsed {
    flare_http_request head;
    flare_http_header fields[32];
    flare_request req;
    flare_sock_addr peer;
} parsed;

static void parse(parsed *p, const char *raw, const char *peer)
{
    memset(p, 0, sizeof *p);
    p->head.headers = p->fields;
    p->head.max_headers_capacity = 32;
    ssize_t n = flare_http_parse_request(raw, strlen(raw), 0, NULL, &p->head, NULL);
    assert_true(n > 0);
    flare_request *r = &p->req;
    r->head = &p->head;
    r->method = (flare_http_method)p->head.method_id;
    const char *q = memchr(p->head.target, '?', p->head.target_len);
    r->path = p->head.target;
    r->path_len = q ? (size_t)(q - r->path) : p->head.target_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? p->head.target_len - r->path_len - 1 : 0;
    r->host = "h";
    r->host_len = 1;
    r->body = "";
    if (peer) {
        assert_int_equal(flare_sock_addr_parse(&p->peer, peer, strlen(peer), NULL), 0);
        r->peer = &p->peer;
    }
}

static void expect_head(parsed *p, const flared_proxy_head_opts *o, const char *want)
{
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flared_proxy_request_head(&out, &p->req, o), 0);
    assert_int_equal(flare_buf_append(&out, "", 1), 0);
    assert_string_equal(out.data, want);
    flare_buf_free(&out);
}

static void test_rewrite(void **state)
{
    (void)state;
    parsed p;
    parse(&p,
          "GET /api/v1?q=1 HTTP/1.1\r\nHost: Front:81\r\nConnection: close, X-A\r\nX-A: 1\r\n"
          "TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4"
          "\r\nX-Forwarded-Host: evil\r\nAccept: */*\r\nX-Forwarded-For: 5.6.7.8\r\n"
          "Forwarded: for=6.6.6.6;host=evil;proto=https\r\n\r\n",
          "192.0.2.7:5000");
    flared_proxy_head_opts o = {.strip_len = 4, .host = "app", .host_len = 3};
    expect_head(&p, &o,
                "GET /v1?q=1 HTTP/1.1\r\nHost: app\r\n"
                "X-Forwarded-For: 1.2.3.4, 5.6.7.8, 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n"
                "Accept: */*\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: Front:81\r\n"
                "Forwarded: for=192.0.2.7;host=\"Front:81\";proto=http\r\n"
                "Via: 1.1 flared\r\n\r\n");
}

static void test_ipv6_unix_and_body(void **state)
{
    (void)state;
    parsed p;
    parse(&p, "POST / HTTP/1.0\r\nHost: a.example\r\nContent-Length: 3\r\n\r\n", "[2001:db8::1]:9");
    p.req.body = "abc";
    p.req.body_len = 3;
    flared_proxy_head_opts o = {.host = "app", .host_len = 3, .close = true};
    expect_head(
        &p, &o,
        "POST / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 2001:db8::1\r\nX-Real-IP: 2001:db8::1\r\n"
        "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example\r\n"
        "Forwarded: for=\"[2001:db8::1]\";host=a.example;proto=http\r\n"
        "Via: 1.0 flared\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
    parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", NULL);
    o.close = false;
    expect_head(&p, &o,
                "POST /x HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: unknown\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n"
                "Forwarded: for=unknown;host=a;proto=http\r\n"
                "Via: 1.1 flared\r\nContent-Length: 0\r\n\r\n");
}

static void expect_client_host(const char *raw, const char *want)
{
    parsed p;
    const char *host;
    size_t len;
    parse(&p, raw, NULL);
    flared_proxy_client_host(&p.req, &host, &len);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(host, want, len);
}

/* RFC 9112 §3.2.2: an absolute-form target's authority (with its port) replaces Host,
 * for preserve_host and X-Forwarded-Host alike; otherwise Host as written. */
static void test_client_host(void **state)
{
    (void)state;
    expect_client_host("GET http://a.example:8080/x?y HTTP/1.1\r\nHost: b.example\r\n\r\n",
                       "a.example:8080");
    expect_client_host("GET http://a.example?y HTTP/1.1\r\nHost: b.example\r\n\r\n", "a.example");
    expect_client_host("GET /x HTTP/1.1\r\nHost: B.example:81\r\n\r\n", "B.example:81");
    expect_client_host("GET /x HTTP/1.0\r\n\r\n", "");
}

/* An empty X-Forwarded-For adds no empty entry before this hop's. */
static void test_empty_forwarded_for(void **state)
{
    (void)state;
    parsed p;
    parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
          "192.0.2.7:5000");
    flared_proxy_head_opts o = {.host = "app", .host_len = 3};
    expect_head(&p, &o,
                "GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 1.2.3.4, 192.0.2.7\r\nX-Real-IP: "
                "192.0.2.7\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n"
                "Forwarded: for=192.0.2.7;host=a;proto=http\r\nVia: 1.1 flared\r\n\r\n");
    parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: \r\n\r\n", "192.0.2.7:5000");
    expect_head(
        &p, &o,
        "GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n"
        "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n"
        "Forwarded: for=192.0.2.7;host=a;proto=http\r\nVia: 1.1 flared\r\n\r\n");
}

static void test_hop_by_hop(void **state)
{
    (void)state;
    parsed p;
    parse(&p,
          "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-one ,X-Two\r\nX-One: 1\r\nx-two: 2\r\n"
          "Keep-Alive: 1\r\nTrailer: x\r\nProxy-Authorization: y\r\nX-Three: 3\r\n\r\n",
          NULL);
    bool want[] = {false, true, true, true, true, true, true, false};
    assert_int_equal(p.head.num_headers, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(flared_proxy_hop_by_hop(&p.fields[i], p.fields, 8), want[i]);
}

/* A Connection option is removed however long its name (no copy into a fixed buffer). */
static void test_hop_by_hop_long_name(void **state)
{
    (void)state;
    char raw[1024], name[301];
    memset(name, 'a', 300);
    name[0] = 'X';
    name[300] = '\0';
    snprintf(raw, sizeof raw,
             "GET / HTTP/1.1\r\nHost: a\r\nConnection: k, %s\r\n%s: 1\r\n%sb: 2\r\n\r\n", name,
             name, name);
    parsed p;
    parse(&p, raw, NULL);
    assert_int_equal(p.head.num_headers, 4);
    assert_true(flared_proxy_hop_by_hop(&p.fields[2], p.fields, 4));
    assert_false(flared_proxy_hop_by_hop(&p.fields[3], p.fields, 4)); /* a longer name */
}

/* RFC 9113 §3.1: h2c is not asked of the upstream; other protocols are, anew. */
static void test_h2c_upgrade_dropped(void **state)
{
    (void)state;
    parsed p;
    parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket, H2C\r\n\r\n",
          NULL);
    assert_null(flared_proxy_upgrade_field(&p.head));
    flared_proxy_head_opts o = {.host = "app", .host_len = 3};
    expect_head(&p, &o,
                "GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: unknown\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n"
                "Forwarded: for=unknown;host=a;proto=http\r\nVia: 1.1 flared\r\n\r\n");
    parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
          NULL);
    assert_non_null(flared_proxy_upgrade_field(&p.head));
}

/* RFC 9110 §7.6.2: TRACE and OPTIONS count hops down; other methods keep the field. */
static void test_max_forwards(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        int64_t want;
    } cases[] = {
        {"OPTIONS / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", 0},
        {"TRACE / HTTP/1.1\r\nHost: a\r\nmax-forwards: 07\r\n\r\n", 7},
        {"TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 99999999999999999999999\r\n\r\n", INT32_MAX},
        {"TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards: -1\r\n\r\n", -1},
        {"TRACE / HTTP/1.1\r\nHost: a\r\nMax-Forwards:\r\n\r\n", -1},
        {"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", -1},
        {"GET / HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n\r\n", -1},
    };
    parsed p;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        parse(&p, cases[i].raw, NULL);
        assert_int_equal(flared_proxy_max_forwards(&p.req), cases[i].want);
    }
    parse(&p, "OPTIONS /o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 3\r\nX: y\r\n\r\n", NULL);
    flared_proxy_head_opts o = {.host = "app", .host_len = 3};
    expect_head(&p, &o,
                "OPTIONS /o HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: unknown\r\nX: y\r\n"
                "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n"
                "Forwarded: for=unknown;host=a;proto=http\r\nMax-Forwards: 2\r\n"
                "Via: 1.1 flared\r\n\r\n");
}

/* The upstream's Keep-Alive hint: timeout=N seconds among its parameters, or -1. */
#define LIT(s)                                                                                     \
    {                                                                                              \
        .var = FLARED_PV_LITERAL, .text = (s), .len = sizeof(s) - 1                                \
    }
#define VAR(v)                                                                                     \
    {                                                                                              \
        .var = (v)                                                                                 \
    }

/* request_headers: variables expanded in place (an IPv6 client, a long host that makes
 * the buffer grow inside the field), the client's and flared's own fields of those names
 * left out, an empty expansion not sent, and Host replaced. */
static void test_route_fields(void **state)
{
    (void)state;
    static const flared_proxy_part client[] = {LIT("["), VAR(FLARED_PV_REMOTE_ADDR), LIT("]:"),
                                               VAR(FLARED_PV_REMOTE_PORT)};
    static const flared_proxy_part url[] = {VAR(FLARED_PV_SCHEME),      LIT("://"),
                                            VAR(FLARED_PV_HOST),        LIT(":"),
                                            VAR(FLARED_PV_SERVER_PORT), LIT(" $5")};
    static const flared_proxy_part port_only[] = {VAR(FLARED_PV_SERVER_PORT)};
    static const flared_proxy_part host[] = {VAR(FLARED_PV_HOST)};
    static const flared_proxy_set_field set[] = {
        {.name = "X-Client", .name_len = 8, .parts = client, .part_count = 4, .literal_len = 3},
        {.name = "x-url", .name_len = 5, .parts = url, .part_count = 6, .literal_len = 7},
        {.name = "X-Empty", .name_len = 7, .parts = port_only, .part_count = 1},
        {.name = "X-Forwarded-For", .name_len = 15}, /* "": removed */
        {.name = "Accept", .name_len = 6},
    };
    static const flared_proxy_set_field set_host = {
        .name = "Host", .name_len = 4, .parts = host, .part_count = 1};
    flared_proxy_route route = {.set_fields = set,
                                .set_field_count = 5,
                                .set_host = &set_host,
                                .own_replaced = FLARED_PROXY_OWN_XFF};
    parsed p;
    parse(&p,
          "GET / HTTP/1.1\r\nHost: x\r\nX-URL: client's\r\naccept: */*\r\nX-Forwarded-For: 1.2.3.4"
          "\r\nX-Keep: k\r\n\r\n",
          "[2001:db8::1]:4321");
    char long_host[300];
    memset(long_host, 'a', sizeof long_host);
    p.req.host = long_host;
    p.req.host_len = sizeof long_host;
    flared_proxy_head_opts o = {.host = "app", .host_len = 3, .route = &route};
    char want[2048];
    snprintf(want, sizeof want,
             "GET / HTTP/1.1\r\nHost: %.300s\r\nX-Real-IP: 2001:db8::1\r\nX-Keep: k\r\n"
             "X-Client: [2001:db8::1]:4321\r\nx-url: http://%.300s: $5\r\n"
             "X-Forwarded-Proto: http\r\nX-Forwarded-Host: x\r\n"
             "Forwarded: for=\"[2001:db8::1]\";host=x;proto=http\r\nVia: 1.1 flared\r\n\r\n",
             long_host, long_host);
    expect_head(&p, &o, want);
    /* With a server port and no host: Host falls back to the upstream's name. */
    p.req.server_port = 8443;
    p.req.host_len = 0;
    snprintf(want, sizeof want,
             "GET / HTTP/1.1\r\nHost: app\r\nX-Real-IP: 2001:db8::1\r\nX-Keep: k\r\n"
             "X-Client: [2001:db8::1]:4321\r\nx-url: http://:8443 $5\r\nX-Empty: 8443\r\n"
             "X-Forwarded-Proto: http\r\nX-Forwarded-Host: x\r\n"
             "Forwarded: for=\"[2001:db8::1]\";host=x;proto=http\r\nVia: 1.1 flared\r\n\r\n");
    expect_head(&p, &o, want);
}

/* X-Request-ID: $request_id is the generator's value for the request's serial. */
static void test_request_id_field(void **state)
{
    (void)state;
    flared_request_id_init();
    static const flared_proxy_part id[] = {LIT("id="), VAR(FLARED_PV_REQUEST_ID)};
    static const flared_proxy_set_field set[] = {
        {.name = "X-Request-ID", .name_len = 12, .parts = id, .part_count = 2, .literal_len = 3},
    };
    flared_proxy_route route = {.set_fields = set, .set_field_count = 1};
    parsed p;
    parse(&p, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: client's\r\n\r\n", "192.0.2.7:1");
    p.req.serial = 9;
    char hex[FLARED_REQUEST_ID_LEN + 1] = {0}, want[1024];
    flared_request_id(9, hex);
    snprintf(want, sizeof want,
             "GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 192.0.2.7\r\n"
             "X-Real-IP: 192.0.2.7\r\nX-Request-ID: id=%s\r\nX-Forwarded-Proto: http\r\n"
             "X-Forwarded-Host: x\r\nForwarded: for=192.0.2.7;host=x;proto=http\r\n"
             "Via: 1.1 flared\r\n\r\n",
             hex);
    flared_proxy_head_opts o = {.host = "app", .host_len = 3, .route = &route};
    expect_head(&p, &o, want);
}

/* BIO_new is wrapped (meson.build): while failures are asked for, it fails as when
 * memory runs out; the subject of a client certificate is printed through one. */
static int bio_new_failures;
BIO *__real_BIO_new(const BIO_METHOD *method);
BIO *__wrap_BIO_new(const BIO_METHOD *method);
BIO *__wrap_BIO_new(const BIO_METHOD *method)
{
    if (bio_new_failures > 0) {
        bio_new_failures--;
        return NULL;
    }
    return __real_BIO_new(method);
}

/* A self-signed certificate for key with subject CN=cn. */
static X509 *self_signed(EVP_PKEY *key, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_NAME *name = X509_get_subject_name(x);
    assert_true(X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
                X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
                X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, key) &&
                X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                           -1, 0) &&
                X509_set_issuer_name(x, name) && X509_sign(x, key, EVP_sha256()));
    return x;
}

static int accept_any(int ok, X509_STORE_CTX *store)
{
    (void)ok;
    (void)store;
    return 1;
}

/* The server end of a TLS connection (over a memory BIO pair) whose client presented a
 * certificate with subject CN=alice; *client is the other end, for SSL_free. */
static SSL *handshaken_with_client_cert(SSL **client)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *server_cert = self_signed(key, "server"), *client_cert = self_signed(key, "alice");
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
    assert_true(sctx && cctx && SSL_CTX_use_certificate(sctx, server_cert) &&
                SSL_CTX_use_PrivateKey(sctx, key) && SSL_CTX_use_certificate(cctx, client_cert) &&
                SSL_CTX_use_PrivateKey(cctx, key));
    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any);
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *sb, *cb;
    assert_true(s && c && BIO_new_bio_pair(&sb, 0, &cb, 0));
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    bool done = false;
    for (int i = 0; i < 16 && !done; i++) {
        int client_rc = SSL_do_handshake(c), server_rc = SSL_do_handshake(s);
        done = client_rc == 1 && server_rc == 1;
    }
    assert_true(done);
    SSL_CTX_free(sctx); /* the SSLs hold references */
    SSL_CTX_free(cctx);
    X509_free(server_cert);
    X509_free(client_cert);
    EVP_PKEY_free(key);
    *client = c;
    return s;
}

/* $ssl_client_s_dn is written as it was measured: a subject that could not be made
 * then (memory ran out) is not made between measuring and writing, where it would
 * outgrow the room reserved for the field; the field is left out, and the next request
 * of the connection gets it. */
static void test_client_dn_written_as_measured(void **state)
{
    (void)state;
    static const flared_proxy_part dn[] = {VAR(FLARED_PV_SSL_CLIENT_S_DN)};
    static const flared_proxy_set_field set[] = {
        {.name = "X-SSL-Client-S-DN", .name_len = 17, .parts = dn, .part_count = 1},
    };
    flared_proxy_route route = {.set_fields = set, .set_field_count = 1};
    SSL *client;
    flare_tls_conn tls = {.ssl = handshaken_with_client_cert(&client), .fd = -1};
    tls.handshake_done = true;
    parsed p;
    parse(&p, "GET / HTTP/1.1\r\nHost: x\r\nX-SSL-Client-S-DN: CN=admin\r\n\r\n", "192.0.2.7:1");
    p.req.tls = &tls;
    flared_proxy_head_opts o = {.host = "app", .host_len = 3, .route = &route};
    const char *head = "GET / HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 192.0.2.7\r\n"
                       "X-Real-IP: 192.0.2.7\r\n%sX-Forwarded-Proto: https\r\n"
                       "X-Forwarded-Host: x\r\nForwarded: for=192.0.2.7;host=x;proto=https\r\n"
                       "Via: 1.1 flared\r\n\r\n";
    char want[1024];
    bio_new_failures = 1;
    snprintf(want, sizeof want, head, "");
    expect_head(&p, &o, want);
    bio_new_failures = 0;
    snprintf(want, sizeof want, head, "X-SSL-Client-S-DN: CN=alice\r\n");
    expect_head(&p, &o, want);
    free(tls.peer_dn);
    SSL_free(tls.ssl);
    SSL_free(client);
}

static void test_keep_alive_timeout(void **state)
{
    (void)state;
    static const struct {
        const char *fields;
        int64_t want;
    } cases[] = {
        {"Keep-Alive: timeout=5, max=100\r\n", 5},
        {"keep-alive: max=3,TIMEOUT=12 \r\n", 12},
        {"Keep-Alive: max=3\r\nKeep-Alive: timeout=0\r\n", 0},
        {"Keep-Alive: timeout=99999999999999999999\r\n", INT32_MAX},
        /* Found by fuzz_proxy_fields: the clamp took every value from 2147483640 up. */
        {"Keep-Alive: timeout=2147483646\r\n", 2147483646},
        {"Keep-Alive: timeout=2147483640\r\n", 2147483640},
        {"Keep-Alive: timeout=2147483648\r\n", INT32_MAX},
        {"Keep-Alive: timeout=\r\n", -1},
        {"Keep-Alive: timeout=5s\r\n", -1},
        {"Keep-Alive: timeout=-1\r\n", -1},
        {"Keep-Alive: xtimeout=5\r\n", -1},
        {"X-Keep-Alive: timeout=5\r\n", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char raw[256];
        snprintf(raw, sizeof raw, "HTTP/1.1 200 OK\r\n%sContent-Length: 0\r\n\r\n",
                 cases[i].fields);
        flare_http_header fields[8];
        flare_http_response r = {.headers = fields, .max_headers_capacity = 8};
        assert_true(flare_http_parse_response(raw, strlen(raw), 0, &r) > 0);
        assert_int_equal(flared_proxy_keep_alive_timeout(&r), cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_ipv6_unix_and_body),
        cmocka_unit_test(test_client_host),
        cmocka_unit_test(test_empty_forwarded_for),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_hop_by_hop_long_name),
        cmocka_unit_test(test_h2c_upgrade_dropped),
        cmocka_unit_test(test_max_forwards),
        cmocka_unit_test(test_keep_alive_timeout),
        cmocka_unit_test(test_route_fields),
        cmocka_unit_test(test_request_id_field),
        cmocka_unit_test(test_client_dn_written_as_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
