/*
 * known_header_names.h: the lowercase name of every field flare_http_header_id knows,
 * indexed by its flare_http_hdr id (RFC 9110/9112/6455 and common extensions).
 * Written here, apart from the parser's own matcher (src/http/parse_internal.h), so
 * the fuzz reference (fuzz/fuzz_headers.c) and the benchmark baseline
 * (bench/micro/header_id.c) check the parser against an independent list.
 */
#ifndef FLARE_TEST_KNOWN_HEADER_NAMES_H
#define FLARE_TEST_KNOWN_HEADER_NAMES_H

#include "flare/http_parser.h"

static const char *const known_header_names[FLARE_HDR__COUNT] = {
    [FLARE_HDR_HOST] = "host",
    [FLARE_HDR_CONTENT_LENGTH] = "content-length",
    [FLARE_HDR_TRANSFER_ENCODING] = "transfer-encoding",
    [FLARE_HDR_CONNECTION] = "connection",
    [FLARE_HDR_EXPECT] = "expect",
    [FLARE_HDR_UPGRADE] = "upgrade",
    [FLARE_HDR_CONTENT_TYPE] = "content-type",
    [FLARE_HDR_ACCEPT_ENCODING] = "accept-encoding",
    [FLARE_HDR_CONTENT_ENCODING] = "content-encoding",
    [FLARE_HDR_KEEP_ALIVE] = "keep-alive",
    [FLARE_HDR_TE] = "te",
    [FLARE_HDR_TRAILER] = "trailer",
    [FLARE_HDR_USER_AGENT] = "user-agent",
    [FLARE_HDR_REFERER] = "referer",
    [FLARE_HDR_COOKIE] = "cookie",
    [FLARE_HDR_SET_COOKIE] = "set-cookie",
    [FLARE_HDR_LOCATION] = "location",
    [FLARE_HDR_IF_NONE_MATCH] = "if-none-match",
    [FLARE_HDR_IF_MODIFIED_SINCE] = "if-modified-since",
    [FLARE_HDR_IF_MATCH] = "if-match",
    [FLARE_HDR_IF_UNMODIFIED_SINCE] = "if-unmodified-since",
    [FLARE_HDR_IF_RANGE] = "if-range",
    [FLARE_HDR_RANGE] = "range",
    [FLARE_HDR_AUTHORIZATION] = "authorization",
    [FLARE_HDR_ORIGIN] = "origin",
    [FLARE_HDR_SEC_WEBSOCKET_KEY] = "sec-websocket-key",
    [FLARE_HDR_SEC_WEBSOCKET_VERSION] = "sec-websocket-version",
    [FLARE_HDR_SEC_WEBSOCKET_PROTOCOL] = "sec-websocket-protocol",
    [FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS] = "sec-websocket-extensions",
    [FLARE_HDR_X_FORWARDED_FOR] = "x-forwarded-for",
};

#endif
