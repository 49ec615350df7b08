/*
 * corpus.c: request and response heads for the parse benchmarks. The first
 * request is the browser request picohttpparser's bench.c parses (703 bytes);
 * the others cover TechEmpower's plaintext client, the request used by the
 * http-parser/fast-http benchmarks, a minimal curl GET and an API POST.
 */
#include "corpus.h"

#include <stdio.h>

#define SAMPLE(name, about, lit)                                                                   \
    {                                                                                              \
        name, about, lit, sizeof(lit) - 1                                                          \
    }

const micro_sample micro_requests[] = {
    SAMPLE("pico703", "picohttpparser bench.c browser GET, 9 fields",
           "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
           "Host: www.kittyhell.com\r\n"
           "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) "
           "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
           "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
           "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
           "Accept-Encoding: gzip,deflate\r\n"
           "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
           "Keep-Alive: 115\r\n"
           "Connection: keep-alive\r\n"
           "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; "
           "__utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; "
           "__utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|"
           "utmcct=/reader/|utmcmd=referral\r\n"
           "\r\n"),
    SAMPLE("tfb", "TechEmpower plaintext client request (wrk -H ...)",
           "GET /plaintext HTTP/1.1\r\n"
           "Host: localhost\r\n"
           "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,"
           "*/*;q=0.7\r\n"
           "Connection: keep-alive\r\n"
           "\r\n"),
    SAMPLE("cookies430", "http-parser/fast-http benchmark GET /cookies, 9 fields",
           "GET /cookies HTTP/1.1\r\n"
           "Host: 127.0.0.1:8090\r\n"
           "Connection: keep-alive\r\n"
           "Cache-Control: max-age=0\r\n"
           "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
           "User-Agent: Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.17 (KHTML, like "
           "Gecko) Chrome/24.0.1312.56 Safari/537.17\r\n"
           "Accept-Encoding: gzip,deflate,sdch\r\n"
           "Accept-Language: en-US,en;q=0.8\r\n"
           "Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.3\r\n"
           "Cookie: name=wookie\r\n"
           "\r\n"),
    SAMPLE("curl", "minimal curl GET, 3 fields",
           "GET /index.html HTTP/1.1\r\n"
           "Host: example.com\r\n"
           "User-Agent: curl/7.88.1\r\n"
           "Accept: */*\r\n"
           "\r\n"),
    SAMPLE("host_last", "health check or wrk's default request: Host alone and last",
           "GET /health HTTP/1.1\r\n"
           "Host: example.com\r\n"
           "\r\n"),
    SAMPLE("api_post", "JSON API POST behind a proxy, 9 fields",
           "POST /api/v1/orders?expand=items&limit=50 HTTP/1.1\r\n"
           "Host: api.example.com\r\n"
           "Content-Type: application/json; charset=utf-8\r\n"
           "Content-Length: 348\r\n"
           "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
           "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n"
           "Accept: application/json\r\n"
           "X-Request-Id: 5f0c6e6a-3c2b-4b1e-9d7e-2a1f0c9b8e11\r\n"
           "X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n"
           "X-Forwarded-Proto: https\r\n"
           "Connection: keep-alive\r\n"
           "\r\n"),
};
const size_t micro_request_count = sizeof micro_requests / sizeof micro_requests[0];

const micro_sample micro_responses[] = {
    SAMPLE("plaintext", "flared's TechEmpower plaintext response head",
           "HTTP/1.1 200 OK\r\n"
           "Server: flared\r\n"
           "Date: Tue, 24 Nov 2026 15:46:56 GMT\r\n"
           "Content-Type: text/plain\r\n"
           "Content-Length: 13\r\n"
           "\r\n"),
    SAMPLE("cdn_page", "HTML page through a CDN, 14 fields",
           "HTTP/1.1 200 OK\r\n"
           "Date: Tue, 24 Nov 2026 15:46:56 GMT\r\n"
           "Content-Type: text/html; charset=utf-8\r\n"
           "Content-Length: 48213\r\n"
           "Connection: keep-alive\r\n"
           "Cache-Control: public, max-age=300, stale-while-revalidate=60\r\n"
           "ETag: \"5f0c6e6a3c2b4b1e9d7e2a1f0c9b8e11\"\r\n"
           "Last-Modified: Mon, 23 Nov 2026 09:12:44 GMT\r\n"
           "Vary: Accept-Encoding\r\n"
           "Set-Cookie: session=7d1f9a3b2c4e5f60718293a4b5c6d7e8; Path=/; Secure; HttpOnly; "
           "SameSite=Lax\r\n"
           "Strict-Transport-Security: max-age=31536000; includeSubDomains\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "X-Cache: HIT from edge-fra-03\r\n"
           "Age: 117\r\n"
           "Server: nginx\r\n"
           "\r\n"),
    SAMPLE("chunked_json", "chunked JSON API response, 6 fields",
           "HTTP/1.1 200 OK\r\n"
           "Content-Type: application/json\r\n"
           "Transfer-Encoding: chunked\r\n"
           "Date: Tue, 24 Nov 2026 15:46:56 GMT\r\n"
           "X-Request-Id: 5f0c6e6a-3c2b-4b1e-9d7e-2a1f0c9b8e11\r\n"
           "Cache-Control: no-store\r\n"
           "Server: flared\r\n"
           "\r\n"),
};
const size_t micro_response_count = sizeof micro_responses / sizeof micro_responses[0];

void micro_print_inputs(const micro_sample *samples, size_t count)
{
    printf("# inputs:");
    for (size_t i = 0; i < count; i++)
        printf("%s %s (%s)", i ? ";" : "", samples[i].name, samples[i].about);
    printf("\n");
}
