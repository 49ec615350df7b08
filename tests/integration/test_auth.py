#!/usr/bin/env python3
"""HTTP Basic authentication of routes (RFC 7617) seen from outside: without, with wrong
or malformed credentials a route answers 401 with WWW-Authenticate, before its handler
runs or its body is read; the right ones for each hash scheme (bcrypt, SHA-crypt,
yescrypt, {SHA}) let the request through; the access log names the verified user; a
reload reads the user file again; bad user files are config errors at FILE:LINE:COLUMN.
Hashes are made here through the system's libcrypt (ctypes) and openssl."""
import base64
import ctypes
import hashlib
import os
import signal
import socket
import subprocess
import time

import flaredtest as ft

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_hash(prefix, password, count=0):
    """A crypt(3) hash of password: prefix "$2b$", "$6$", "$y$"... (count 0: default cost)."""
    setting = _libcrypt.crypt_gensalt(prefix.encode(), count, None, 0)
    assert setting, prefix
    out = _libcrypt.crypt(password.encode(), setting)
    assert out and not out.startswith(b"*"), prefix
    return out.decode()


def openssl_hash(flag, password):
    return subprocess.run(["openssl", "passwd", flag, password], capture_output=True, text=True,
                          check=True).stdout.strip()


def sha_hash(password):
    return "{SHA}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()


USERS = {
    "alice": ("bcrypt-pass", lambda p: crypt_hash("$2y$", p, 5)),
    "bob": ("sha512:with:colons", lambda p: openssl_hash("-6", p)),
    "carol": ("sha256-pass", lambda p: openssl_hash("-5", p)),
    "dave": ("yes-pass", lambda p: crypt_hash("$y$", p)),
    "erin": ("sha1-pass", sha_hash),
    "frank": ("bcrypt-b", lambda p: crypt_hash("$2b$", p, 4)),
}

EXTRA = """\
  - path: /private
    echo: {}
    headers: {X-Route: private}
    auth: {realm: 'staff "x" \\ y', users: users.htpasswd}
  - path: /upload
    echo: {raw: true}
    auth: {realm: staff, users: users.htpasswd}
  - path: /limited
    text: {body: "limited\\n"}
    rate_limit: {rate: 1/m, burst: 1}
    auth: {realm: staff, users: users.htpasswd}
  - path: /elsewhere
    text: {body: "elsewhere\n"}
    allow: [192.0.2.0/24]
    auth: {realm: staff, users: users.htpasswd}
"""

CHALLENGE = 'Basic realm="staff \\"x\\" \\\\ y", charset="UTF-8"'


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def write_users(path, lines):
    with open(path + ".tmp", "w") as f:
        f.write("# flared test users\n\n" + "".join(l + "\n" for l in lines))
    os.replace(path + ".tmp", path)


def user_lines(users=USERS):
    return [f"{name}:{make(password)}" for name, (password, make) in users.items()]


def ask(port, target, authorization=None, extra_fields="", method="GET", body=b""):
    """One request on a new connection; returns (response, closed-by-server)."""
    head = f"{method} {target} HTTP/1.1\r\nHost: t\r\n"
    if authorization is not None:
        head += f"Authorization: {authorization}\r\n"
    head += extra_fields
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        r, _ = ft.read_response(s, method)
        return r


