"""The request corpus of test_smuggling.py: raw HTTP/1.1 requests at the edges of
RFC 9112 framing and syntax, each with flared's expected answer and the reason.

Every case is sent with PROBE behind it in the same write. PROBE is a POST of
"probe" to /raw with Connection: close, so how many answers come back, and whether the last one
is PROBE's, shows where the server thinks the case's message ended: a body
framed too short makes its rest a request of its own, one framed too long eats
PROBE. The routes are those of flaredtest.BASE_CONFIG: /raw echoes the request
body, /plaintext answers "Hello, World!", which a case's own GET gets; limits are max_uri_bytes 1k,
max_header_bytes 4k, max_headers 20; the header and body timeouts are 1 s.

An expectation is a list of answers in order: a status (only the status is
compared), (status, body) or P, PROBE's own answer. A rejection closes the
connection, so PROBE is never answered behind one. The test_raw.py corpus holds
the plainer malformed-request classes; this one adds the framing combinations,
field and request-line edges, chunk syntax, trailers, Expect, versions and
limits. Where nginx 1.22 or HAProxy 2.6 in front of flared answers otherwise
(as test_smuggling's table showed), FRONT_NOTES says how, and the reason ends
with it: in every such case flared's answer is the one the RFC asks for.
"""

PROBE = b"POST /raw HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nprobe"
PROBE_BODY = b"probe"
P = "P"
HOST = b"Host: t"


def req(line, *fields, body=b""):
    """A request line, field lines and a body, with CRLF line ends."""
    return line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body


def post(*fields, body=b"", version=b"HTTP/1.1", target=b"/raw"):
    """A POST to the echo route (/raw) with Host: t and the fields given."""
    return req(b"POST " + target + b" " + version, HOST, *fields, body=body)


def chunked(body, *fields):
    """A POST to /raw with Transfer-Encoding: chunked and the raw chunked body."""
    return post(b"Transfer-Encoding: chunked", *fields, body=body)


def get(target=b"/plaintext", *fields, version=b"HTTP/1.1"):
    return req(b"GET " + target + b" " + version, *fields)


def head_of_size(n):
    """A GET /plaintext whose head, empty line included, is exactly n bytes."""
    bare = get(b"/plaintext", HOST, b"X-Pad: ")
    return get(b"/plaintext", HOST, b"X-Pad: " + b"p" * (n - len(bare)))


HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"
BIG = bytes(range(256)) * 390 + b"0123456789" * 16  # 100,000 bytes
BIG_CHUNKED = b"".join(b"%x\r\n%s\r\n" % (len(BIG[i:i + 7000]), BIG[i:i + 7000])
                       for i in range(0, len(BIG), 7000)) + b"0\r\n\r\n"
OK_HELLO = [(200, b"hello"), P]

