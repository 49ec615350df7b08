#!/usr/bin/env python3
"""Raw-socket tests of flared: pipelining, and every malformed request class of
RFC 9110/9112 that the server must refuse. A refused request gets its exact
status with Connection: close, the server then closes the connection, and the
request sent right behind the bad one in the same write is never answered (no
desynchronised stream)."""
import socket

import flaredtest as ft

HOST = b"Host: t"
FOLLOW = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"


def req(line, *fields, body=b""):
    head = line + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    return head + body


def post_raw(field, body):
    """A POST to /raw with one framing field and the body as given."""
    return req(b"POST /raw HTTP/1.1", HOST, field, body=body)


def chunked(body):
    return post_raw(b"Transfer-Encoding: chunked", body)


# (name, request bytes, status). Each is sent with FOLLOW behind it.
REJECTED = [
    # Request line (RFC 9112 §3).
    ("method_not_token", req(b"GE(T /plaintext HTTP/1.1", HOST), 400),
    ("method_with_ctl", req(b"GE\x01T /plaintext HTTP/1.1", HOST), 400),
    ("two_spaces_after_method", req(b"GET  /plaintext HTTP/1.1", HOST), 400),
    ("bad_version_text", req(b"GET /plaintext HTTP/1.x", HOST), 400),
    ("lowercase_version", req(b"GET /plaintext http/1.1", HOST), 400),
    ("version_with_trailing_junk", req(b"GET /plaintext HTTP/1.1x", HOST), 400),
    ("http_2_0", req(b"GET /plaintext HTTP/2.0", HOST), 505),
    ("http_3_0", req(b"GET /plaintext HTTP/3.0", HOST), 505),
    ("bare_lf_line_ends", b"GET /plaintext HTTP/1.1\nHost: t\n\n", 400),
    ("two_leading_empty_lines", b"\r\n\r\n" + req(b"GET /plaintext HTTP/1.1", HOST), 400),
    ("asterisk_with_get", req(b"GET * HTTP/1.1", HOST), 400),
    ("uri_too_long", req(b"GET /" + b"a" * 2048 + b" HTTP/1.1", HOST), 414),
    ("connect", req(b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443"), 501),
    # Field lines (RFC 9112 §5).
    ("obs_fold", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A: a", b" b"), 400),
    ("space_before_colon", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A : a"), 400),
    ("name_not_token", req(b"GET /plaintext HTTP/1.1", HOST, b"X(A): a"), 400),
    ("empty_name", req(b"GET /plaintext HTTP/1.1", HOST, b": a"), 400),
    ("nul_in_value", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A: a\x00b"), 400),
    ("ctl_in_value", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A: a\x01b"), 400),
    ("bare_cr_in_value", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A: a\rb"), 400),
    ("del_in_value", req(b"GET /plaintext HTTP/1.1", HOST, b"X-A: a\x7fb"), 400),
    # Host (RFC 9112 §3.2).
    ("missing_host_1_1", req(b"GET /plaintext HTTP/1.1"), 400),
    ("two_hosts", req(b"GET /plaintext HTTP/1.1", HOST, b"Host: u"), 400),
    ("bad_host_value", req(b"GET /plaintext HTTP/1.1", b"Host: a b"), 400),
    # Framing (RFC 9112 §6, RFC 9110 §8.6).
    ("cl_and_te", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5",
                      b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    ("cl_not_digits", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5x"), 400),
    ("cl_negative", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: -1"), 400),
    ("cl_plus_sign", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: +5"), 400),
    ("cl_empty", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: "), 400),
    ("cl_overflow", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 99999999999999999999999"), 400),
    ("cl_differing_fields", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5",
                                b"Content-Length: 6", body=b"hello"), 400),
    ("cl_differing_list", req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5, 6", body=b"hello"), 400),
    ("te_gzip_chunked", req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: gzip, chunked",
                            body=b"0\r\n\r\n"), 501),
    ("te_chunked_not_last", req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked, gzip",
                                body=b"0\r\n\r\n"), 400),
    ("te_chunked_twice", req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                             b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    ("te_in_http_1_0", req(b"POST /raw HTTP/1.0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), 400),
    ("bad_chunk_size", req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                           body=b"zz\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_overflow", req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                                body=b"1" + b"0" * 16 + b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("expect_unknown", req(b"POST /raw HTTP/1.1", HOST, b"Expect: tea", b"Content-Length: 1",
                           body=b"x"), 417),
    # More framing and syntax an attacker tries (each checked here against the server,
    # not only the parser): a bare CR, whitespace before the first field, HTTP/0.9,
    # the HTTP/2 preface, codings chunked does not end, a bad chunk line or chunk end.
    ("bare_cr_line_end", b"GET /plaintext HTTP/1.1\rHost: t\r\n\r\n", 400),
    ("space_before_first_field", req(b"GET /plaintext HTTP/1.1", b" Host: t"), 400),
    ("http_0_9", b"GET /plaintext\r\n\r\n", 400),
    ("http2_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    ("absolute_form_userinfo", req(b"GET http://u@t/plaintext HTTP/1.1", HOST), 400),
    ("host_userinfo", req(b"GET /plaintext HTTP/1.1", b"Host: u@t"), 400),
    ("cl_trailing_comma", post_raw(b"Content-Length: 3,", b"abc"), 400),
    ("te_unknown_alone", post_raw(b"Transfer-Encoding: foo", b"0\r\n\r\n"), 400),
    ("te_chunked_with_parameter", post_raw(b"Transfer-Encoding: chunked;q=1", b"0\r\n\r\n"), 400),
    ("chunk_size_0x", chunked(b"0x3\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk_size_bare_lf", chunked(b"3\nabc\r\n0\r\n\r\n"), 400),
    ("chunk_data_not_crlf", chunked(b"3\r\nabcXY0\r\n\r\n"), 400),
    ("chunk_ext_bare_lf", chunked(b"3;a\nb\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk_ext_too_long", chunked(b"3;" + b"e" * 5000 + b"\r\nabc\r\n0\r\n\r\n"), 400),
    ("trailer_obs_fold", chunked(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400),
    ("trailer_too_large", chunked(b"0\r\nX-T: " + b"t" * 9000 + b"\r\n\r\n"), 400),
    # Limits: lowered in the test config (max_uri_bytes 1k, max_header_bytes 4k,
    # max_headers 20, /small has max_body_bytes 1k).
    ("too_many_headers", req(b"GET /plaintext HTTP/1.1", HOST,
                             *[b"X-H%d: v" % i for i in range(25)]), 431),
    ("header_bytes_too_large", req(b"GET /plaintext HTTP/1.1", HOST, b"X-Big: " + b"v" * 5000), 431),
    ("body_over_limit_cl", req(b"POST /small HTTP/1.1", HOST, b"Content-Length: 2048"), 413),
    ("body_over_limit_chunked", req(b"POST /small HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                                    body=b"800\r\n" + b"a" * 2048 + b"\r\n0\r\n\r\n"), 413),
]


class RawTests(ft.SharedServerTestCase):

    def assertRejected(self, request, status):
        data, closed = self.srv.exchange(request + FOLLOW, timeout=5)
        responses, rest = ft.parse_responses(data)
        self.assertEqual(len(responses), 1, f"expected one response, got {data[:400]!r}")
        self.assertEqual(rest, b"", "bytes after the response")
        r = responses[0]
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.closes(), f"no Connection: close in {r}")
        self.assertIn(r.header("Server"), ("flared",))
        self.assertIsNotNone(r.header("Date"))
        self.assertTrue(closed, "the server did not close the connection after the rejection")
        self.assertNotIn(b"Hello, World!", data, "the request behind the bad one was answered")
        return r
        return r

    # -- accepted forms ---------------------------------------------------------

    def test_pipelined_requests_answered_in_order(self):
        reqs = (req(b"GET /plaintext HTTP/1.1", HOST)
                + req(b"HEAD /plaintext HTTP/1.1", HOST)
                + req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5", b"Content-Type: a/b", body=b"first")
                + req(b"GET /index.html HTTP/1.1", HOST)
                + req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                      body=b"3;ext=1\r\nsec\r\n3\r\nond\r\n0\r\nTrailer-A: x\r\n\r\n")
                + req(b"GET /nothing-here HTTP/1.1", HOST)
                + req(b"GET /plaintext?x=1 HTTP/1.1", HOST, b"Connection: close"))
        with self.srv.connect() as s:
            s.sendall(reqs)  # one write holding all seven requests
            data, closed = ft.read_until_close(s, 5)
        responses, rest = ft.parse_responses(data, ["GET", "HEAD", "POST", "GET", "POST", "GET", "GET"])
        self.assertEqual(rest, b"")
        self.assertEqual([r.status for r in responses], [200, 200, 200, 200, 200, 404, 200])
        self.assertEqual(responses[0].body, b"Hello, World!")
        self.assertEqual(responses[1].body, b"")
        self.assertEqual(responses[1].header("Content-Length"), "13")
        self.assertEqual(responses[2].body, b"first")
        self.assertEqual(responses[2].header("Content-Type"), "a/b")
        self.assertEqual(responses[3].body, ft.INDEX_HTML)
        self.assertEqual(responses[4].body, b"second")
        self.assertEqual(responses[6].body, b"Hello, World!")
        self.assertTrue(responses[6].closes())
        self.assertFalse(any(r.closes() for r in responses[:6]))
        self.assertTrue(closed)

    def test_pipelined_many_small_requests(self):
        n = 64
        with self.srv.connect() as s:
            s.sendall(req(b"GET /plaintext HTTP/1.1", HOST) * (n - 1)
                      + req(b"GET /plaintext HTTP/1.1", HOST, b"Connection: close"))
            data, closed = ft.read_until_close(s, 5)
        responses, rest = ft.parse_responses(data)
        self.assertEqual(len(responses), n)
        self.assertTrue(all(r.status == 200 and r.body == b"Hello, World!" for r in responses))
        self.assertEqual(rest, b"")
        self.assertTrue(closed)

    def test_one_leading_empty_line_tolerated(self):
        data, closed = self.srv.exchange(b"\r\n" + req(b"GET /plaintext HTTP/1.1", HOST,
                                                       b"Connection: close"))
        responses, rest = ft.parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, b"Hello, World!")])
        self.assertTrue(closed)

    def test_absolute_form_target_accepted(self):
        data, _ = self.srv.exchange(req(b"GET http://t/plaintext HTTP/1.1", HOST, b"Connection: close"))
        responses, _ = ft.parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in responses], [(200, b"Hello, World!")])

    def test_options_asterisk(self):
        data, _ = self.srv.exchange(req(b"OPTIONS * HTTP/1.1", HOST, b"Connection: close"))
        responses, _ = ft.parse_responses(data)
        self.assertEqual(len(responses), 1)
        self.assertEqual(responses[0].status, 200)
        self.assertIn("GET", responses[0].header("Allow"))

    def test_body_sent_with_get_is_discarded(self):
        data, _ = self.srv.exchange(req(b"GET /plaintext HTTP/1.1", HOST, b"Content-Length: 4", body=b"GET ")
                                    + req(b"GET /plaintext HTTP/1.1", HOST, b"Connection: close"))
        responses, rest = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [200, 200])
        self.assertEqual(rest, b"")

    def test_half_closed_client_is_answered(self):
        # A client may shut down its sending side once its requests are out (RFC 9112
        # §9.6 lets it half-close); every complete request is still answered, in order,
        # and an incomplete one at the end is dropped without an answer.
        reqs = (req(b"GET /plaintext HTTP/1.1", HOST)
                + req(b"POST /raw HTTP/1.1", HOST, b"Content-Length: 5", body=b"first")
                + req(b"POST /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked",
                      body=b"6\r\nsecond\r\n0\r\n\r\n")
                + b"GET /plaintext HTTP/1.1\r\nHo")
        with self.srv.connect() as s:
            s.sendall(reqs)
            s.shutdown(socket.SHUT_WR)
            data, closed = ft.read_until_close(s, 5)
        responses, rest = ft.parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in responses],
                         [(200, b"Hello, World!"), (200, b"first"), (200, b"second")])
        self.assertEqual(rest, b"")
        self.assertTrue(closed)

    def test_http_1_0_closes_by_default(self):
        data, closed = self.srv.exchange(req(b"GET /plaintext HTTP/1.0") + FOLLOW)
        responses, rest = ft.parse_responses(data)
        self.assertEqual(len(responses), 1, data)
        self.assertEqual(responses[0].body, b"Hello, World!")
        self.assertTrue(closed)

    # -- refused, but well framed: the connection stays usable --------------------
    # The request is syntactically valid and its body (if any) is framed, so the
    # server answers it and keeps reading: the request behind it is answered too.


    def test_405_with_allow(self):
        r = self.assertRejected(
            req(b"POST /plaintext HTTP/1.1", HOST, b"Content-Length: 3", body=b"abc"), 405)
        self.assertEqual(r.header("Allow"), "GET, HEAD")

    def test_unknown_method_501(self):
        self.assertRejected(
            req(b"BREW /plaintext HTTP/1.1", HOST, b"Content-Length: 4", body=b"GET "), 501)

    def test_lowercase_method_501(self):
        # Methods are case-sensitive (RFC 9110 §9.1): "get" is a valid token naming an
        # unknown method, so it is 501 Not Implemented rather than 400.
        self.assertRejected(req(b"get /plaintext HTTP/1.1", HOST), 501)

    def test_unknown_method_on_unknown_path_501(self):
        self.assertRejected(req(b"BREW /nothing-here HTTP/1.1", HOST), 501)

    def test_refused_head_gets_no_content(self):
        # RFC 9110 §9.3.2: an answer to HEAD has no content, errors found after the
        # head included; a body there would be read as the start of the next response.
        # The head names the method before what is wrong with it: as nginx does, the
        # answer is one to HEAD then too.
        cases = [
            (req(b"HEAD /small HTTP/1.1", HOST, b"Content-Length: 2048"), 413),
            (req(b"HEAD /raw HTTP/1.1", HOST, b"Transfer-Encoding: chunked", body=b"zz\r\n"), 400),
            (req(b"HEAD /plaintext HTTP/1.1"), 400),
            (b"\r\n" + req(b"HEAD /plaintext HTTP/1.1", HOST, b"X-A : a"), 400),
            (req(b"HEAD /plaintext HTTP/1.1", HOST, b"Expect: tea"), 417),
            (req(b"HEAD /plaintext HTTP/1.1", HOST, b"X-Big: " + b"v" * 5000), 431),
            (req(b"HEAD /" + b"a" * 2048 + b" HTTP/1.1", HOST), 414),
            (req(b"HEAD /plaintext HTTP/2.0", HOST), 505),
        ]
        for request, status in cases:
            with self.subTest(request=request[:40], status=status):
                data, closed = self.srv.exchange(request + FOLLOW, timeout=5)
                responses, rest = ft.parse_responses(data, ["HEAD"])
                self.assertEqual([r.status for r in responses], [status], data)
                self.assertEqual(rest, b"", "content after the head of a HEAD answer")
                self.assertIsNotNone(responses[0].header("Content-Length"))
                self.assertTrue(responses[0].closes())
                self.assertTrue(closed)


def _make(name, request, status):
    def test(self):
        self.assertRejected(request, status)
    test.__name__ = f"test_rejects_{name}"
    test.__doc__ = f"{name} -> {status}, Connection: close, connection closed"
    return test


for _name, _request, _status in REJECTED:
    setattr(RawTests, f"test_rejects_{_name}", _make(_name, _request, _status))


if __name__ == "__main__":
    ft.run()
