#!/usr/bin/env python3
"""flared's HTTPS/WSS listeners against peers no one here wrote: curl, openssl
s_client and Python's ssl module. Certificates (a test CA, an RSA server
certificate for localhost/127.0.0.1/::1, an EC one for other.test, a client
certificate) are made at run time with the openssl CLI; no key is committed.
Each refusal (TLS 1.1, a weak cipher) is first shown to succeed against a
deliberately weak `openssl s_server`, so the client is known to be able to."""
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import flaredtest as ft

OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")
CERTS = ""  # made by setUpModule

TLS_DEFAULT = """\
certificates:
  - {cert: server.pem, key: server.key}
  - {cert: other.pem, key: other.key, names: [other.test]}
min_version: "1.2"
alpn: [http/1.1]
session_tickets: true
"""

# Routes after the base config's: a websocket echo, and a virtual host for other.test.
EXTRA = """\
  - path: /ws
    websocket: {}
hosts:
  - names: [other.test]
    routes:
      - path: /
        text: {body: "other host"}
      - path: /guarded
        text: {body: "guarded\\n"}
        methods: [GET, POST]
        rate_limit: {rate: 1/m, burst: 1}
        allow: [192.0.2.0/24]
      - path: /posted
        text: {body: "posted\\n"}
        methods: [GET, POST]
"""

STATUS_REQUEST = b"GET /status HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def run(argv, stdin=b"", timeout=20):
    """Runs a command; returns (exit status, stdout + stderr as text)."""
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def make_certs(d):
    def ossl(*args):
        status, out = run([OPENSSL, *args])
        if status != 0:
            raise AssertionError(f"openssl {' '.join(args)}:\n{out}")

    def leaf(name, subject, san, usage, rsa=False, ca=("ca.pem", "ca.key")):
        keyopt = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt",
                                                        "ec_paramgen_curve:prime256v1"]
        ossl("req", *keyopt, "-nodes", "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
             "-subj", subject)
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
        ossl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca[0]}", "-CAkey",
             f"{d}/{ca[1]}", "-CAcreateserial", "-out", f"{d}/{name}.pem", "-days", "2",
             "-extfile", f"{d}/{name}.ext")

    for ca in ("ca", "rogue-ca"):
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem", "-days", "2", "-subj",
             f"/CN=flared {ca}", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign")
    # RSA: the weak-cipher control needs RSA key exchange to be possible at all.
    leaf("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth", rsa=True)
    leaf("server2", "/CN=localhost/O=reloaded", "DNS:localhost,IP:127.0.0.1", "serverAuth")
    leaf("other", "/CN=other.test", "DNS:other.test", "serverAuth")
    leaf("named", "/CN=localhost", "DNS:localhost", "serverAuth")  # no IP address in it
    leaf("client", "/CN=flared test client", "email:client@example.test", "clientAuth")
    leaf("rogue", "/CN=rogue client", "email:rogue@example.test", "clientAuth",
         ca=("rogue-ca.pem", "rogue-ca.key"))


def setUpModule():
    global CERTS
    if not OPENSSL:
        raise unittest.SkipTest("the openssl command is not installed")
    CERTS = tempfile.mkdtemp(prefix="flared-tls-certs-")
    make_certs(CERTS)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def cert(name):
    return os.path.join(CERTS, name)


class TlsServer(ft.Server):
    """ft.Server whose listener has a `tls` block; the certificates are copied next to
    the config so the block's relative paths exercise resolution against its folder."""

    def __init__(self, tls=TLS_DEFAULT, extra=EXTRA, **kwargs):
        super().__init__(extra=extra, **kwargs)
        self.tls = tls
        for name in os.listdir(CERTS):
            if name.endswith((".pem", ".key")):
                shutil.copy(os.path.join(CERTS, name), self.dir)

    def config_text(self, **overrides):
        text = super().config_text(**overrides)
        block = "".join("      " + line + "\n" for line in self.tls.splitlines())
        text, n = re.subn(r"(?m)^(    reuseport: \S+\n)", lambda m: m.group(1) + "    tls:\n" + block,
                          text, count=1)
        assert n == 1, text
        return text


class TlsTestCase(ft.ServerTestCase):
    def start_tls(self, **kwargs):
        return self.start_server(TlsServer, **kwargs)

    def unstarted_tls(self, files=(), **kwargs):
        """A TlsServer whose config is written (with files copied next to it) but
        not started, for flared -t."""
        srv = TlsServer(**kwargs)
        self.addCleanup(srv.cleanup)
        for path in files:
            shutil.copy(path, srv.dir)
        srv.port = ft.free_port()
        srv.write_config()
        return srv

    # -- clients ---------------------------------------------------------------
    def curl(self, srv, *args, ok=True):
        """curl with the test CA; returns (status, stdout bytes, stderr text)."""
        p = subprocess.run([CURL, "--silent", "--show-error", "--max-time", "10", "--cacert",
                            cert("ca.pem"), "--resolve", f"other.test:{srv.port}:127.0.0.1",
                            *args], capture_output=True, timeout=30)
        err = p.stderr.decode("utf-8", "replace")
        if ok:
            self.assertEqual(p.returncode, 0, f"curl {args} failed: {err}\n{srv.log()}")
        return p.returncode, p.stdout, err

    def s_client(self, port, *args, stdin=STATUS_REQUEST, servername="localhost"):
        """openssl s_client to 127.0.0.1:port; returns (status, output, handshake)
        where handshake is (\"New\"|\"Reused\", version, cipher) or None when it failed."""
        sni = ["-servername", servername] if servername else ["-noservername"]
        status, out = run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile",
                           cert("ca.pem"), *sni, "-ign_eof", *args], stdin=stdin)
        m = re.search(r"^(New|Reused), (\S+), Cipher is (\S+)", out, re.M)
        if not m or m.group(3) == "(NONE)":
            return status, out, None
        # That line names the cipher's version ("SSLv3" for AES128-SHA); the session's
        # Protocol line names the one negotiated, when s_client prints a session.
        version = re.search(r"^\s*Protocol\s*: (\S+)", out, re.M)
        return status, out, (m.group(1), version.group(1) if version else m.group(2), m.group(3))

    def assertHandshakeFails(self, port, *args, **kwargs):
        status, out, hs = self.s_client(port, *args, **kwargs)
        self.assertNotEqual(status, 0, out)
        self.assertIsNone(hs, out)
        return out

    def assertHandshakeWorks(self, port, *args, **kwargs):
        status, out, hs = self.s_client(port, *args, **kwargs)
        self.assertIsNotNone(hs, out)
        self.assertIn("Verification: OK", out)
        return out, hs

    def ssl_context(self, **kwargs):
        ctx = ssl.create_default_context(cafile=cert("ca.pem"))
        for k, v in kwargs.items():
            setattr(ctx, k, v)
        return ctx

    def tls_connect(self, srv, server_hostname="localhost", ctx=None):
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            return (ctx or self.ssl_context()).wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise

    def bio_handshake(self, srv):
        """A client over memory BIOs, which tell close_notify from a bare EOF (an
        SSLSocket reports both as b""), handshaken but for its last flight, which is
        left in outgoing; returns (socket, tls, incoming, outgoing)."""
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.addCleanup(raw.close)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.ssl_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                tls.do_handshake()
                return raw, tls, incoming, outgoing
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))

    def bio_session(self, srv):
        raw, tls, incoming, outgoing = self.bio_handshake(srv)
        raw.sendall(outgoing.read())
        return raw, tls, incoming, outgoing