# (name, request bytes, expected answers, reason)
CASES = [
    # -- Content-Length and Transfer-Encoding together (RFC 9112 §6.1, §6.3) -----------
    ("te_then_cl", post(b"Transfer-Encoding: chunked", b"Content-Length: 5", body=HELLO_CHUNKED),
     [400], "CL and TE together, TE first: §6.3 item 3 lets a server reject; flared always "
            "does (a smuggling pattern)"),
    ("cl_zero_and_te", post(b"Content-Length: 0", b"Transfer-Encoding: chunked", body=HELLO_CHUNKED),
     [400], "CL: 0 with TE: the classic CL.TE desync; rejected (§6.1: a server MAY reject, "
            "and must close if it does not)"),
    ("cl_and_te_in_http10", post(b"Content-Length: 5", b"Transfer-Encoding: chunked",
                                 body=b"hello", version=b"HTTP/1.0"),
     [400], "§6.1: TE in HTTP/1.0 means faulty framing even with a CL"),
    ("te_chunked_identity", post(b"Transfer-Encoding: chunked, identity", body=HELLO_CHUNKED),
     [400], "chunked not the final coding: §6.3 item 4 requires 400"),
    ("te_identity_chunked", post(b"Transfer-Encoding: identity, chunked", body=HELLO_CHUNKED),
     [501], "identity is no transfer coding (RFC 9112 dropped it): an unknown coding, "
            "§6.1 SHOULD 501"),
    ("te_uppercase", post(b"Transfer-Encoding: CHUNKED", body=HELLO_CHUNKED), OK_HELLO,
     "coding names are case-insensitive (§7)"),
    ("te_mixed_case_name_and_value", post(b"tRANSFER-eNCODING: ChUnKeD", body=HELLO_CHUNKED),
     OK_HELLO, "field names and coding names are case-insensitive"),
    ("te_obs_fold", post(b"Transfer-Encoding:", b" chunked", body=HELLO_CHUNKED), [400],
     "obs-fold: §5.2 lets a server reject it with 400; a folding reader would see TE: chunked"),
    ("te_two_fields_gzip_chunked", post(b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked",
                                        body=HELLO_CHUNKED),
     [501], "fields combine into gzip, chunked: an unimplemented coding, §6.1 SHOULD 501"),
    ("te_chunked_twice_in_one_field", post(b"Transfer-Encoding: chunked, chunked",
                                           body=HELLO_CHUNKED),
     [400], "chunked twice (§6.1: MUST NOT apply chunked more than once)"),
    ("te_empty_value", post(b"Transfer-Encoding: ", b"Content-Length: 5", body=b"hello"), [400],
     "an empty TE is present but chunked is not final: §6.3 item 4, 400"),
    ("te_commas_only", post(b"Transfer-Encoding: ,", body=HELLO_CHUNKED), [400],
     "a TE list with no coding at all: chunked is not final, 400"),
    ("te_chunked_trailing_comma", post(b"Transfer-Encoding: chunked,", body=HELLO_CHUNKED),
     OK_HELLO, "empty list elements are ignored (RFC 9110 §5.6.1)"),
    ("te_leading_comma", post(b"Transfer-Encoding: , chunked", body=HELLO_CHUNKED), OK_HELLO,
     "empty list elements are ignored (RFC 9110 §5.6.1)"),
    ("te_space_inside_token", post(b"Transfer-Encoding: chun ked", body=HELLO_CHUNKED), [400],
     "not a token: malformed, 400"),
    ("te_quoted", post(b'Transfer-Encoding: "chunked"', body=HELLO_CHUNKED), [400],
     "a quoted string is no coding name: malformed, 400"),
    ("te_vertical_tab", post(b"Transfer-Encoding: \x0bchunked", body=HELLO_CHUNKED), [400],
     "VT is a CTL, not allowed in a field value (RFC 9110 §5.5)"),
    ("te_obs_text_prefix", post(b"Transfer-Encoding: \xa0chunked", body=HELLO_CHUNKED), [400],
     "NBSP (obs-text) before chunked: a valid field value but no token, so malformed TE"),
    ("te_underscore_name", post(b"Transfer_Encoding: chunked", b"Content-Length: 5",
                                body=b"hello"),
     OK_HELLO, "Transfer_Encoding is another field: framing by CL"),
    ("te_space_before_colon", post(b"Transfer-Encoding : chunked", b"Content-Length: 5",
                                   body=b"hello"),
     [400], "whitespace before the colon: §5.1 MUST 400"),
    ("te_chunked_then_empty_field", post(b"Transfer-Encoding: chunked", b"Transfer-Encoding: ",
                                         body=HELLO_CHUNKED),
     OK_HELLO, "the fields combine into 'chunked, ': the empty element is ignored "
               "(RFC 9110 §5.3, §5.6.1), chunked stays final"),
    ("te_and_cl_in_separate_fields_reversed",
     post(b"Content-Length: 5", b"Transfer-Encoding: chunked", b"Content-Length: 5",
          body=HELLO_CHUNKED),
     [400], "CL around TE: still both, 400"),
    ("te_on_get", req(b"GET /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                      body=HELLO_CHUNKED), OK_HELLO,
     "a GET may carry a body; it is framed (and echoed) like any other"),

    # -- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3) -------------------------------
    ("cl_leading_zeros", post(b"Content-Length: 0005", body=b"hello"), OK_HELLO,
     "1*DIGIT: leading zeros are digits"),
    ("cl_equal_fields", post(b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
     OK_HELLO, "identical repeated values may be taken as one (RFC 9110 §8.6)"),
    ("cl_equal_list", post(b"Content-Length: 5, 5", body=b"hello"), OK_HELLO,
     "a list of identical values may be taken as one (§8.6)"),
    ("cl_list_empty_element", post(b"Content-Length: 5,,5", body=b"hello"), [400],
     "Content-Length is not a list production; only identical values are tolerated"),
    ("cl_two_numbers_with_space", post(b"Content-Length: 5 5", body=b"hello"), [400],
     "two numbers are not 1*DIGIT"),
    ("cl_hex", post(b"Content-Length: 0x5", body=b"hello"), [400], "not 1*DIGIT"),
    ("cl_decimal_point", post(b"Content-Length: 5.0", body=b"hello"), [400], "not 1*DIGIT"),
    ("cl_trailing_ows", post(b"Content-Length: 5 \t", body=b"hello"), OK_HELLO,
     "OWS around a field value is not part of it (RFC 9112 §5)"),
    ("cl_tab_before_value", post(b"Content-Length:\t5", body=b"hello"), OK_HELLO,
     "OWS may be a tab"),
    ("cl_int64_max", post(b"Content-Length: 9223372036854775807"), [413],
     "a valid length over the body limit: 413 before the body"),
    ("cl_int64_max_plus_one", post(b"Content-Length: 9223372036854775808"), [400],
     "more than flared can count: invalid"),
    ("cl_zero_then_pipelined", post(b"Content-Length: 0"), [(200, b""), P],
     "CL: 0, the next request follows at once"),
    ("cl_longer_than_sent", post(b"Content-Length: 10", body=b"hello"),
     [(200, b"helloPOST "), 400],
     "the body takes the first 5 bytes of PROBE; what is left ('/raw HTTP/1.1') is no "
     "request line"),
    ("cl_shorter_than_sent", post(b"Content-Length: 3", body=b"hello"),
     [(200, b"hel"), 501],
     "the 2 bytes left start the next request: 'loPOST' is an unknown method, 501"),
    ("cl_name_with_suffix", post(b"Content-Lengthx: 5", body=b"hello"), [(200, b""), 501],
     "Content-Lengthx is another field, so the request has no body and 'helloPOST' is "
     "the next request's (unknown) method: a reader matching names by prefix would differ"),
    ("cl_with_connection_close", post(b"Content-Length: 5", b"Connection: close",
                                      body=b"hello"),
     [(200, b"hello")], "close: what follows the body is never read as a request"),
    ("crlf_after_body", post(b"Content-Length: 5", body=b"hello\r\n"), OK_HELLO,
     "an extra CRLF after a body (old clients) is the one empty line a server should skip "
     "before the next request line (§2.2)"),
    ("two_crlfs_after_body", post(b"Content-Length: 5", body=b"hello\r\n\r\n"),
     [(200, b"hello"), 400], "only one empty line is skipped; two are no request line"),
    ("cl_obs_fold", post(b"Content-Length:", b" 5", body=b"hello"), [400], "obs-fold, §5.2"),
    ("cl_nbsp_prefix", post(b"Content-Length: \xa05", body=b"hello"), [400],
     "obs-text is not a digit"),

    # -- field lines (RFC 9112 §5, RFC 9110 §5) --------------------------------------
    ("tab_before_colon", get(b"/plaintext", b"Host\t: t"), [400], "§5.1: MUST 400"),
    ("space_in_name", get(b"/plaintext", HOST, b"X A: b"), [400], "a name is a token"),
    ("obs_text_in_name", get(b"/plaintext", HOST, b"X\xe9: b"), [400], "a name is a token"),
    ("nul_in_name", get(b"/plaintext", HOST, b"X\x00A: b"), [400], "a name is a token"),
    ("obs_text_in_value", get(b"/plaintext", HOST, b"X-A: caf\xe9"), [200, P],
     "obs-text is allowed in a value (RFC 9110 §5.5)"),
    ("htab_in_value", get(b"/plaintext", HOST, b"X-A: a\tb"), [200, P], "HTAB is allowed"),
    ("form_feed_in_value", get(b"/plaintext", HOST, b"X-A: a\x0cb"), [400],
     "a CTL in a value: invalid (RFC 9110 §5.5)"),
    ("escape_in_value", get(b"/plaintext", HOST, b"X-A: a\x1b[31mb"), [400], "ESC is a CTL"),
    ("empty_value", get(b"/plaintext", HOST, b"X-A:"), [200, P], "field-value may be empty"),
    ("colon_in_value", get(b"/plaintext", HOST, b"X-A:: b"), [200, P],
     "the first colon ends the name; later ones are value"),
    ("line_without_colon", get(b"/plaintext", HOST, b"X-A b"), [400], "no colon: no field line"),
    ("obs_fold_after_host", get(b"/plaintext", HOST, b"\tu"), [400],
     "obs-fold of Host: a folding reader sees Host: t u"),
    ("bare_cr_between_fields", get(b"/plaintext", HOST, b"X-A: a\rX-B: b"), [400],
     "bare CR: §2.2 MUST reject or replace with SP"),
    ("bare_lf_in_value", get(b"/plaintext", HOST, b"X-A: a\nX-B: b"), [400],
     "bare LF: flared does not take it as a line end (§2.2 MAY), and rejects"),
    ("whitespace_only_line", get(b"/plaintext", HOST, b"   "), [400],
     "a line of spaces is obs-fold of the previous field"),
    ("cr_cr_lf_line_end", b"GET /plaintext HTTP/1.1\r\nHost: t\r\r\n\r\n", [400],
     "CR CR LF: a bare CR"),
    ("lf_crlf_head_end", b"GET /plaintext HTTP/1.1\r\nHost: t\n\r\n", [400],
     "LF CR LF: a bare LF where a reader taking bare LF would end the head"),
    ("field_value_near_limit", get(b"/plaintext", HOST, b"X-A: " + b"v" * 3900), [200, P],
     "a head under max_header_bytes (4k)"),
    ("field_value_over_limit", get(b"/plaintext", HOST, b"X-A: " + b"v" * 4100), [431],
     "a head over max_header_bytes: 431 (RFC 6585 §5)"),
    ("head_exactly_at_limit", head_of_size(4096), [200, P],
     "a head (request line to the empty line) of exactly max_header_bytes, 4096"),
    ("head_one_over_limit", head_of_size(4097), [431], "one byte more: 431"),
    ("twenty_fields", get(b"/plaintext", HOST, *[b"X-%d: v" % i for i in range(19)]),
     [200, P], "exactly max_headers (20) field lines"),
    ("twenty_one_fields", get(b"/plaintext", HOST, *[b"X-%d: v" % i for i in range(20)]),
     [431], "one over max_headers: 431"),

    # -- request line (RFC 9112 §3, §2.3) -------------------------------------------
    ("tab_after_method", b"GET\t/plaintext HTTP/1.1\r\nHost: t\r\n\r\n", [400],
     "exactly one SP between the parts (§3)"),
    ("trailing_space_after_version", b"GET /plaintext HTTP/1.1 \r\nHost: t\r\n\r\n", [400],
     "nothing between the version and CRLF"),
    ("two_spaces_before_version", b"GET /plaintext  HTTP/1.1\r\nHost: t\r\n\r\n", [400],
     "exactly one SP"),
    ("leading_space_request_line", b" GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", [400],
     "the method must start the line"),
    ("leading_bare_lf", b"\nGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", [400],
     "only a CRLF may precede the request line (§2.2); bare LF is rejected"),
    ("leading_bare_cr", b"\rGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", [400],
     "a bare CR before the request line"),
    ("http_1_10", get(b"/plaintext", HOST, version=b"HTTP/1.10"), [400],
     "HTTP-version is one digit each side (§2.3)"),
    ("http_01_1", get(b"/plaintext", HOST, version=b"HTTP/01.1"), [400],
     "HTTP-version is one digit each side"),
    ("http_1", get(b"/plaintext", HOST, version=b"HTTP/1"), [400], "no minor version"),
    ("http_1_2", get(b"/plaintext", HOST, version=b"HTTP/1.2"), [200, P],
     "a higher 1.x minor is served as 1.1 (RFC 9110 §2.5)"),
    ("http_0_9_version", get(b"/plaintext", HOST, version=b"HTTP/0.9"), [505],
     "major 0 is not spoken: 505 (RFC 9110 §15.6.6)"),
    ("http_1_0_no_keepalive", get(b"/plaintext", version=b"HTTP/1.0"), [(200, b"Hello, World!")],
     "HTTP/1.0 without keep-alive: the connection ends after one answer (§9.3)"),
    ("http_1_0_keepalive", get(b"/plaintext", b"Connection: keep-alive", version=b"HTTP/1.0"),
     [200, P], "HTTP/1.0 keep-alive: PROBE is answered too"),
    ("http_1_0_keepalive_and_close",
     get(b"/plaintext", b"Connection: keep-alive, close", version=b"HTTP/1.0"), [200],
     "close wins (§9.3)"),
    ("http_1_1_close_uppercase", get(b"/plaintext", HOST, b"Connection: CLOSE"), [200],
     "connection options are case-insensitive"),
    ("http_1_1_close_in_second_field",
     get(b"/plaintext", HOST, b"Connection: keep-alive", b"Connection: close"), [200],
     "fields combine; close is among the options"),
    ("http_1_0_cl_body_keepalive", post(b"Content-Length: 5", b"Connection: keep-alive",
                                        body=b"hello", version=b"HTTP/1.0"), OK_HELLO,
     "HTTP/1.0 framing by CL, then the next request"),
    ("http_1_0_post_without_length", post(body=b"", version=b"HTTP/1.0"), [(200, b"")],
     "no CL and no TE: the request has no body (§6.3 item 7)"),
    ("http_1_1_post_without_length", post(body=b""), [(200, b""), P],
     "no CL and no TE: no body; the next bytes are the next request"),
    ("long_method", req(b"X" * 5000 + b" /plaintext HTTP/1.1", HOST), [501],
     "a method longer than any implemented: 501 (§3), though the line is over the head limit"),
    ("absolute_form_uppercase_scheme", req(b"POST HTTP://t/raw HTTP/1.1", HOST,
                                           b"Content-Length: 5", body=b"hello"),
     OK_HELLO, "the scheme is case-insensitive (RFC 3986 §3.1)"),
    ("nul_in_target", get(b"/pla\x00intext", HOST), [400], "a CTL in the request-target"),
    ("fragment_in_target", get(b"/plaintext#x", HOST), [400], "no fragment is sent (§3.2)"),
    ("obs_text_in_target", get(b"/caf\xe9", HOST), [400],
     "a request-target is a URI: no raw obs-text (§3.2)"),
    ("space_escaped_in_target", get(b"/plain%74ext", HOST), [200, P],
     "a percent-encoded unreserved byte is the same path (RFC 3986 §6.2.2.2)"),
    ("nul_escaped_in_target", get(b"/raw%00", HOST), [400, P],
     "%00 decodes to a NUL, which no path may hold: 400 from the router; the request is "
     "well framed, so the connection stays"),
    ("bad_pct_escape_in_target", get(b"/raw%2", HOST), [400, P],
     "a broken escape is no path (RFC 3986 §2.1): 400, the connection stays"),
    ("absolute_form_host_mismatch", req(b"POST http://t/raw HTTP/1.1", b"Host: other",
                                        b"Content-Length: 5", body=b"hello"),
     OK_HELLO, "the target's authority replaces Host (§3.2.2)"),
    ("absolute_form_without_host", req(b"GET http://t/plaintext HTTP/1.1"), [400],
     "an HTTP/1.1 request without Host is 400 whatever the form (§3.2)"),
    ("absolute_form_bad_port", get(b"http://t:x/plaintext", HOST), [400],
     "the authority must be valid like Host"),
    ("absolute_form_empty_authority", get(b"http:///plaintext", HOST), [400],
     "http URIs need a host (RFC 9110 §4.2.1)"),
    ("host_bad_port", get(b"/plaintext", b"Host: t:8x"), [400], "port = *DIGIT"),
    ("host_empty_port", get(b"/plaintext", b"Host: t:"), [200, P],
     "port = *DIGIT may be empty (RFC 3986 §3.2.3)"),
    ("host_ipv6", get(b"/plaintext", b"Host: [::1]:80"), [200, P], "an IP-literal host"),
    ("host_ipv6_unclosed", get(b"/plaintext", b"Host: [::1"), [400], "no closing bracket"),
    ("host_empty", get(b"/plaintext", b"Host:"), [200, P],
     "an empty Host is valid (§3.2: sent when the target has no authority)"),
    ("host_obs_text", get(b"/plaintext", b"Host: t\xe9"), [400],
     "a reg-name holds no raw obs-text (RFC 3986 §3.2.2)"),
    ("host_slash", get(b"/plaintext", b"Host: t/x"), [400], "a path in Host"),
    ("two_hosts_http10", get(b"/plaintext", HOST, b"Host: u", version=b"HTTP/1.0"), [400],
     "more than one Host is 400 in any request, HTTP/1.0 too (§3.2)"),
    ("host_missing_http10", get(b"/plaintext", b"Connection: keep-alive", version=b"HTTP/1.0"),
     [200, P], "HTTP/1.0 need not send Host"),
    ("asterisk_with_query", req(b"OPTIONS *? HTTP/1.1", HOST), [400],
     "asterisk-form is exactly '*'"),
    ("asterisk_with_post", post(target=b"*"), [400], "asterisk-form only with OPTIONS (§3.2.4)"),
    ("authority_form_on_get", get(b"t:80", HOST), [400],
     "authority-form only with CONNECT (§3.2.3)"),
    ("connect_origin_form", req(b"CONNECT /plaintext HTTP/1.1", HOST), [400],
     "CONNECT takes authority-form only (RFC 9110 §9.3.6)"),
    ("uri_at_limit", get(b"/plaintext?" + b"q" * 1013, HOST), [200, P],
     "a target of exactly max_uri_bytes (1k)"),
    ("uri_over_limit", get(b"/plaintext?" + b"q" * 1014, HOST), [414],
     "one byte over max_uri_bytes: 414 (§3)"),
    ("h2c_upgrade_ignored", get(b"/plaintext", HOST, b"Connection: Upgrade, HTTP2-Settings",
                                b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA"),
     [200, P], "an upgrade the server does not offer is ignored (RFC 9110 §7.8)"),
    ("rejected_after_good", get(b"/plaintext", HOST) + b"GET /plaintext HTTP/1.1\r\nHost: t\r\n"
     b"X : y\r\n\r\n", [200, 400],
     "a bad request behind a good one: the first is answered, then 400 and close"),

    # -- Expect (RFC 9110 §10.1.1) ---------------------------------------------------
    ("expect_mixed_case", post(b"Expect: 100-Continue", b"Content-Length: 100"),
     [100, 408], "the expectation token is case-insensitive: 100 Continue, then PROBE's "
                 "bytes are body and the rest never comes: 408 at the body timeout"),
    ("expect_body_already_sent", post(b"Expect: 100-continue", b"Content-Length: 5",
                                      body=b"hello"), OK_HELLO,
     "the whole body is already here: no 100 needed (§10.1.1 MAY omit)"),
    ("expect_no_body", post(b"Expect: 100-continue", b"Content-Length: 0"), [(200, b""), P],
     "no body to wait for: no 100"),
    ("expect_with_other_member", post(b"Expect: 100-continue, foo", b"Content-Length: 5",
                                      body=b"hello"), [417],
     "an expectation flared cannot meet: 417"),
    ("expect_in_http10", post(b"Expect: foo", b"Content-Length: 5", b"Connection: keep-alive",
                              body=b"hello", version=b"HTTP/1.0"), OK_HELLO,
     "HTTP/1.0 expectations are ignored (§10.1.1)"),
    ("expect_on_refused_method", req(b"POST /plaintext HTTP/1.1", HOST, b"Expect: 100-continue",
                                     b"Content-Length: 100"),
     [405], "a final status instead of 100 (the route takes GET and HEAD): the body is not "
            "read, so the connection closes"),

    # -- chunked coding (RFC 9112 §7.1) -----------------------------------------------
    ("chunk_size_uppercase_hex", chunked(b"A\r\n0123456789\r\n0\r\n\r\n"),
     [(200, b"0123456789"), P], "HEXDIG includes A-F"),
    ("chunk_size_leading_zeros", chunked(b"0005\r\nhello\r\n0\r\n\r\n"), OK_HELLO,
     "1*HEXDIG: leading zeros"),
    ("chunk_size_16_digits", chunked(b"0000000000000005\r\nhello\r\n0\r\n\r\n"), OK_HELLO,
     "16 hex digits still fit 64 bits"),
    ("chunk_size_17_digits_leading_zero", chunked(b"00000000000000005\r\nhello\r\n0\r\n\r\n"),
     [400], "valid 1*HEXDIG, but flared bounds the size line at 16 digits (as it bounds "
            "extensions) so a line of zeros cannot run on"),
    ("chunk_size_leading_space", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), [400],
     "chunk-size starts with a digit"),
    ("chunk_size_trailing_space", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), [400],
     "BWS after the size only before ';' (chunk-ext)"),
    ("chunk_size_tab_then_ext", chunked(b"5\t;a=b\r\nhello\r\n0\r\n\r\n"), OK_HELLO,
     "BWS before ';' is allowed (§7.1.1)"),
    ("chunk_size_negative", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), [400], "not HEXDIG"),
    ("chunk_size_plus", chunked(b"+5\r\nhello\r\n0\r\n\r\n"), [400], "not HEXDIG"),
    ("chunk_size_overflow_wrap", chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), [400],
     "17 digits: a reader that wraps at 64 bits would take 5"),
    ("chunk_ext_quoted", chunked(b'5;a="b;c"\r\nhello\r\n0\r\n\r\n'), OK_HELLO,
     "a quoted-string extension value"),
    ("chunk_ext_token", chunked(b"5;a=b;c\r\nhello\r\n0\r\n\r\n"), OK_HELLO,
     "token extensions, one without a value"),
    ("chunk_ext_quoted_crlf", chunked(b'5;a="\r\nhello\r\n0\r\n\r\n'), [400],
     "a quoted-string cannot hold CR or LF (RFC 9110 §5.6.4): an unterminated quote at the "
     "line end is malformed, and a reader that keeps scanning the quote frames differently"),
    ("chunk_ext_space_in_name", chunked(b"5;a b\r\nhello\r\n0\r\n\r\n"), [400],
     "chunk-ext-name is a token (§7.1.1)"),
    ("chunk_ext_empty_name", chunked(b"5;=b\r\nhello\r\n0\r\n\r\n"), [400],
     "chunk-ext-name is a token, so not empty"),
    ("chunk_ext_bare_cr", chunked(b"5;a\rb\r\nhello\r\n0\r\n\r\n"), [400], "a bare CR"),
    ("chunk_ext_nul", chunked(b"5;a\x00\r\nhello\r\n0\r\n\r\n"), [400], "a CTL"),
    ("chunk_data_lf_only", chunked(b"5\r\nhello\n0\r\n\r\n"), [400],
     "chunk-data ends in CRLF"),
    ("chunk_size_line_lf_only_last", chunked(b"5\r\nhello\r\n0\n\r\n"), [400],
     "the last-chunk line ends in CRLF"),
    ("last_chunk_double_zero", chunked(b"5\r\nhello\r\n00\r\n\r\n"), OK_HELLO,
     "last-chunk = 1*\"0\""),
    ("last_chunk_with_ext", chunked(b"5\r\nhello\r\n0;x=y\r\n\r\n"), OK_HELLO,
     "last-chunk may carry extensions"),
    ("missing_final_crlf", chunked(b"5\r\nhello\r\n0\r\n"), [400],
     "the trailer section has not ended, so PROBE's request line is read as a trailer "
     "field line: no colon, 400"),
    ("chunked_then_pipelined", chunked(HELLO_CHUNKED) + get(b"/plaintext", HOST),
     [(200, b"hello"), 200, P], "the next request right behind the last chunk"),
    ("large_cl_body_then_pipelined", post(b"Content-Length: 100000", body=BIG),
     [(200, BIG), P], "a body larger than the connection's input block (it is collected "
                      "in its own buffer) ends exactly at its length"),
    ("large_chunked_body_then_pipelined", chunked(BIG_CHUNKED), [(200, BIG), P],
     "a chunked body larger than the input block, PROBE right behind its last chunk"),
    ("trailer_content_length", chunked(b"5\r\nhello\r\n0\r\nContent-Length: 7\r\n\r\n"),
     OK_HELLO, "Content-Length in a trailer is not framing (RFC 9110 §6.5.1): dropped"),
    ("trailer_transfer_encoding", chunked(b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n"
                                          b"\r\n"),
     OK_HELLO, "Transfer-Encoding in a trailer is not framing: dropped"),
    ("trailer_space_before_colon", chunked(b"5\r\nhello\r\n0\r\nX-T : a\r\n\r\n"), [400],
     "trailer field lines follow §5: no whitespace before the colon"),
    ("trailer_no_colon", chunked(b"5\r\nhello\r\n0\r\nX-T\r\n\r\n"), [400], "no field line"),
    ("trailer_bare_lf", chunked(b"5\r\nhello\r\n0\r\nX-T: a\n\r\n"), [400], "a bare LF"),
    ("trailer_obs_text", chunked(b"5\r\nhello\r\n0\r\nX-T: caf\xe9\r\n\r\n"), OK_HELLO,
     "obs-text in a trailer value"),
    ("chunk_data_short", chunked(b"5\r\nhel"), [400],
     "a chunk shorter than its size: PROBE's 'PO' completes it, then 'S' is no CRLF"),
    ("chunk_size_line_unfinished", chunked(b"5"), [400],
     "the size line goes on into PROBE: 'P' is neither HEXDIG nor a line end, 400"),
]