class AuthTests(ft.SharedServerTestCase):
    @classmethod
    def prepare_server(cls, srv):
        cls.users_path = os.path.join(srv.dir, "users.htpasswd")
        write_users(cls.users_path, user_lines())
        cls.access_log = os.path.join(srv.dir, "access.log")
        srv.params["extra"] = EXTRA + f"access_log: {cls.access_log}\n"

    def assertRefused(self, r):
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.header("WWW-Authenticate"), CHALLENGE)
        self.assertEqual(r.body, b"401 Unauthorized\n")

    def test_no_credentials(self):
        r = ask(self.srv.port, "/private")
        self.assertRefused(r)
        self.assertFalse(r.closes())  # no body: the connection is kept
        self.assertEqual(r.header("X-Route"), "private")  # the route's fields, as on a 405
        r = ask(self.srv.port, "/private", method="HEAD")
        self.assertEqual((r.status, r.body), (401, b""))
        self.assertEqual(r.header("WWW-Authenticate"), CHALLENGE)

    def test_expect_continue_is_not_answered(self):
        # A refused request that waits for 100 Continue gets the 401 instead, and the
        # connection ends since its body is never read (RFC 9110 §10.1.1).
        with self.srv.connect() as s:
            s.sendall(b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            data, closed = ft.read_until_close(s, 5)
        rs, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in rs], [401])
        self.assertTrue(closed)

    def test_keepalive_after_401(self):
        with self.srv.connect() as s:
            s.sendall(b"GET /private HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /private HTTP/1.1\r\nHost: t\r\nAuthorization: "
                      + basic("erin", "sha1-pass").encode() + b"\r\n\r\n")
            data = b""
            while len(ft.parse_responses(data)[0]) < 2:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
            rs, _ = ft.parse_responses(data)
            self.assertRefused(rs[0])
            self.assertEqual(rs[1].status, 200, rs[1])

    def test_wrong_password_and_unknown_user(self):
        for auth in (basic("alice", "wrong"), basic("alice", ""), basic("nobody", "bcrypt-pass"),
                     basic("erin", "sha1-pasS"), basic("bob", "sha512"), basic("Alice", "bcrypt-pass")):
            with self.subTest(auth=auth):
                self.assertRefused(ask(self.srv.port, "/private", auth))

    def test_malformed(self):
        good = base64.b64encode(b"erin:sha1-pass").decode()
        cases = [
            "", "Basic", "Basic ", "Bearer " + good, "Basic" + good, good,
            "Basic " + good + "!", "Basic " + good.rstrip("="),  # unpadded
            "Basic " + good[:-1] + "x",  # bad padding
            "Basic " + base64.b64encode(b"erin-sha1-pass").decode(),  # no colon
            "Basic " + base64.b64encode(b"erin:sha1-pass\x01").decode(),  # control byte
            "Basic " + good + " extra",
            "Basic " + "QQ==" [:3] + "=",  # non-canonical: bits set in the padding's place
            "Basic " + base64.b64encode(b"erin:sha1-pass").decode().replace("=", "") + "==",
        ]
        for auth in cases:
            with self.subTest(auth=auth):
                self.assertRefused(ask(self.srv.port, "/private", auth))
        # Two Authorization fields: refused even when both are right.
        r = ask(self.srv.port, "/private", basic("erin", "sha1-pass"),
                extra_fields=f"Authorization: {basic('erin', 'sha1-pass')}\r\n")
        self.assertRefused(r)

    def test_scheme_is_case_insensitive(self):
        r = ask(self.srv.port, "/private", "bAsIc  " + basic("erin", "sha1-pass")[6:])
        self.assertEqual(r.status, 200, r)

    def test_right_credentials_each_scheme(self):
        for name, (password, _) in USERS.items():
            with self.subTest(user=name):
                r = ask(self.srv.port, "/private?x=1", basic(name, password))
                self.assertEqual(r.status, 200, r)
                self.assertIsNone(r.header("WWW-Authenticate"))
                self.assertIn(b'"url": "http://t/private?x=1"', r.body)  # the echo handler ran
                # Again: from the worker's cache this time, same answer.
                self.assertEqual(ask(self.srv.port, "/private", basic(name, password)).status,
                                 200)

    def test_refused_body_is_not_read(self):
        with self.srv.connect() as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nxx")
            start = time.monotonic()
            data, closed = ft.read_until_close(s, 5)
            elapsed = time.monotonic() - start
        rs, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in rs], [401])
        self.assertEqual(rs[0].header("WWW-Authenticate"), 'Basic realm="staff", charset="UTF-8"')
        self.assertTrue(rs[0].closes())
        self.assertTrue(closed)
        self.assertLess(elapsed, 3)
        # With the right credentials the body is read and echoed.
        r = ask(self.srv.port, "/upload", basic("erin", "sha1-pass"), method="POST", body=b"hello")
        self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_rate_limit_comes_first(self):
        # burst 1: two requests pass the limit; the first lacks credentials (401), the
        # second has them (200); the third is over the limit whatever it carries (429).
        got = [ask(self.srv.port, "/limited").status,
               ask(self.srv.port, "/limited", basic("erin", "sha1-pass")).status,
               ask(self.srv.port, "/limited", basic("erin", "sha1-pass")).status]
        self.assertEqual(got, [401, 200, 429])

    def test_allow_comes_before_auth(self):
        # A client `allow` leaves out gets 403 with or without credentials, never a 401
        # that would invite it to try passwords.
        for auth in (None, basic("erin", "sha1-pass"), basic("erin", "wrong")):
            with self.subTest(auth=auth):
                r = ask(self.srv.port, "/elsewhere", auth)
                self.assertEqual(r.status, 403, r)
                self.assertIsNone(r.header("WWW-Authenticate"))

    def test_access_log_names_the_user(self):
        ask(self.srv.port, "/private?log=in", basic("erin", "sha1-pass"))
        ask(self.srv.port, "/private?log=out", basic("erin", "nope"))
        def lines():
            text = ft.read_text(self.access_log)
            return [l for l in text.splitlines() if "?log=" in l]
        self.assertTrue(ft.wait_for(lambda: len(lines()) == 2, ft.patience(5)), lines())
        inside = next(l for l in lines() if "log=in" in l)
        outside = next(l for l in lines() if "log=out" in l)
        self.assertTrue(inside.startswith("127.0.0.1 - erin ["), inside)
        self.assertIn('" 200 ', inside)
        self.assertTrue(outside.startswith("127.0.0.1 - - ["), outside)
        self.assertIn('" 401 ', outside)