@contextlib.contextmanager
def weak_s_server(*args):
    """A deliberately permissive openssl s_server with the RSA server certificate;
    yields its port once it accepts."""
    for _ in range(3):
        port = ft.free_port()
        p = subprocess.Popen([OPENSSL, "s_server", "-accept", str(port), "-cert", cert("server.pem"),
                              "-key", cert("server.key"), "-www", *args],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            for _ in range(5):
                line = p.stdout.readline().decode()
                if not line or "ACCEPT" in line:
                    break
            if "ACCEPT" in line:
                yield port
                return
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
    raise AssertionError("openssl s_server did not start")


def status_worker(out):
    m = re.search(r'"worker":(\d+)', out)
    return int(m.group(1)) if m else None



@unittest.skipUnless(CURL and OPENSSL, "curl and openssl are needed")
class HttpsTests(ft.SharedServerTestCase, TlsTestCase):
    """One server with two certificates, shared by the tests that do not restart it."""

    server_class = TlsServer
    server_kwargs = {"big_file": True}

    def url(self, path, host="localhost"):
        return f"https://{host}:{self.srv.port}{path}"

    # -- HTTP over TLS ---------------------------------------------------------
    def test_get_head_post(self):
        _, out, err = self.curl(self.srv, "-v", self.url("/plaintext"))
        self.assertEqual(out, b"Hello, World!")
        self.assertIn("SSL certificate verify ok", err)
        _, out, _ = self.curl(self.srv, "-I", self.url("/plaintext"))
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out)
        self.assertIn(b"Content-Length: 13\r\n", out)
        self.assertFalse(out.endswith(b"Hello, World!"))
        body = bytes(range(256)) * 300
        path = os.path.join(self.srv.dir, "post.bin")
        with open(path, "wb") as f:
            f.write(body)
        _, out, _ = self.curl(self.srv, "--data-binary", f"@{path}", self.url("/raw"))
        self.assertEqual(out, body)

    def test_keepalive_reuse(self):
        _, out, err = self.curl(self.srv, "-v", "-w", "connects=%{num_connects}\n",
                                self.url("/plaintext"), self.url("/index.html"),
                                self.url("/echo"))
        self.assertIn(b"Hello, World!connects=1\n", out)
        self.assertIn(ft.INDEX_HTML + b"connects=0\n", out)
        self.assertRegex(err, r"Re-?using existing connection")
        self.assertEqual(err.count("SSL connection using"), 1, err)

    def test_python_client_keepalive(self):
        import http.client
        conn = http.client.HTTPSConnection("localhost", self.srv.port, timeout=10,
                                           context=self.ssl_context())
        try:
            for _ in range(5):
                conn.request("GET", "/echo", headers={"X-Probe": "tls"})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                doc = json.loads(resp.read())
                self.assertEqual(doc["headers"]["X-Probe"], "tls")
                # The URL the client asked for is an https one.
                self.assertEqual(doc["url"], f"https://localhost:{self.srv.port}/echo")
            peer = conn.sock.getpeercert()
            self.assertIn((("commonName", "localhost"),), peer["subject"])
            self.assertEqual(conn.sock.version(), "TLSv1.3")
        finally:
            conn.close()

    def test_large_static_file_byte_exact(self):
        # No kTLS here: the file goes through pread and SSL_write, with backpressure.
        path = os.path.join(self.srv.dir, "big.out")
        _, _, err = self.curl(self.srv, "-o", path, "-w", "%{http_code} %{size_download}",
                              self.url("/big.bin"))
        with open(path, "rb") as f:
            self.assertTrue(f.read() == self.srv.big, "the file arrived altered")
        # A slow reader with a small receive buffer: the server must keep its place.
        with self.tls_connect(self.srv) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if len(data) < 256 * 1024:
                    time.sleep(0.01)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(f"Content-Length: {ft.BIG_FILE_BYTES}".encode(), head)
        self.assertTrue(body == self.srv.big, f"{len(body)} bytes, altered or short")

    def test_file_that_shrinks_while_sent_ends_the_connection(self):
        # Without sendfile the file is read piece by piece: when a read comes back
        # short of the promised Content-Length, the connection must end rather than
        # go on to the next pipelined response as if the body were complete.
        size = ft.beyond_socket_buffers()
        path = os.path.join(self.srv.dir, "www", "cut.bin")
        with open(path, "wb") as f:
            f.write(b"A" * size)
        self.addCleanup(os.unlink, path)
        with self.tls_connect(self.srv) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.sendall(b"GET /cut.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"
                      b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = ft.recv_head(s)
            os.truncate(path, 65536)
            s.settimeout(20)
            closed = False
            while not closed:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    chunk = b""  # an end without close_notify is an end too
                closed = not chunk
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(f"Content-Length: {size}\r\n".encode(), head + b"\r\n")
        self.assertLess(len(body), size)
        self.assertEqual(body.translate(None, b"A"), b"", "the next response followed")

    def test_ranges_over_tls(self):
        _, out, _ = self.curl(self.srv, "-r", "1000-1999", self.url("/big.bin"))
        self.assertEqual(out, self.srv.big[1000:2000])

    # -- certificates ----------------------------------------------------------
    def test_sni_picks_the_certificate(self):
        out, _ = self.assertHandshakeWorks(self.srv.port, servername="other.test")
        self.assertRegex(out, r"subject=CN ?= ?other\.test")
        out, _ = self.assertHandshakeWorks(self.srv.port, servername="localhost")
        self.assertRegex(out, r"subject=CN ?= ?localhost")
        # No SNI (as when dialing an IP address) or an unknown name: the default certificate.
        status, out, hs = self.s_client(self.srv.port, servername=None)
        self.assertIsNotNone(hs, out)
        self.assertRegex(out, r"subject=CN ?= ?localhost")
        status, out, hs = self.s_client(self.srv.port, servername="unknown.test")
        self.assertRegex(out, r"subject=CN ?= ?localhost")
        # curl verifies the second certificate by name and reaches the other.test host.
        _, out, err = self.curl(self.srv, "-v", self.url("/", host="other.test"))
        self.assertEqual(out, b"other host")
        self.assertIn("subject: CN=other.test", err)
        # Python verifies the IP address SAN of the default certificate.
        with self.tls_connect(self.srv, server_hostname="127.0.0.1") as s:
            self.assertIn((("commonName", "localhost"),), s.getpeercert()["subject"])

    def test_misdirected_request_421(self):
        # Host other.test on the connection that presented the default certificate.
        _, out, err = self.curl(self.srv, "-i", "-H", "Host: other.test", self.url("/"))
        self.assertTrue(out.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), out)
        # Host localhost on the connection made for other.test: its host is the default's.
        _, out, _ = self.curl(self.srv, "-i", "-H", "Host: localhost",
                              self.url("/plaintext", host="other.test"))
        self.assertTrue(out.startswith(b"HTTP/1.1 421 "), out)
        # Matching Host and SNI are served; so is an address on the default certificate.
        _, out, _ = self.curl(self.srv, "-i", self.url("/", host="other.test"))
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
        _, out, _ = self.curl(self.srv, "-i", f"https://127.0.0.1:{self.srv.port}/plaintext")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
        # The 421 leaves the connection usable for its own host.
        with self.tls_connect(self.srv) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n"
                      b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [421, 200], data[:400])
        self.assertEqual(responses[1].body, b"Hello, World!")
        # A final dot names the same host (RFC 1034 §3.1): no way around the 421.
        with self.tls_connect(self.srv) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: other.test.\r\n\r\n"
                      b"GET /plaintext HTTP/1.1\r\nHost: localhost.:443\r\n"
                      b"Connection: close\r\n\r\n")
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [421, 200], data[:400])
        # Only one: routing takes "other.test.." for a host it does not know (the default
        # host's page), so on other.test's connection it is a 421 too, not that page
        # served under other.test's certificate.
        with self.tls_connect(self.srv, server_hostname="other.test") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: other.test..\r\n\r\n"
                      b"GET / HTTP/1.1\r\nHost: other.test.\r\nConnection: close\r\n\r\n")
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([(r.status, r.body) for r in responses],
                         [(421, b"421 Misdirected Request\n"), (200, b"other host")], data[:600])
        # Before the method is weighed (nginx decides the 421 before any location):
        # other.test's text route takes no DELETE, nor an unknown method, and /plaintext
        # no POST; OPTIONS * names no route at all.
        for conn_host, request in (
                ("localhost", b"DELETE / HTTP/1.1\r\nHost: other.test\r\n\r\n"),
                ("localhost", b"BREW / HTTP/1.1\r\nHost: other.test\r\n\r\n"),
                ("localhost", b"OPTIONS * HTTP/1.1\r\nHost: other.test\r\n\r\n"),
                ("other.test", b"POST /plaintext HTTP/1.1\r\nHost: localhost\r\n"
                               b"Content-Length: 0\r\n\r\n")):
            with self.tls_connect(self.srv, server_hostname=conn_host) as s:
                s.sendall(request + b"GET / HTTP/1.1\r\nHost: " + conn_host.encode() +
                          b"\r\nConnection: close\r\n\r\n")
                data, _ = ft.read_until_close(s, 5)
            responses, _ = ft.parse_responses(data)
            self.assertEqual([r.status for r in responses], [421, 200], (request, data[:400]))

    def test_misdirected_post_is_421_before_admission_and_body(self):
        """The 421 is decided on the head, as nginx does: before the route's rate limit
        and `allow` (403/429 on another host's terms), before a 100 Continue, and with
        the body left unread, so the connection closes after it."""
        # A second try would meet the rate limit; /posted has no admission check at all.
        for path in (b"/guarded", b"/guarded", b"/posted"):
            with self.tls_connect(self.srv) as s:
                s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: other.test\r\n"
                          b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                head = ft.recv_head(s)  # the body is never sent
                self.assertTrue(head.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"),
                                (path, head[:300]))
                self.assertNotIn(b"100 Continue", head)
                rest, closed = ft.read_until_close(s, 5)
                self.assertTrue(closed, "the connection waited for the unread body")
                self.assertNotIn(b"HTTP/1.1 ", rest)
        # Its own host's connection is admitted on that route's terms.
        _, out, _ = self.curl(self.srv, "-i", self.url("/guarded", host="other.test"))
        self.assertTrue(out.startswith(b"HTTP/1.1 403 "), out)

    def test_http10_without_host_goes_to_the_sni_host(self):
        """An HTTP/1.0 request without Host is for the host its SNI named (as nginx serves
        it from the server block SNI selected); without SNI, or with a name no host has,
        the default host answers it."""
        request = b"GET / HTTP/1.0\r\n\r\n"
        _, out, hs = self.s_client(self.srv.port, stdin=request, servername="other.test")
        self.assertIsNotNone(hs, out)
        self.assertIn("HTTP/1.1 200 ", out)
        self.assertIn("\r\n\r\nother host", out)
        for servername in (None, "unknown.test", "localhost"):
            _, out, hs = self.s_client(self.srv.port, stdin=request, servername=servername)
            self.assertIsNotNone(hs, out)
            self.assertIn("integration test page", out, servername)
            self.assertNotIn("other host", out, servername)
        # Its Host, when it sends one, still decides (and a foreign one is still a 421).
        _, out, _ = self.s_client(self.srv.port, stdin=b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
                                  servername="other.test")
        self.assertIn("HTTP/1.1 421 ", out)

    # -- protocol policy -------------------------------------------------------
    def test_tls11_refused(self):
        weak = ["-cipher", "DEFAULT:@SECLEVEL=0"]
        with weak_s_server("-tls1_1", *weak) as port:  # the control: this client can do 1.1
            _, hs = self.assertHandshakeWorks(port, "-tls1_1", *weak)
            self.assertEqual(hs[1], "TLSv1.1")
            self.curl(self.srv, "--tlsv1.1", "--tls-max", "1.1", "--ciphers",
                      "DEFAULT@SECLEVEL=0", "-o", os.devnull, f"https://localhost:{port}/")
        out = self.assertHandshakeFails(self.srv.port, "-tls1_1", *weak)
        self.assertRegex(out, r"alert|no protocols|wrong version|unsupported", out)
        status, _, err = self.curl(self.srv, "--tlsv1.1", "--tls-max", "1.1", "--ciphers",
                                   "DEFAULT@SECLEVEL=0", self.url("/plaintext"), ok=False)
        self.assertNotEqual(status, 0, err)

    def test_weak_cipher_refused(self):
        weak = ["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"]
        with weak_s_server(*weak) as port:  # the control: the same cipher where it is allowed
            _, hs = self.assertHandshakeWorks(port, *weak)
            self.assertEqual(hs[2], "AES128-SHA")
        self.assertHandshakeFails(self.srv.port, *weak)
        # What TLS 1.2 does get: ECDHE key exchange with an AEAD cipher.
        _, hs = self.assertHandshakeWorks(self.srv.port, "-tls1_2")
        self.assertRegex(hs[2], r"^ECDHE-(RSA|ECDSA)-(AES\d+-GCM-SHA\d+|CHACHA20-POLY1305)$")

    def test_server_picks_aes128_unless_the_client_wants_chacha(self):
        # openssl's own order puts AES-256 first; the server's choice wins.
        _, hs = self.assertHandshakeWorks(
            self.srv.port, "-ciphersuites",
            "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")
        self.assertEqual(hs[1:], ("TLSv1.3", "TLS_AES_128_GCM_SHA256"))
        # A client without AES hardware lists ChaCha20 first and gets it.
        _, hs = self.assertHandshakeWorks(
            self.srv.port, "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256")
        self.assertEqual(hs[2], "TLS_CHACHA20_POLY1305_SHA256")
        # A client that offers only AES-256 still connects.
        _, hs = self.assertHandshakeWorks(self.srv.port, "-ciphersuites", "TLS_AES_256_GCM_SHA384")
        self.assertEqual(hs[2], "TLS_AES_256_GCM_SHA384")
        # TLS 1.2 likewise, among the ECDHE AEAD suites only.
        _, hs = self.assertHandshakeWorks(
            self.srv.port, "-tls1_2", "-cipher", "ECDHE+AES256:ECDHE+AES128:ECDHE+CHACHA20")
        self.assertRegex(hs[2], r"^ECDHE-(RSA|ECDSA)-AES128-GCM-SHA256$")

    def test_alpn(self):
        _, _, err = self.curl(self.srv, "-v", self.url("/plaintext"))
        self.assertIn("ALPN: server accepted http/1.1", err)
        out, _ = self.assertHandshakeWorks(self.srv.port, "-alpn", "h2,http/1.1")
        self.assertIn("ALPN protocol: http/1.1", out)
        # RFC 7301 §3.2: no protocol in common is a fatal alert.
        out = self.assertHandshakeFails(self.srv.port, "-alpn", "h2")
        self.assertIn("no application protocol", out)

    # -- clear text and garbage on the TLS port --------------------------------
    def test_plain_http_gets_clear_text_400(self):
        data, closed = self.srv.exchange(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:200])
        self.assertTrue(closed)
        # Whatever the method (OpenSSL itself knows five), and with requests behind it.
        for method in ("DELETE", "OPTIONS", "PATCH", "TRACE", "PURGE", "POST"):
            request = f"{method} /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
            data, closed = self.srv.exchange(request.encode() * 3)
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), f"{method}: {data[:200]!r}")
            self.assertIn(b"plain HTTP request sent to TLS port", data)
            self.assertTrue(closed)
        # A body the server never reads: it must still end with a FIN, not a reset that
        # could destroy the answer before the client reads it (RFC 9112 §9.6).
        with self.srv.connect() as s:
            s.sendall(b"POST /raw HTTP/1.1\r\nHost: localhost\r\nContent-Length: 300000\r\n\r\n"
                      + b"x" * 300000)
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
                end = "FIN"
            except ConnectionResetError:
                end = "reset"
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:200])
        self.assertEqual(end, "FIN")
        self.assertEqual(self.curl(self.srv, self.url("/plaintext"))[1], b"Hello, World!")

    def test_garbage_handshake_closes_only_that_connection(self):
        with self.tls_connect(self.srv) as keep:
            data, closed = self.srv.exchange(b"\x16\x03\x01\x00\x10" + os.urandom(64))
            self.assertTrue(closed)
            self.assertNotIn(b"HTTP/1.1", data)
            keep.sendall(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")
            resp, _ = ft.read_response(keep)
            self.assertEqual(resp.body, b"Hello, World!")

    def active_connections(self):
        with self.tls_connect(self.srv) as s:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n")
            resp, _ = ft.read_response(s)
        return json.loads(resp.body)["connections"]["active"]

    def test_a_finished_and_a_fin_in_one_event_close_the_connection(self):
        # The client's last handshake flight and its FIN reach the worker in one
        # readiness event (the worker is stopped while both are sent): the worker
        # must read on to the EOF then, not wait for an edge that never comes.
        for _ in range(3):
            raw, _, _, outgoing = self.bio_handshake(self.srv)
            workers = self.srv.workers()
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            try:
                raw.sendall(outgoing.read())  # the client's Finished
                raw.shutdown(socket.SHUT_WR)
                time.sleep(0.05)
            finally:
                for pid in workers:
                    os.kill(pid, signal.SIGCONT)
            raw.settimeout(3)
            try:
                while raw.recv(65536):  # the tickets, then the server's close
                    pass
            except ConnectionResetError:
                pass
            raw.close()
        counts = []
        self.assertTrue(ft.wait_for(lambda: counts.append(self.active_connections()) or
                                    counts[-1] == 1, 3), counts)

    # -- resumption --------------------------------------------------------------
    def test_session_resumption(self):
        for version in ("-tls1_3", "-tls1_2"):
            sess = os.path.join(self.srv.dir, f"sess{version}.pem")
            _, hs = self.assertHandshakeWorks(self.srv.port, version, "-sess_out", sess)
            self.assertEqual(hs[0], "New")
            for _ in range(2):
                out, hs = self.assertHandshakeWorks(self.srv.port, version, "-sess_in", sess)
                self.assertEqual(hs[0], "Reused", out)
                self.assertIsNotNone(status_worker(out), out)

    # -- wss:// -------------------------------------------------------------------
    def test_wss_echo(self):
        key = base64.b64encode(os.urandom(16)).decode()
        with self.tls_connect(self.srv) as s:
            s.sendall(f"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                self.assertTrue(chunk, f"closed during the handshake: {head!r}\n{self.srv.log()}")
                head += chunk
            self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
            rest = head.partition(b"\r\n\r\n")[2]
            payload = b"hello over wss"
            mask = os.urandom(4)
            s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                      bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            while len(rest) < 2 + len(payload):
                chunk = s.recv(4096)
                self.assertTrue(chunk, "closed before the echo")
                rest += chunk
            self.assertEqual(rest[:2], bytes([0x81, len(payload)]))
            self.assertEqual(rest[2:2 + len(payload)], payload)
            s.sendall(bytes([0x88, 0x82]) + mask + bytes(b ^ mask[i] for i, b in
                                                         enumerate(b"\x03\xe8")))


@unittest.skipUnless(CURL and OPENSSL, "curl and openssl are needed")
class TlsListenerTests(TlsTestCase):
    """Servers with their own tls settings."""

    def test_min_version_13_refuses_a_tls12_client(self):
        srv = self.start_tls(tls=TLS_DEFAULT.replace('"1.2"', '"1.3"'))
        self.assertHandshakeFails(srv.port, "-tls1_2")
        _, hs = self.assertHandshakeWorks(srv.port, "-tls1_3")
        self.assertEqual(hs[1], "TLSv1.3")
        status, _, err = self.curl(srv, "--tls-max", "1.2", f"https://localhost:{srv.port}/",
                                   ok=False)
        self.assertNotEqual(status, 0, err)
        _, out, err = self.curl(srv, "-v", f"https://localhost:{srv.port}/plaintext")
        self.assertEqual(out, b"Hello, World!")
        self.assertIn("SSL connection using TLSv1.3", err)
        self.assertStopsCleanly(srv)

    def test_default_alpn_serves_http10_clients(self):
        # No alpn key: curl --http1.0 offers only "http/1.0", which flared speaks, so
        # it must not get RFC 7301's no_application_protocol alert.
        srv = self.start_tls(tls=TLS_DEFAULT.replace("alpn: [http/1.1]\n", ""))
        _, out, err = self.curl(srv, "-v", "-i", "--http1.0",
                                f"https://localhost:{srv.port}/plaintext")
        self.assertIn("ALPN: server accepted http/1.0", err)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out)
        self.assertTrue(out.endswith(b"Hello, World!"), out)
        # http/1.1 stays the server's choice when both are offered; h2 never is.
        out, _ = self.assertHandshakeWorks(srv.port, "-alpn", "h2,http/1.0,http/1.1")
        self.assertIn("ALPN protocol: http/1.1", out)
        out = self.assertHandshakeFails(srv.port, "-alpn", "h2")
        self.assertIn("no application protocol", out)
        self.assertStopsCleanly(srv)

    def test_names_the_certificate_does_not_carry_are_warned_about(self):
        # other.pem carries DNS:other.test only: a name or wildcard given beside it
        # would get that certificate by SNI, and every verifying client refuses it.
        tls = TLS_DEFAULT.replace("names: [other.test]",
                                  'names: [other.test, stray.test, "*.other.test"]')
        srv = self.start_tls(tls=tls)
        self.assertTrue(ft.wait_for(lambda: "*.other.test" in srv.log(), 5), srv.log())
        warned = re.findall(r"tls certificate \S+other\.pem does not name (\S+) \(no such "
                            r"subjectAltName\)", srv.log())
        self.assertEqual(sorted(set(warned)), ["*.other.test", "stray.test"], srv.log())
        status, out, _ = self.s_client(srv.port, "-verify_return_error", "-verify_hostname",
                                       "stray.test", servername="stray.test")
        self.assertIn("0 s:CN = other.test", out)
        self.assertIn("Verification error: hostname mismatch", out)
        self.assertStopsCleanly(srv)

    def test_world_readable_key_is_warned_about(self):
        srv = TlsServer()
        self.addCleanup(srv.cleanup)
        os.chmod(os.path.join(srv.dir, "other.key"), 0o644)
        srv.start()
        self.assertTrue(ft.wait_for(lambda: "readable by every user" in srv.log(), 5), srv.log())
        warned = re.findall(r"tls key file (\S+) is readable by every user of this machine "
                            r"\(mode 0644\)", srv.log())
        self.assertEqual({os.path.basename(p) for p in warned}, {"other.key"}, srv.log())
        self.assertStopsCleanly(srv)

    def test_config_check_prints_certificate_warnings(self):
        # flared -t says what every worker would log, before a reload makes it so.
        tls = TLS_DEFAULT.replace("names: [other.test]", "names: [other.test, stray.test]")
        srv = self.unstarted_tls(tls=tls)
        os.chmod(os.path.join(srv.dir, "server.key"), 0o604)
        status, out = run([ft.FLARED, "-t", "-c", srv.config_path])
        self.assertEqual(status, 0, out)
        self.assertRegex(out, r"flared: warning: listener 127\.0\.0\.1:\d+ \(line \d+\): tls key "
                              r"file \S+server\.key is readable by every user of this machine "
                              r"\(mode 0604\)")
        self.assertRegex(out, r"flared: warning: listener \S+ \(line \d+\): tls certificate "
                              r"\S+other\.pem does not name stray\.test")
        self.assertIn("is valid", out)
        self.assertEqual(out.count("warning"), 2, out)

    def test_misdirected_is_421_before_a_missing_route(self):
        """A Host of another certificate whose host has no route for the path is a 421,
        not that host's 404, with a body or without, and with the fields of that host
        (the answer comes before any route)."""
        extra = ("hosts:\n  - names: [other.test]\n    headers: {X-Site: other}\n"
                 "    routes:\n      - path: /only\n        text: {body: \"only\"}\n")
        srv = self.start_tls(extra=extra)
        with self.tls_connect(srv) as s:
            s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: other.test\r\n\r\n"
                      b"GET /only HTTP/1.1\r\nHost: other.test\r\n\r\n"
                      b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [421, 421, 200], data[:600])
        self.assertIn(b"\r\nX-Site: other\r\n", data.split(b"\r\n\r\n")[0] + b"\r\n")
        # Its own connection: 404 there, and the route served.
        with self.tls_connect(srv, server_hostname="other.test") as s:
            s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: other.test\r\n\r\n"
                      b"GET /only HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n")
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [404, 200], data[:600])
        # A body is left unread: the connection ends after the 421, no 100 Continue first.
        with self.tls_connect(srv) as s:
            s.sendall(b"POST /nowhere HTTP/1.1\r\nHost: other.test\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            head = ft.recv_head(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 421 Misdirected Request\r\n"), head[:300])
            rest, closed = ft.read_until_close(s, 5)
            self.assertTrue(closed, "the connection waited for the unread body")
            self.assertNotIn(b"HTTP/1.1 ", rest)
        self.assertStopsCleanly(srv)

    def test_mtls(self):
        srv = self.start_tls(tls=TLS_DEFAULT + "client_ca: ca.pem\n")
        url = f"https://localhost:{srv.port}/plaintext"
        status, _, err = self.curl(srv, url, ok=False)
        self.assertNotEqual(status, 0, f"no client certificate, yet: {err}")
        status, _, err = self.curl(srv, "--cert", cert("rogue.pem"), "--key", cert("rogue.key"),
                                   url, ok=False)
        self.assertNotEqual(status, 0, f"a certificate from another CA, yet: {err}")
        _, out, _ = self.curl(srv, "--cert", cert("client.pem"), "--key", cert("client.key"), url)
        self.assertEqual(out, b"Hello, World!")
        self.assertStopsCleanly(srv)

    def client_cert_server(self, tls):
        """A TlsServer with `tls` whose /app/ routes proxy to a recording upstream, with the
        request_headers nginx setups use to pass the client certificate, and an access log
        of the TLS variables; (server, upstream, access log path)."""
        from proxy_upstreams import RawUpstream
        up = RawUpstream()
        self.addCleanup(up.close)
        extra = ("  - path: /app/\n"
                 "    proxy:\n"
                 "      upstream: app\n"
                 "      request_headers:\n"
                 "        X-SSL-Client-S-DN: $ssl_client_s_dn\n"
                 "        X-SSL-Client-Verify: $ssl_client_verify\n"
                 "        X-SSL: \"$ssl_protocol $ssl_cipher\"\n"
                 "access_log: access.log\n"
                 "access_log_format: '$request_uri|$ssl_protocol|$ssl_cipher|"
                 "$ssl_client_verify|$ssl_client_s_dn'\n"
                 f"upstreams:\n  app: {{servers: [\"{up.address}\"]}}\n")
        srv = self.start_tls(tls=tls, extra=extra)
        return srv, up, os.path.join(srv.dir, "access.log")

    def upstream_fields(self, up):
        """{lower-case name: [values]} of each request the upstream got, in order."""
        from proxy_upstreams import headers_of
        out = []
        for _, head, _ in up.requests:
            fields = {}
            for name, value in headers_of(head):
                fields.setdefault(name.lower(), []).append(value)
            out.append(fields)
        return out

    def test_client_certificate_reaches_log_and_upstream(self):
        """With client_ca, the verified certificate's subject (RFC 2253, as nginx's
        $ssl_client_s_dn: last RDN first, a comma escaped) and SUCCESS reach the access log
        and, by request_headers, the upstream, for every request of the connection; the
        client's own X-SSL-Client-* fields never do."""
        srv, up, log = self.client_cert_server(TLS_DEFAULT + "client_ca: ca.pem\n")
        key, pem = os.path.join(srv.dir, "alice.key"), os.path.join(srv.dir, "alice.pem")
        status, out = run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
                           pem + ".csr", "-subj", "/C=DE/O=Example, Inc./OU=ops/CN=alice"])
        self.assertEqual(status, 0, out)
        status, out = run([OPENSSL, "x509", "-req", "-in", pem + ".csr", "-CA", cert("ca.pem"),
                           "-CAkey", cert("ca.key"), "-CAcreateserial", "-out", pem, "-days", "2"])
        self.assertEqual(status, 0, out)
        url = f"https://localhost:{srv.port}"
        _, out, err = self.curl(srv, "-v", "--cert", pem, "--key", key,
                                "-H", "X-SSL-Client-S-DN: CN=admin",
                                "-H", "X-SSL-Client-Verify: SUCCESS",
                                f"{url}/app/echo", f"{url}/app/echo?again")
        self.assertEqual(err.count("SSL connection using"), 1, err)  # one connection
        m = re.search(r"SSL connection using (TLSv1\.3) / (\S+)", err)
        self.assertIsNotNone(m, err)
        protocol, cipher = m.groups()
        dn = "CN=alice,OU=ops,O=Example\\, Inc.,C=DE"
        fields = self.upstream_fields(up)
        self.assertEqual(len(fields), 2, up.requests)
        for f in fields:
            self.assertEqual(f["x-ssl-client-s-dn"], [dn], f)
            self.assertEqual(f["x-ssl-client-verify"], ["SUCCESS"], f)
            self.assertEqual(f["x-ssl"], [f"{protocol} {cipher}"], f)
        self.assertStopsCleanly(srv)  # the log is written whole
        with open(log) as f:
            lines = f.read().splitlines()
        # The log escapes a backslash as \x5C, as every value it writes.
        logged_dn = dn.replace("\\", "\\x5C")
        self.assertEqual(lines, [f"/app/echo|{protocol}|{cipher}|SUCCESS|{logged_dn}",
                                 f"/app/echo?again|{protocol}|{cipher}|SUCCESS|{logged_dn}"])

    def test_no_client_certificate_is_none(self):
        """Without client_ca no certificate is asked for: $ssl_client_verify is NONE,
        $ssl_client_s_dn empty (the log's -), and the field it fills is not sent at all,
        the client's forged one included."""
        srv, up, log = self.client_cert_server(TLS_DEFAULT)
        url = f"https://localhost:{srv.port}/app/echo"
        _, out, err = self.curl(srv, "--cert", cert("client.pem"), "--key", cert("client.key"),
                                "-H", "X-SSL-Client-S-DN: CN=admin", url)
        (f,) = self.upstream_fields(up)
        self.assertNotIn("x-ssl-client-s-dn", f)
        self.assertEqual(f["x-ssl-client-verify"], ["NONE"], f)
        self.assertStopsCleanly(srv)
        with open(log) as fh:
            line = fh.read()
        self.assertRegex(line, r"^/app/echo\|TLSv1\.[23]\|[A-Z0-9_-]+\|NONE\|-\n$")

    def test_reload_that_drops_a_client_ca_ends_its_sessions(self):
        srv = TlsServer(tls=TLS_DEFAULT + "client_ca: cas.pem\n")
        self.addCleanup(srv.cleanup)
        bundle = os.path.join(srv.dir, "cas.pem")

        def trust(names):
            with open(bundle, "w") as f:
                f.write("".join(ft.read_text(cert(name)) for name in names))

        def reload(names):
            trust(names)
            old = srv.wait_workers(1)
            srv.signal(signal.SIGHUP)
            # Once the old worker drains, every connection reaches the new one.
            self.assertTrue(ft.wait_for(lambda: f"flared[{old[0]}]: worker 0: draining"
                                        in srv.log(), ft.patience(5)), srv.log())

        trust(["ca.pem", "rogue-ca.pem"])
        srv.start()
        rogue = ["-cert", cert("rogue.pem"), "-key", cert("rogue.key")]
        sess = os.path.join(srv.dir, "sess.pem")
        self.assertHandshakeWorks(srv.port, *rogue, "-sess_out", sess)
        out, hs = self.assertHandshakeWorks(srv.port, *rogue, "-sess_in", sess)
        self.assertEqual(hs[0], "Reused", out)
        self.assertIsNotNone(status_worker(out), out)
        # The operator stops trusting the rogue CA: its clients must verify anew and
        # fail, not resume the sessions they had.
        reload(["ca.pem"])
        status, out, hs = self.s_client(srv.port, *rogue, "-sess_in", sess)
        self.assertIsNone(status_worker(out), out)
        self.assertFalse(hs and hs[0] == "Reused", out)
        # A client of a CA still trusted keeps resuming across such a reload.
        good = ["-cert", cert("client.pem"), "-key", cert("client.key")]
        self.assertHandshakeWorks(srv.port, *good, "-sess_out", sess)
        reload(["ca.pem", "rogue-ca.pem"])
        reload(["ca.pem"])
        out, hs = self.assertHandshakeWorks(srv.port, *good, "-sess_in", sess)
        self.assertEqual(hs[0], "Reused", out)
        self.assertStopsCleanly(srv)

    def test_connection_over_the_limit_gets_a_tls_alert(self):
        # A TLS client reads records: the clear-text 503 of a full server would only
        # be a garbled record to it, an internal_error alert says what happened.
        srv = self.start_tls(limits=", max_connections: 2")
        held = [self.tls_connect(srv) for _ in range(2)]
        for s in held:
            self.addCleanup(s.close)
        error = self.over_limit_error(srv)
        self.assertIsNotNone(error, srv.log())
        self.assertIn("ALERT_INTERNAL_ERROR", error)
        for s in held:
            s.close()
        # Room again once the worker has seen those closes: served.
        self.assertTrue(ft.wait_for(lambda: self.over_limit_error(srv) is None, ft.patience(5)))
        with self.tls_connect(srv) as s:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")
            self.assertEqual(ft.read_response(s)[0].body, b"Hello, World!")
        self.assertStopsCleanly(srv)

    def over_limit_error(self, srv):
        """The TLS error of a handshake on a full server; None if it was served."""
        try:
            with self.tls_connect(srv):
                return None
        except (ssl.SSLError, OSError) as e:
            return str(e)

    def test_tickets_shared_by_reuseport_workers(self):
        srv = self.start_tls(workers=2, reuseport=True)
        self.assertTrue(srv.wait_workers(2, 5))
        sess = os.path.join(srv.dir, "sess.pem")
        out, hs = self.assertHandshakeWorks(srv.port, "-sess_out", sess)
        self.assertEqual(hs[0], "New")
        workers = {status_worker(out)}
        attempts = 0
        # The kernel spreads connections by their source port: a few reach each worker.
        while attempts < 40 and (attempts < 6 or len(workers) < 2):
            out, hs = self.assertHandshakeWorks(srv.port, "-sess_in", sess)
            self.assertEqual(hs[0], "Reused", f"attempt {attempts}: {out}")
            workers.add(status_worker(out))
            attempts += 1
        self.assertEqual(workers, {0, 1}, "every connection reached the same worker")
        # After a reload (new workers, same shared keys) the session still resumes.
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reloaded: 2 workers" in srv.log(), 5), srv.log())
        for _ in range(4):
            out, hs = self.assertHandshakeWorks(srv.port, "-sess_in", sess)
            self.assertEqual(hs[0], "Reused", out)
        self.assertStopsCleanly(srv)

    def test_ticket_rotation(self):
        period_ms = 2500
        srv = self.start_tls(env={"FLARED_TICKET_ROTATE_MS": str(period_ms)})

        def picked_up(generation):
            line = f"worker 0: session ticket keys generation {generation}"
            return ft.wait_for(lambda: line in srv.log(), 6 * period_ms / 1000)

        self.assertTrue(picked_up(2), srv.log())
        sess = os.path.join(srv.dir, "sess.pem")
        _, hs = self.assertHandshakeWorks(srv.port, "-sess_out", sess)
        self.assertEqual(hs[0], "New")
        # One rotation later the ticket's key is the previous one: still accepted.
        self.assertTrue(picked_up(3), srv.log())
        out, hs = self.assertHandshakeWorks(srv.port, "-sess_in", sess)
        self.assertEqual(hs[0], "Reused", out)
        # Two rotations later its key is gone: a full handshake.
        self.assertTrue(picked_up(4), srv.log())
        out, hs = self.assertHandshakeWorks(srv.port, "-sess_in", sess)
        self.assertEqual(hs[0], "New", out)
        self.assertIn("FLARED_TICKET_ROTATE_MS", srv.log())
        self.assertIn("rotated the session ticket keys (generation 4)", srv.log())
        self.assertStopsCleanly(srv)

    def test_session_tickets_off(self):
        srv = self.start_tls(tls=TLS_DEFAULT.replace("session_tickets: true",
                                                     "session_tickets: false"))
        # Nothing to resume from: no ticket, and no session id (the server keeps no
        # cache), so s_client has no session to save (with tickets on it has; see
        # test_session_resumption).
        for version in ("-tls1_3", "-tls1_2"):
            sess = os.path.join(srv.dir, f"sess{version}.pem")
            out, _ = self.assertHandshakeWorks(srv.port, version, "-sess_out", sess)
            self.assertFalse(os.path.exists(sess), f"a {version} session was issued:\n{out}")
        self.assertStopsCleanly(srv)

    def test_reload_picks_up_new_certificate_and_keeps_transfers(self):
        srv = self.start_tls(big_file=True)
        serial = lambda name: run([OPENSSL, "x509", "-noout", "-serial", "-in", cert(name)])[1]
        old = srv.wait_workers(1)
        self.assertTrue(old)
        with self.tls_connect(srv) as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = s.recv(65536)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "))
            for name in ("pem", "key"):
                shutil.copy(cert(f"server2.{name}"), os.path.join(srv.dir, f"server.{name}"))
            srv.signal(signal.SIGHUP)
            # The master logs the reload once it has told the old worker to drain; that
            # worker accepts from the shared socket until it has read the signal and
            # says it is draining. Every connection after that reaches the new worker.
            self.assertTrue(ft.wait_for(lambda: "reloaded: 1 workers" in srv.log() and
                                        f"flared[{old[0]}]: worker 0: draining" in srv.log(),
                                        ft.patience(5)), srv.log())
            out, _ = self.assertHandshakeWorks(srv.port)
            self.assertIn("O = reloaded", out)
            pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out,
                            re.S).group(0)
            served = run([OPENSSL, "x509", "-noout", "-serial"], stdin=pem.encode())[1]
            self.assertEqual(served, serial("server2.pem"))
            # The transfer that started before the reload completes on the old certificate.
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        body = data.partition(b"\r\n\r\n")[2]
        self.assertTrue(body == srv.big, f"{len(body)} bytes, altered or short")
        self.assertStopsCleanly(srv)

    def test_restarted_worker_serves_the_loaded_certificate_not_the_file_on_disk(self):
        # A certificate renewal in progress (the new certificate written, its key not
        # yet, no reload sent) when a worker crashes: its replacement must not read the
        # files again, or it fails to start and the listener's queue goes unanswered.
        srv = self.start_tls()
        old = srv.wait_workers(1)
        self.assertTrue(old)
        shutil.copy(cert("server2.pem"), os.path.join(srv.dir, "server.pem"))
        os.kill(old[0], signal.SIGKILL)
        self.assertTrue(ft.wait_for(lambda: f"pid {old[0]}" in srv.log() and srv.workers()
                                    and old[0] not in srv.workers(), ft.patience(5)),
                        srv.log())
        out, _ = self.assertHandshakeWorks(srv.port)
        self.assertNotIn("O = reloaded", out)
        self.assertNotIn("does not match certificate", srv.log())
        self.assertStopsCleanly(srv)

    def read_to_end(self, raw, tls, incoming):
        """Plaintext until the connection ends, and how: "close_notify" or "bare EOF"."""
        got = b""
        while True:
            try:
                while True:
                    data = tls.read(65536)
                    if not data:
                        return got, "close_notify"
                    got += data
            except ssl.SSLZeroReturnError:
                return got, "close_notify"
            except ssl.SSLWantReadError:
                pass
            data = raw.recv(65536)
            if not data:
                return got, "bare EOF"
            incoming.write(data)

    def test_close_notify_ends_sessions_between_responses(self):
        # RFC 8446 §6.1: whoever closes says so, unless an error alert went out.
        srv = self.start_tls(timeouts=", keepalive: 1s, header: 2s")
        request = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
        # The keep-alive timeout ends an idle session.
        raw, tls, incoming, outgoing = self.bio_session(srv)
        tls.write(request)
        raw.sendall(outgoing.read())
        got, how = self.read_to_end(raw, tls, incoming)
        self.assertTrue(got.endswith(b"Hello, World!"), got)
        self.assertEqual(how, "close_notify")
        # So does the header timeout of a session that never sends a request.
        raw, tls, incoming, outgoing = self.bio_session(srv)
        self.assertEqual(self.read_to_end(raw, tls, incoming), (b"", "close_notify"))
        # The client's close_notify after its request: the response, then ours.
        raw, tls, incoming, outgoing = self.bio_session(srv)
        tls.write(request)
        with self.assertRaises(ssl.SSLWantReadError):
            tls.unwrap()
        raw.sendall(outgoing.read())
        got, how = self.read_to_end(raw, tls, incoming)
        self.assertTrue(got.endswith(b"Hello, World!"), got)
        self.assertEqual(how, "close_notify")
        self.assertStopsCleanly(srv)

    def test_config_errors_exit_78(self):
        srv = self.unstarted_tls(tls=TLS_DEFAULT.replace("other.key", "server.key"))
        status, out = run([ft.FLARED, "-t", "-c", srv.config_path])
        self.assertEqual(status, 78, out)
        # An RSA key for an EC certificate: the reason says so.
        self.assertRegex(out, r"flared\.yaml:\d+:\d+: certificates: tls key file \S+server\.key "
                              r"does not match certificate \S+other\.pem \([^)]*different key "
                              r"types\)")
        os.remove(os.path.join(srv.dir, "other.pem"))
        status, out = run([ft.FLARED, "-t", "-c", srv.config_path])
        self.assertEqual(status, 78, out)
        self.assertRegex(out, r"flared\.yaml:\d+:\d+: cert: cannot read '\S+other\.pem': No such")

    def test_weak_certificates_refused_whatever_openssl_cnf_says(self):
        # An openssl.cnf that lowers OpenSSL's security level to 1 (the default of
        # some builds) makes OpenSSL itself take a 1024-bit RSA key; flared does not.
        d = tempfile.mkdtemp(prefix="flared-weak-")
        self.addCleanup(shutil.rmtree, d, True)
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
                    "system_default = sys\n[sys]\nCipherString = DEFAULT@SECLEVEL=1\n")
        env = dict(os.environ, OPENSSL_CONF=cnf)
        status, out = run([OPENSSL, "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout",
                           f"{d}/weak.key", "-out", f"{d}/weak.pem", "-days", "2", "-subj",
                           "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        self.assertEqual(status, 0, out)
        # The control: under that file, OpenSSL's own server loads the key.
        p = subprocess.Popen([OPENSSL, "s_server", "-accept", "0", "-cert", f"{d}/weak.pem",
                              "-key", f"{d}/weak.key"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            said = b"".join(p.stdout.readline() for _ in range(2))
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        self.assertIn(b"ACCEPT", said)
        srv = self.unstarted_tls(files=(f"{d}/weak.pem", f"{d}/weak.key"),
                                 tls="certificates:\n  - {cert: weak.pem, key: weak.key}\n")
        p = subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], env=env,
                           capture_output=True, timeout=20)
        out = (p.stdout + p.stderr).decode()
        self.assertEqual(p.returncode, 78, out)
        self.assertRegex(out, r"flared\.yaml:\d+:\d+: certificates: tls certificate file "
                              r"\S+weak\.pem is too weak \(SSL routines: ee key too small\)")


if __name__ == "__main__":
    ft.run()