NGINX_BARE_LF = "nginx and HAProxy take a bare LF as a line end (a MAY of §2.2) and serve it"
NGINX_501_TE = "nginx answers 501 to any Transfer-Encoding but exactly 'chunked'"
HAPROXY_PASSES = "HAProxy forwards it; flared behind it refuses, HAProxy keeps the client"
LIMIT_RELAYED = "the fronts relay flared's refusal and keep the client connection"
BOTH_ACCEPT = "nginx and HAProxy accept it and frame the body as flared would have"
# How nginx 1.22 and HAProxy 2.6, in front of flared, answer where flared alone
# answers otherwise; flared's is the RFC's answer in each (see the case's reason).
FRONT_NOTES = {
    "te_then_cl": "HAProxy drops the CL, forwards the body chunked, then closes "
                  "(§6.1 lets an intermediary do that); nginx refuses too",
    "cl_zero_and_te": "HAProxy drops the CL and forwards chunked, then closes",
    "te_and_cl_in_separate_fields_reversed": "HAProxy drops the CL and forwards chunked",
    "te_chunked_identity": NGINX_501_TE + " (§6.3 item 4 requires 400 here)",
    "te_identity_chunked": "HAProxy answers 422",
    "te_two_fields_gzip_chunked": "nginx 400, HAProxy 422",
    "te_chunked_twice_in_one_field": NGINX_501_TE,
    "te_empty_value": NGINX_501_TE,
    "te_commas_only": NGINX_501_TE,
    "te_space_inside_token": NGINX_501_TE,
    "te_quoted": NGINX_501_TE,
    "te_vertical_tab": NGINX_501_TE,
    "te_obs_text_prefix": NGINX_501_TE,
    "te_chunked_trailing_comma": NGINX_501_TE + ", even with an empty element after it",
    "te_leading_comma": "nginx 501 and HAProxy 422 refuse the empty element that RFC 9110 "
                        "§5.6.1 says to ignore",
    "te_chunked_then_empty_field": "nginx refuses a second Transfer-Encoding field (400)",
    "cl_equal_fields": "nginx refuses a repeated Content-Length (400), which §8.6 allows",
    "cl_equal_list": "nginx refuses the list (400), which §8.6 allows",
    "cl_trailing_ows": "nginx refuses it (400), though OWS is not part of the value (§5)",
    "cl_tab_before_value": "nginx refuses it (400), though a tab is OWS",
    "cl_shorter_than_sent": "nginx answers 400 to the lowercase method, flared 501 (RFC "
                            "9110 §9.1: an unknown method)",
    "cl_name_with_suffix": "nginx answers 400 to the lowercase method, flared 501",
    "two_crlfs_after_body": "nginx and HAProxy skip any number of empty lines (§2.2 says "
                            "'at least one'); flared skips one",
    "cl_obs_fold": "HAProxy unfolds the line and forwards Content-Length: 5",
    "te_obs_fold": "HAProxy unfolds the line and forwards the body chunked",
    "obs_text_in_name": "nginx drops the field (ignore_invalid_headers) and serves",
    "form_feed_in_value": "nginx and HAProxy forward the byte; flared behind them refuses it",
    "escape_in_value": "nginx and HAProxy forward the byte; flared behind them refuses it",
    "obs_fold_after_host": "HAProxy forwards the fold; flared behind it refuses it",
    "bare_lf_in_value": NGINX_BARE_LF,
    "lf_crlf_head_end": NGINX_BARE_LF,
    "leading_bare_lf": NGINX_BARE_LF,
    "whitespace_only_line": "HAProxy drops the line and serves",
    "cr_cr_lf_line_end": "nginx takes CR CR LF as a line end and serves",
    "tab_after_method": "HAProxy takes the tab as a separator",
    "trailing_space_after_version": "nginx ignores the space",
    "two_spaces_before_version": "nginx and HAProxy take several spaces as one",
    "leading_bare_cr": "nginx skips the CR",
    "http_1_10": "nginx takes it as HTTP/1.10 and serves",
    "http_0_9_version": "nginx answers 400 (RFC 9110 §15.6.6 names 505 for a major "
                        "version not supported)",
    "long_method": "the fronts answer 501 too and keep the connection",
    "fragment_in_target": "nginx forwards it; flared behind refuses",
    "obs_text_in_target": "nginx forwards it; flared behind refuses",
    "nul_escaped_in_target": "nginx refuses it and closes",
    "bad_pct_escape_in_target": "nginx refuses it and closes",
    "absolute_form_host_mismatch": "HAProxy refuses a Host that differs from the target's "
                                   "authority (400); §3.2.2 says to ignore the Host",
    "host_bad_port": "nginx serves it",
    "host_ipv6_unclosed": "nginx serves it",
    "host_obs_text": "nginx serves it",
    "host_empty": "nginx refuses it (400); §3.2 makes an empty Host valid",
    "connect_origin_form": "nginx answers 405",
    "expect_body_already_sent": "nginx sends 100 (Continue) anyway",
    "expect_no_body": "nginx sends 100 (Continue) anyway",
    "expect_with_other_member": "nginx ignores the expectation (a MAY of §10.1.1)",
    "expect_mixed_case": "nginx closes at its body timeout without an answer",
    "expect_on_refused_method": "nginx sends 100 first (it proxies POST), then times out",
    "chunk_size_17_digits_leading_zero": BOTH_ACCEPT,
    "chunk_size_trailing_space": BOTH_ACCEPT,
    "chunk_ext_quoted_crlf": BOTH_ACCEPT,
    "chunk_ext_space_in_name": BOTH_ACCEPT,
    "chunk_ext_empty_name": BOTH_ACCEPT,
    "chunk_ext_nul": BOTH_ACCEPT,
    "chunk_data_lf_only": NGINX_BARE_LF,
    "chunk_size_line_lf_only_last": NGINX_BARE_LF,
    "trailer_bare_lf": NGINX_BARE_LF,
    "trailer_space_before_colon": "nginx skips trailer fields unchecked",
    "trailer_no_colon": "nginx skips trailer fields unchecked",
    "missing_final_crlf": "nginx answers the body, then 400 at PROBE's line",
    "absolute_form_empty_authority": HAPROXY_PASSES,
    "absolute_form_without_host": HAPROXY_PASSES,
    "asterisk_with_post": HAPROXY_PASSES,
    "asterisk_with_query": HAPROXY_PASSES,
    "host_slash": HAPROXY_PASSES,
    "field_value_over_limit": LIMIT_RELAYED,
    "twenty_one_fields": LIMIT_RELAYED,
    "uri_over_limit": LIMIT_RELAYED,
    "head_one_over_limit": LIMIT_RELAYED,
    "head_exactly_at_limit": "nginx adds its forwarding fields, so flared behind it sees a "
                             "head over the limit: 431, relayed",
}
CASES = [(name, data, expect, reason + (f" [fronts: {FRONT_NOTES[name]}]"
                                        if name in FRONT_NOTES else ""))
         for name, data, expect, reason in CASES]