class ForbiddenTests(ft.SharedServerTestCase):
    """Every 403 flared sends is one answer: `allow` refusing a client on a plain route,
    on one with `auth`, on one with a rate limit, and a static directory without an index
    all say "403 Forbidden" the same way, with the route's `headers`."""
    ROUTES = """\
  - path: /deny-plain
    echo: {raw: true}
    allow: [192.0.2.0/24]
    headers: {X-Route: deny-plain}
  - path: /deny-auth
    text: {body: "auth\\n"}
    allow: [192.0.2.0/24]
    auth: {realm: staff, users: users.htpasswd}
    headers: {X-Route: deny-auth}
  - path: /deny-limited
    echo: {raw: true}
    allow: [192.0.2.0/24]
    rate_limit: {rate: 100/s, burst: 100}
    headers: {X-Route: deny-limited}
  - path: /shelf/
    static: {root: shelf}
    headers: {X-Route: shelf}
"""

    @classmethod
    def prepare_server(cls, srv):
        write_users(os.path.join(srv.dir, "users.htpasswd"), user_lines({"erin": USERS["erin"]}))
        for sub in ("shelf/empty", "shelf/shelf/empty"):  # root or alias semantics alike
            os.makedirs(os.path.join(srv.dir, sub))
        srv.params["extra"] = cls.ROUTES

    def forbidden(self, target, **kw):
        r = ask(self.srv.port, target, **kw)
        self.assertEqual((r.status, r.reason), (403, "Forbidden"), (target, r))
        return r

    def test_every_403_is_the_same_answer(self):
        answers = {t: self.forbidden(t) for t in
                   ("/deny-plain", "/deny-auth", "/deny-limited", "/shelf/empty/")}
        answers["/deny-auth with credentials"] = self.forbidden(
            "/deny-auth", authorization=basic("erin", "sha1-pass"))
        varying = {"date", "x-route", "connection"}
        def fields(r):
            return sorted((n.lower(), v) for n, v in r.headers if n.lower() not in varying)
        shape = {t: (r.body, fields(r)) for t, r in answers.items()}
        expected = shape["/shelf/empty/"]
        self.assertEqual(expected[0], b"403 Forbidden\n")
        self.assertIn(("content-type", "text/plain; charset=utf-8"), expected[1])
        for target, got in shape.items():
            with self.subTest(target=target):
                self.assertEqual(got, expected)
                self.assertEqual(answers[target].header("X-Route"),
                                 target.split()[0].strip("/").split("/")[0])
                self.assertIsNone(answers[target].header("WWW-Authenticate"))

    def test_refused_body_is_not_read(self):
        # The refusal comes before the body, as auth's does: the connection ends unread.
        for target in ("/deny-plain", "/deny-limited"):
            with self.subTest(target=target), self.srv.connect() as s:
                s.sendall(f"POST {target} HTTP/1.1\r\nHost: t\r\n"
                          "Content-Length: 1000000\r\n\r\nxx".encode())
                data, closed = ft.read_until_close(s, 5)
                rs, _ = ft.parse_responses(data)
                self.assertEqual([(r.status, r.body) for r in rs], [(403, b"403 Forbidden\n")])
                self.assertTrue(closed)

    def test_head_gets_the_fields_without_the_body(self):
        r = ask(self.srv.port, "/deny-plain", method="HEAD")
        self.assertEqual((r.status, r.body, r.header("Content-Length")), (403, b"", "14"))


