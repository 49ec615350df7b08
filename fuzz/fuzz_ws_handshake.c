/*
 * fuzz_ws_handshake.c: the server side of the opening handshake
 * (flare_ws_server_handshake, RFC 6455 §4.2.1, RFC 7692 §7.1) over a request the
 * HTTP parser accepted, with options from byte 0 (allowed origins,
 * subprotocols, permessage-deflate settings). Checks: the status is 101, 400,
 * 403 or 426; a 101 carries the right accept key, a subprotocol that is ours
 * and the client's, extension text without CR/LF; and the response head we
 * would send parses with our own response parser and shows the same status.
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"

static const char *const origins[] = {"https://a.example", "http://b.example:8080"};
static const char *const protocols[] = {"chat", "superchat", "v2.json"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t sel = data[0], bits = data[1];
    flare_ws_server_options opts;
    memset(&opts, 0, sizeof opts);
    if (sel & 1) {
        opts.origins = origins;
        opts.num_origins = 2;
    }
    if (sel & 2) {
        opts.subprotocols = protocols;
        opts.num_subprotocols = 3;
    }
    opts.deflate = sel & 4;
    opts.server_no_context_takeover = sel & 8;
    opts.client_no_context_takeover = sel & 16;
    opts.server_max_window_bits = (bits & 15) > 8 ? (uint8_t)(bits & 15) : 0;
    opts.client_max_window_bits = (bits >> 4) >= 8 ? (uint8_t)(bits >> 4) : 0;

    flare_http_header hdrs[64];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 64};
    int status;
    if (flare_http_parse_request((const char *)data + 2, size - 2, 0, NULL, &req, &status) <= 0)
        return 0;

    flare_ws_handshake hs;
    memset(&hs, 0xa5, sizeof hs);
    int rc = flare_ws_server_handshake(&req, &opts, &hs, NULL);
    if (rc == 0) {
        FUZZ_CHECK(hs.status == 101 && hs.reason == NULL);
        const flare_http_header *key = flare_http_request_header(&req, FLARE_HDR_SEC_WEBSOCKET_KEY);
        FUZZ_CHECK(key && flare_ws_key_valid(key->value, key->value_len));
        char accept[FLARE_WS_ACCEPT_LEN + 1];
        FUZZ_CHECK(flare_ws_accept_key(key->value, key->value_len, accept) == 0);
        FUZZ_CHECK(strcmp(accept, hs.accept) == 0);
        FUZZ_CHECK(req.method_id == FLARE_METHOD_GET && req.minor_version == 1);
        if (hs.subprotocol) {
            bool ours = false;
            for (size_t i = 0; i < opts.num_subprotocols; i++)
                ours |= hs.subprotocol == opts.subprotocols[i];
            FUZZ_CHECK(ours);
        }
        FUZZ_CHECK(memchr(hs.extensions, 0, sizeof hs.extensions) != NULL);
        FUZZ_CHECK(!strpbrk(hs.extensions, "\r\n"));
        FUZZ_CHECK(hs.deflate == (hs.extensions[0] != 0));
        if (hs.deflate) {
            FUZZ_CHECK(opts.deflate);
            const flare_ws_deflate_params *p = &hs.deflate_params;
            FUZZ_CHECK(p->server_max_window_bits == 0 ||
                       (p->server_max_window_bits >= 9 && p->server_max_window_bits <= 15));
            FUZZ_CHECK(p->client_max_window_bits == 0 ||
                       (p->client_max_window_bits >= 8 && p->client_max_window_bits <= 15));
            /* Whatever was agreed, a compressor for our side can be made. */
            flare_ws_deflate *d;
            FUZZ_CHECK(flare_ws_deflate_new(&d, p, true, -1, NULL) == 0);
            flare_ws_deflate_free(d);
        }
    } else {
        FUZZ_CHECK(rc == FLARE_EPROTO);
        FUZZ_CHECK(hs.status == 400 || hs.status == 403 || hs.status == 426);
        FUZZ_CHECK(hs.reason != NULL);
    }

    flare_buf out = FLARE_BUF_INIT;
    if (flare_ws_handshake_response(&hs, &out) == 0) {
        flare_http_header rh[32];
        flare_http_response resp = {.headers = rh, .max_headers_capacity = 32};
        ssize_t n = flare_http_parse_response(out.data, out.len, 0, &resp);
        FUZZ_CHECK(n > 0);
        FUZZ_CHECK(resp.status == hs.status);
    }
    flare_buf_free(&out);
    return 0;
}