class AuthReloadTests(ft.ServerTestCase):
    def test_reload_reads_the_file_again(self):
        srv = ft.Server()
        self.addCleanup(srv.cleanup)
        users = os.path.join(srv.dir, "users.htpasswd")
        write_users(users, [f"erin:{sha_hash('old')}"])
        srv.params["extra"] = EXTRA
        ft.require_flared()
        srv.start()
        self.assertEqual(ask(srv.port, "/private", basic("erin", "old")).status, 200)
        write_users(users, [f"erin:{sha_hash('new')}", f"zed:{openssl_hash('-6', 'z')}"])
        # Until the old worker has gone it may take a connection, with the old users.
        srv.reload()
        self.assertEqual(ask(srv.port, "/private", basic("erin", "new")).status, 200)
        self.assertEqual(ask(srv.port, "/private", basic("erin", "old")).status, 401)
        self.assertEqual(ask(srv.port, "/private", basic("zed", "z")).status, 200)
        # A reload with a broken file is refused; the running config keeps serving.
        write_users(users, ["erin:plaintext"])
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "plain text" in srv.log(), ft.patience(5)),
                        srv.log())
        self.assertEqual(ask(srv.port, "/private", basic("erin", "new")).status, 200)
        self.assertStopsCleanly(srv)


INHERITED = """\
  - path: /site
    text: {body: "site\\n"}
  - path: /health
    health: {}
    auth: off
  - path: /own
    text: {body: "own\\n"}
    auth: {realm: own, users: other.htpasswd}
hosts:
  - names: [open.test]
    auth: off
    routes:
      - path: /
        text: {body: "open\\n"}
  - names: [staff.test]
    routes:
      - path: /
        text: {body: "staff\\n"}
auth: {realm: everywhere, users: users.htpasswd}
"""


class AuthInheritanceTests(ft.SharedServerTestCase):
    """The top level's `auth` covers every route of every host that does not set its own
    or say `auth: off`; one user file serves them all."""

    @classmethod
    def prepare_server(cls, srv):
        write_users(os.path.join(srv.dir, "users.htpasswd"), [f"erin:{sha_hash('top')}"])
        write_users(os.path.join(srv.dir, "other.htpasswd"), [f"erin:{sha_hash('own')}"])
        srv.params["extra"] = INHERITED

    def get_host(self, target, host, auth):
        head = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n"
        if auth:
            head += f"Authorization: {auth}\r\n"
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=5) as s:
            s.sendall(head.encode() + b"\r\n")
            return ft.read_response(s)[0]

    def test_top_level_covers_routes_and_hosts(self):
        for host, target, body in (("t", "/site", b"site\n"), ("staff.test", "/", b"staff\n")):
            with self.subTest(host=host):
                r = self.get_host(target, host, None)
                self.assertEqual(r.status, 401, r)
                self.assertEqual(r.header("WWW-Authenticate"),
                                 'Basic realm="everywhere", charset="UTF-8"')
                self.assertEqual(self.get_host(target, host, basic("erin", "own")).status, 401)
                r = self.get_host(target, host, basic("erin", "top"))
                self.assertEqual((r.status, r.body), (200, body))

    def test_off_and_own(self):
        self.assertEqual(self.get_host("/health", "t", None).status, 200)
        self.assertEqual(self.get_host("/", "open.test", None).body, b"open\n")
        r = self.get_host("/own", "t", None)
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="own", charset="UTF-8"')
        self.assertEqual(self.get_host("/own", "t", basic("erin", "top")).status, 401)
        self.assertEqual(self.get_host("/own", "t", basic("erin", "own")).status, 200)


class AuthConfigTests(ft.ServerTestCase):
    def check(self, users_text, users_value="users.htpasswd", realm="staff"):
        ft.require_flared()
        srv = ft.Server()
        self.addCleanup(srv.cleanup)
        srv.port = ft.free_port()
        if users_text is not None:
            with open(os.path.join(srv.dir, "users.htpasswd"), "wb") as f:
                f.write(users_text)
        extra = (f"  - path: /x\n    text: {{body: x}}\n"
                 f"    auth: {{realm: {realm}, users: {users_value}}}\n")
        config = srv.config_text(extra=extra)
        srv.write_config(verbatim=config)
        r = subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], capture_output=True,
                           text=True, timeout=10)
        return r, srv.config_path, config

    def test_good_file(self):
        r, _, _ = self.check("\n".join(user_lines()).encode() + b"\n# end\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_point_at_users(self):
        good = sha_hash("x")
        cases = [
            (b"erin:secret\n", "line 1: its password is plain text"),
            (b"# c\nerin:$apr1$abcdefgh$0123456789abcdefghijkl\n",
             "line 2: $apr1$ (Apache MD5) hashes are not supported; regenerate the password "
             "with bcrypt, say `htpasswd -B FILE USER`"),
            (b"erin:abJnggxhB/yWI\n", "line 1: it looks like a DES crypt hash"),
            (b"\n\nerin\n", "line 3: expected user:hash, there is no ':'"),
            (b":" + good.encode() + b"\n", "line 1: the user name is empty"),
            (b"erin:\n", "line 1: the hash is empty"),
            (b"erin:{SHA}abc\n", "line 1: its {SHA} hash is not the base64"),
            (b"erin:$6$salt$short\n", "line 1: its hash is cut short or malformed"),
            (b"erin:$2y$05$tooshort\n", "line 1: its hash is cut short or malformed"),
            (b"erin:$1$abc$0123456789012345678901\n", "line 1: its hash scheme is not supported"),
            (f"erin:{good}\nerin:{good}\n".encode(), "line 2: user 'erin' is listed twice; "
             "first on line 1"),
            (b"", "users.htpasswd: it names no user"),
            (b"# only a comment\n\n", "users.htpasswd: it names no user"),
            (None, "cannot open"),
            (f"er\x01in:{good}\n".encode(), "line 1: the line has control characters"),
        ]
        for text, message in cases:
            with self.subTest(text=text):
                r, path, config = self.check(text)
                self.assertEqual(r.returncode, 78, r.stderr)
                lines = config.splitlines()
                line = next(i for i, l in enumerate(lines) if "users: users.htpasswd" in l)
                column = lines[line].index("users.htpasswd") + 1
                self.assertIn(f"{path}:{line + 1}:{column}: auth: users: ", r.stderr)
                self.assertIn(message, r.stderr)

    def test_directory_is_refused(self):
        r, path, config = self.check(None, users_value="www")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("is not a regular file", r.stderr)

    def test_bad_realm(self):
        good = sha_hash("x").encode() + b"\n"
        for realm, message in (('""', "auth: realm: expected 1 to 256 bytes"),
                               ('"a\\x01b"', "auth: realm: control characters")):
            with self.subTest(realm=realm):
                r, path, _ = self.check(b"erin:" + good, realm=realm)
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertRegex(r.stderr, rf"{path}:\d+:\d+: {message}")

    def test_missing_keys(self):
        ft.require_flared()
        for auth, message in (("{realm: x}", "auth: missing required key 'users'"),
                              ("{users: u}", "auth: missing required key 'realm'"),
                              ("{realm: x, users: u, extra: 1}", "unknown key 'extra'"),
                              ("on", "auth: expected a mapping")):
            with self.subTest(auth=auth):
                srv = ft.Server()
                self.addCleanup(srv.cleanup)
                srv.port = ft.free_port()
                srv.write_config(extra=f"  - path: /x\n    text: {{body: x}}\n    auth: {auth}\n")
                r = subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn(message, r.stderr)


if __name__ == "__main__":
    ft.run()
