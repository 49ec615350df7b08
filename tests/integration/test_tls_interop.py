#!/usr/bin/env python3
"""TLS against stacks and tools no one here wrote, beyond test_tls.py's curl,
openssl s_client and Python ssl:
- gnutls-cli (GnuTLS, an independent TLS implementation) against flared's HTTPS
  listener: TLS 1.3 and 1.2, ALPN, SNI choosing the certificate (read back with
  GnuTLS's certtool), an HTTP exchange, and TLS 1.1 refused (shown possible first
  against a permissive openssl s_server);
- sslscan scanning a deliberately weak openssl s_server (so the scan is known to
  see TLS 1.0, a CBC suite with RSA key exchange and renegotiation) and then
  flared, asserting the policy of issue #6;
- libflare's HTTP client, directly (tests/integration/client_probe.c, which prints
  the typed error's name) and through the `flare` CLI, against `openssl s_server
  -WWW`: a verified GET, hostname mismatch, untrusted CA and an expired certificate
  (FLARE_EHOST_MISMATCH, FLARE_EUNTRUSTED, FLARE_ECERT_EXPIRED; the CLI exits 3),
  and SNI sent for names but not IP literals (s_server -tlsextdebug lists the
  client's extensions);
- libflare's WebSocket client (flare_ws_connect, through client_probe) against
  flared's wss:// listener, with and without permessage-deflate.
Certificates come from test_tls.make_certs (made at run time; no key committed).
"""
import os
import re
import contextlib
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import flaredtest as ft
import test_tls
from test_tls import TlsServer, TlsTestCase, cert, run, weak_s_server

GNUTLS_CLI = shutil.which("gnutls-cli")
CERTTOOL = shutil.which("certtool")
SSLSCAN = shutil.which("sslscan")
FLARE = os.environ.get("FLARE", "")
CLIENT_PROBE = os.environ.get("CLIENT_PROBE", "")


def probe(test, *args, env=None):
    """Runs client_probe; returns (exit status, its one line)."""
    if not CLIENT_PROBE or not os.access(CLIENT_PROBE, os.X_OK):
        test.fail(f"$CLIENT_PROBE does not name the built client_probe: {CLIENT_PROBE!r}")
    p = subprocess.run([CLIENT_PROBE, *args], capture_output=True, timeout=60, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()
EXPIRED = ""  # made by setUpModule: a certificate for localhost whose notAfter has passed


def setUpModule():
    global EXPIRED
    test_tls.setUpModule()
    d = test_tls.CERTS
    # -days -1 puts notAfter a day before notBefore (now): already expired, yet
    # otherwise valid for localhost and 127.0.0.1 and signed by the test CA.
    status, out = run([test_tls.OPENSSL, "req", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{d}/expired.key",
                       "-out", f"{d}/expired.csr", "-subj", "/CN=localhost"])
    assert status == 0, out
    with open(f"{d}/expired.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    status, out = run([test_tls.OPENSSL, "x509", "-req", "-in", f"{d}/expired.csr", "-CA",
                       f"{d}/ca.pem", "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-out",
                       f"{d}/expired.pem", "-days", "-1", "-extfile", f"{d}/expired.ext"])
    assert status == 0, out
    EXPIRED = f"{d}/expired.pem"


def tearDownModule():
    test_tls.tearDownModule()


class SharedServer(ft.SharedServerTestCase):
    """One flared HTTPS listener (test_tls's default: two certificates, TLS >= 1.2,
    ALPN http/1.1) for a whole class."""

    server_class = TlsServer


# -- gnutls-cli ------------------------------------------------------------------

GNUTLS_REQUEST = "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"


@unittest.skipUnless(GNUTLS_CLI and CERTTOOL, "gnutls-bin (gnutls-cli, certtool) is not installed")
class GnutlsTests(SharedServer, TlsTestCase):
    def gnutls(self, port, priority, host="localhost", request=None, alpn="http/1.1",
               print_cert=False):
        """gnutls-cli to 127.0.0.1:port with SNI `host`, verifying the certificate
        for it; returns (exit status, output text, handshake description or None)."""
        args = [GNUTLS_CLI, "--x509cafile", cert("ca.pem"), "--priority", priority,
                "--sni-hostname", host, "--verify-hostname", host, "-p", str(port)]
        if alpn:
            args += ["--alpn", alpn]
        if print_cert:
            args.append("--print-cert")
        stdin = request.encode() if request else b""
        status, out = run([*args, "127.0.0.1"], stdin=stdin)
        m = re.search(r"^- Description: (\S+)$", out, re.M)
        handshake_done = "- Handshake was completed" in out
        return status, out, m.group(1) if m and handshake_done else None

    def served_certificate(self, out):
        """certtool's reading of the certificate gnutls-cli printed."""
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        self.assertIsNotNone(pem, out)
        status, info = run([CERTTOOL, "-i"], stdin=pem.group(0).encode())
        self.assertEqual(status, 0, info)
        return info

    def test_tls13_http_exchange(self):
        status, out, desc = self.gnutls(self.srv.port, "NORMAL:-VERS-ALL:+VERS-TLS1.3",
                                        request=GNUTLS_REQUEST.format(path="/plaintext",
                                                                      host="localhost"))
        self.assertEqual(status, 0, out)
        self.assertIsNotNone(desc, out)
        self.assertTrue(desc.startswith("(TLS1.3-X.509)"), desc)
        self.assertIn("- Status: The certificate is trusted.", out)
        self.assertIn("- Application protocol: http/1.1", out)
        head, _, body = out.partition("\r\n\r\n")
        self.assertIn("HTTP/1.1 200 OK\r\n", head)
        self.assertIn("Content-Length: 13\r\n", head)
        self.assertTrue(body.startswith("Hello, World!"), body)

    def test_tls12_ecdhe_aead(self):
        status, out, desc = self.gnutls(self.srv.port, "NORMAL:-VERS-ALL:+VERS-TLS1.2",
                                        request=GNUTLS_REQUEST.format(path="/echo",
                                                                      host="localhost"))
        self.assertEqual(status, 0, out)
        self.assertIsNotNone(desc, out)
        # e.g. (TLS1.2-X.509)-(ECDHE-SECP256R1)-(RSA-SHA256)-(AES-256-GCM)
        self.assertRegex(desc, r"^\(TLS1\.2-X\.509\)-\(ECDHE-[^)]+\)-\([^)]+\)-"
                               r"\((AES-\d+-GCM|CHACHA20-POLY1305)\)$")
        self.assertIn("safe renegotiation", out)
        self.assertIn("HTTP/1.1 200 OK\r\n", out)
        self.assertIn('"method":"GET"', out.replace(" ", ""))
        # With only CBC suites offered there is nothing in common.
        status, out, desc = self.gnutls(
            self.srv.port, "NONE:+VERS-TLS1.2:+AES-128-CBC:+AES-256-CBC:+SHA1:+SHA256:"
            "+ECDHE-RSA:+ECDHE-ECDSA:+RSA:+COMP-NULL:+SIGN-ALL:+GROUP-ALL")
        self.assertIsNone(desc, out)
        self.assertNotEqual(status, 0, out)

    def test_alpn(self):
        status, out, desc = self.gnutls(self.srv.port, "NORMAL", alpn="http/1.1")
        self.assertIsNotNone(desc, out)
        self.assertIn("- Application protocol: http/1.1", out)
        # RFC 7301 §3.2: no protocol in common is a fatal no_application_protocol (120).
        status, out, desc = self.gnutls(self.srv.port, "NORMAL", alpn="h2")
        self.assertIsNone(desc, out)
        self.assertRegex(out, r"alert \[?120\]?|No supported application protocol|"
                              r"no_application_protocol", out)

    def test_sni_selects_the_certificate(self):
        for host, subject, sans in (
                ("other.test", "CN=other.test", ["DNSname: other.test"]),
                ("localhost", "CN=localhost",
                 ["DNSname: localhost", "IPAddress: 127.0.0.1", "IPAddress: ::1"])):
            for version in ("TLS1.3", "TLS1.2"):
                status, out, desc = self.gnutls(self.srv.port, f"NORMAL:-VERS-ALL:+VERS-{version}",
                                                host=host, print_cert=True,
                                                request=GNUTLS_REQUEST.format(path="/", host=host))
                self.assertIsNotNone(desc, f"{host} {version}: {out}")
                info = self.served_certificate(out)
                self.assertRegex(info, rf"\n\s*Subject: {re.escape(subject)}\n", info)
                for san in sans:
                    self.assertIn(san, info)
                if host == "other.test":
                    self.assertNotIn("DNSname: localhost", info)
                    self.assertTrue(out.rstrip().endswith("other host") or
                                    "\r\n\r\nother host" in out, out)

    def test_tls11_refused(self):
        priority = "NORMAL:-VERS-ALL:+VERS-TLS1.1"
        # The control: this gnutls-cli does speak TLS 1.1 where a server allows it.
        with weak_s_server("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0") as port:
            status, out, desc = self.gnutls(port, priority, alpn=None)
            self.assertIsNotNone(desc, out)
            self.assertTrue(desc.startswith("(TLS1.1-"), desc)
        status, out, desc = self.gnutls(self.srv.port, priority)
        self.assertIsNone(desc, out)
        self.assertNotEqual(status, 0, out)
        self.assertRegex(out, r"alert|protocol version|unsupported", out)
        # flared is still serving.
        status, out, desc = self.gnutls(self.srv.port, "NORMAL")
        self.assertIsNotNone(desc, out)


# -- sslscan -----------------------------------------------------------------------

def sslscan(port):
    """sslscan's XML report of 127.0.0.1:port, parsed; bounded to 120 s."""
    p = subprocess.run([SSLSCAN, "--no-colour", "--xml=-", f"127.0.0.1:{port}"],
                       capture_output=True, timeout=120)
    text = p.stdout.decode("utf-8", "replace")
    start = text.find("<?xml")
    if p.returncode != 0 or start < 0:
        raise AssertionError(f"sslscan exited with {p.returncode}:\n{text}\n{p.stderr!r}")
    test = ET.fromstring(text[start:]).find("ssltest")
    if test is None:
        raise AssertionError(f"no <ssltest> in sslscan's report:\n{text}")
    return test


def protocols(test):
    """{"TLSv1.0": True, ...} from <protocol type="tls" version="1.0" enabled="1"/>."""
    out = {}
    for p in test.iter("protocol"):
        name = ("TLSv" if p.get("type") == "tls" else "SSLv") + p.get("version")
        out[name] = p.get("enabled") == "1"
    return out


def ciphers(test, version):
    return [c.get("cipher") for c in test.iter("cipher") if c.get("sslversion") == version]


# OpenSSL names: ECDHE key exchange with an AEAD cipher, and nothing else.
GOOD_TLS12 = re.compile(r"^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$")


def client_hello_offering_deflate():
    """A TLS 1.2 ClientHello (RFC 5246 §7.4.1.2) that offers DEFLATE compression
    (RFC 3749, method 1) ahead of null, with ECDHE-GCM suites and SNI localhost."""
    suites = [0xC02F, 0xC030, 0xC02B, 0xC02C, 0xCCA8, 0xCCA9]
    host = b"localhost"
    exts = b""

    def ext(kind, body):
        return struct.pack("!HH", kind, len(body)) + body

    sni = struct.pack("!BH", 0, len(host)) + host
    exts += ext(0, struct.pack("!H", len(sni)) + sni)
    exts += ext(10, struct.pack("!H", 4) + struct.pack("!HH", 0x001D, 0x0017))  # groups
    exts += ext(11, b"\x01\x00")  # EC point formats: uncompressed
    sigalgs = struct.pack("!HHHHH", 0x0804, 0x0403, 0x0401, 0x0805, 0x0503)
    exts += ext(13, struct.pack("!H", len(sigalgs)) + sigalgs)
    exts += ext(0xFF01, b"\x00")  # renegotiation_info, empty (RFC 5746)
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" +
            struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites) +
            b"\x02\x01\x00" + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def server_hello_compression(port):
    """Sends client_hello_offering_deflate; returns (cipher suite, compression method)
    from the ServerHello, or None when the server answered with something else."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(client_hello_offering_deflate())
        data = b""
        deadline = time.monotonic() + 10
        while len(data) < 5 or len(data) < 5 + struct.unpack("!H", data[3:5])[0]:
            if time.monotonic() > deadline:
                return None
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if len(data) < 5 + 4 + 2 + 32 + 1 or data[0] != 0x16 or data[5] != 2:
        return None
    p = 5 + 4 + 2 + 32  # record header, handshake header, version, random
    sid_len = data[p]
    p += 1 + sid_len
    suite, method = struct.unpack("!HB", data[p:p + 3])
    return suite, method


@unittest.skipUnless(SSLSCAN, "sslscan is not installed")
class ScannerTests(SharedServer, TlsTestCase):
    def test_sslscan_flags_a_weak_server_then_passes_flared(self):
        # The control: a server that is weak on purpose must be flagged, or the scan
        # proves nothing.
        with weak_s_server("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0") as port:
            weak = sslscan(port)
        self.assertTrue(protocols(weak).get("TLSv1.0"), ET.tostring(weak).decode())
        self.assertIn("AES128-SHA", ciphers(weak, "TLSv1.0"))  # RSA key exchange, CBC
        self.assertEqual(weak.find("renegotiation").get("supported"), "1")

        report = sslscan(self.srv.port)
        xml = ET.tostring(report).decode()
        found = protocols(report)
        for version in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
            self.assertIn(version, found, xml)
            self.assertFalse(found[version], f"{version} accepted:\n{xml}")
        self.assertTrue(found.get("TLSv1.2") and found.get("TLSv1.3"), xml)
        tls12 = ciphers(report, "TLSv1.2")
        self.assertTrue(tls12, xml)
        for name in tls12:
            self.assertRegex(name, GOOD_TLS12, f"TLS 1.2 offers {name}:\n{xml}")
        self.assertEqual(ciphers(report, "TLSv1.0") + ciphers(report, "TLSv1.1"), [], xml)
        self.assertTrue(ciphers(report, "TLSv1.3"), xml)
        # No renegotiation at all (so neither the insecure kind).
        reneg = report.find("renegotiation")
        self.assertIsNotNone(reneg, xml)
        self.assertEqual(reneg.get("supported"), "0", xml)
        # sslscan reports <compression> only when its OpenSSL has zlib, which
        # Debian's lacks; when present it must say no.
        comp = report.find("compression")
        if comp is not None:
            self.assertEqual(comp.get("supported"), "0", xml)
        for hb in report.iter("heartbleed"):
            self.assertEqual(hb.get("vulnerable"), "0", xml)

    def test_no_tls_compression(self):
        # CRIME (CVE-2012-4929): a ClientHello offering DEFLATE must get null back.
        answer = server_hello_compression(self.srv.port)
        self.assertIsNotNone(answer, "no ServerHello to a TLS 1.2 ClientHello")
        suite, method = answer
        self.assertEqual(method, 0, "the server chose TLS compression")
        self.assertIn(suite, (0xC02F, 0xC030, 0xCCA8), hex(suite))  # the RSA certificate's


# -- libflare's client (flare CLI) against openssl s_server -WWW -------------------

class SServer:
    """openssl s_server -WWW serving `root` with the given certificate; its output
    (with -tlsextdebug, every ClientHello extension) goes to a log file."""

    def __init__(self, certfile, keyfile, root, *args):
        self.log_path = os.path.join(root, "s_server.log")
        self.port = None
        self.proc = None
        for _ in range(3):
            port = ft.free_port()
            log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [test_tls.OPENSSL, "s_server", "-accept", str(port), "-cert", certfile, "-key",
                 keyfile, "-WWW", "-tlsextdebug", *args], cwd=root, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if ft.wait_for(lambda: "ACCEPT" in self.log() or self.proc.poll() is not None, 10) \
                    and self.proc.poll() is None:
                self.port = port
                return
            self.proc.wait()
        raise AssertionError(f"openssl s_server did not start:\n{self.log()}")

    def log(self):
        return ft.read_text(self.log_path)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def flare(*args, timeout=30, env=None):
    if not FLARE or not os.access(FLARE, os.X_OK):
        raise AssertionError(f"$FLARE does not name the built flare executable: {FLARE!r}")
    p = subprocess.run([FLARE, "--timeout", "10", *args], capture_output=True, timeout=timeout,
                       env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


class ClientTests(unittest.TestCase):
    BODY = b"served by openssl s_server\n"

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="flare-s_server-")
        self.addCleanup(shutil.rmtree, self.root, True)
        with open(os.path.join(self.root, "page.txt"), "wb") as f:
            f.write(self.BODY)

    def s_server(self, certfile, keyfile, *args):
        srv = SServer(certfile, keyfile, self.root, *args)
        self.addCleanup(srv.close)
        return srv

    def assertTlsFailure(self, url, *args, says, code, env=None):
        """The flare CLI exits 3 with one line matching `says`; libflare's client
        fails with the typed error `code`."""
        rc, out, err = flare(*args, url, env=env)
        self.assertEqual((rc, out), (3, b""), err)  # man/flare.1: 3 = TLS error
        lines = [line for line in err.splitlines() if line]
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], says)
        rc, line = probe(self, "get", *args, url, env=env)
        self.assertEqual(rc, 1, line)
        self.assertTrue(line.startswith(f"error {code}: "), line)

    def test_verified_get(self):
        srv = self.s_server(cert("server.pem"), cert("server.key"))
        for host in ("localhost", "127.0.0.1"):
            rc, out, err = flare("--cacert", cert("ca.pem"),
                                 f"https://{host}:{srv.port}/page.txt")
            self.assertEqual((rc, out), (0, self.BODY), f"{host}: {err}\n{srv.log()}")
            rc, line = probe(self, "get", "--cacert", cert("ca.pem"),
                             f"https://{host}:{srv.port}/page.txt")
            self.assertEqual((rc, line), (0, f"ok status=200 bytes={len(self.BODY)}"))
        self.assertEqual(srv.log().count("FILE:page.txt"), 4, srv.log())

    def test_hostname_mismatch(self):
        srv = self.s_server(cert("other.pem"), cert("other.key"))  # other.test only
        url = f"https://localhost:{srv.port}/page.txt"
        self.assertTlsFailure(url, "--cacert", cert("ca.pem"), says=r"mismatch",
                              code="FLARE_EHOST_MISMATCH")
        self.assertTlsFailure(f"https://127.0.0.1:{srv.port}/page.txt", "--cacert",
                              cert("ca.pem"), says=r"IP address mismatch",
                              code="FLARE_EHOST_MISMATCH")
        self.assertNotIn("FILE:page.txt", srv.log())

    def test_untrusted_ca(self):
        srv = self.s_server(cert("server.pem"), cert("server.key"))
        url = f"https://localhost:{srv.port}/page.txt"
        self.assertTlsFailure(url, "--cacert", cert("rogue-ca.pem"),
                              says=r"unable to get local issuer|untrusted|self.signed",
                              code="FLARE_EUNTRUSTED")
        self.assertTlsFailure(url, says=r"unable to get local issuer|untrusted",  # system CAs
                              code="FLARE_EUNTRUSTED")
        self.assertNotIn("FILE:page.txt", srv.log())
        # -k: the warning, then the page.
        rc, out, err = flare("-k", url)
        self.assertEqual((rc, out), (0, self.BODY), err)
        self.assertIn("warning", err)

    def test_expired_certificate(self):
        srv = self.s_server(EXPIRED, EXPIRED.replace(".pem", ".key"))
        self.assertTlsFailure(f"https://localhost:{srv.port}/page.txt", "--cacert",
                              cert("ca.pem"), says=r"expired", code="FLARE_ECERT_EXPIRED")
        self.assertNotIn("FILE:page.txt", srv.log())

    def leaf(self, name, keyopt, ext):
        """A certificate for `name` signed by the test CA; returns (cert, key) paths."""
        d = self.root
        status, out = run([test_tls.OPENSSL, "req", "-newkey", *keyopt, "-nodes", "-keyout",
                           f"{d}/{name}.key", "-out", f"{d}/{name}.csr", "-subj", "/CN=localhost"])
        self.assertEqual(status, 0, out)
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext)
        status, out = run([test_tls.OPENSSL, "x509", "-req", "-in", f"{d}/{name}.csr", "-CA",
                           cert("ca.pem"), "-CAkey", cert("ca.key"), "-CAcreateserial", "-out",
                           f"{d}/{name}.pem", "-days", "2", "-extfile", f"{d}/{name}.ext"])
        self.assertEqual(status, 0, out)
        return f"{d}/{name}.pem", f"{d}/{name}.key"

    def test_common_name_does_not_name_the_host(self):
        # CN=localhost and no subjectAltName: RFC 9525 leaves the CN out of matching.
        # The control: openssl s_client, with the same CA and name, takes it.
        pem, key = self.leaf("cn-only", ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
                             "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        srv = self.s_server(pem, key)
        url = f"https://localhost:{srv.port}/page.txt"
        self.assertTlsFailure(url, "--cacert", cert("ca.pem"), says=r"hostname mismatch",
                              code="FLARE_EHOST_MISMATCH")
        self.assertNotIn("FILE:page.txt", srv.log())
        status, out = run([test_tls.OPENSSL, "s_client", "-connect", f"127.0.0.1:{srv.port}",
                           "-CAfile", cert("ca.pem"), "-verify_hostname", "localhost",
                           "-verify_return_error"])
        self.assertIn("Verification: OK", out)

    def test_weak_server_key_refused_whatever_openssl_cnf_says(self):
        # An openssl.cnf at security level 1 (some builds' default) lets OpenSSL take
        # a 1024-bit RSA certificate; libflare's client stays at level 2.
        cnf = os.path.join(self.root, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\n"
                    "system_default = sys\n[sys]\nCipherString = DEFAULT@SECLEVEL=1\n")
        env = dict(os.environ, OPENSSL_CONF=cnf)
        pem, key = self.leaf("weak", ["rsa:1024"],
                             "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
        srv = SServer(pem, key, self.root, "-cipher", "DEFAULT@SECLEVEL=1")
        self.addCleanup(srv.close)
        url = f"https://localhost:{srv.port}/page.txt"
        # The control: s_client under that file verifies it.
        p = subprocess.run([test_tls.OPENSSL, "s_client", "-connect", f"127.0.0.1:{srv.port}",
                            "-CAfile", cert("ca.pem"), "-verify_hostname", "localhost",
                            "-verify_return_error"], env=env, capture_output=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        self.assertIn(b"Verification: OK", p.stdout)
        self.assertTlsFailure(url, "--cacert", cert("ca.pem"), says=r"key too weak",
                              code="FLARE_EUNTRUSTED", env=env)
        self.assertNotIn("FILE:page.txt", srv.log())

    def test_close_delimited_body_needs_close_notify(self):
        # Python's ssl module as the server: a body delimited by the close, then either
        # close_notify or a bare TCP close, which an attacker on the path can forge.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert("server.pem"), cert("server.key"))
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(20)
        port = listener.getsockname()[1]
        body = b"the whole body" * 100

        def serve(count, notify):
            for _ in range(count):
                raw, _ = listener.accept()
                tls = None
                try:
                    tls = ctx.wrap_socket(raw, server_side=True)
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        head += tls.recv(1)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
                    if notify:
                        tls.setblocking(False)  # send close_notify, wait for none
                        with contextlib.suppress(ssl.SSLError, OSError):
                            tls.unwrap()
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    (tls or raw).close()

        url = f"https://localhost:{port}/"
        for notify in (True, False):
            server = threading.Thread(target=serve, args=(2, notify), daemon=True)
            server.start()
            rc, out, err = flare("--cacert", cert("ca.pem"), url)
            rc2, line = probe(self, "get", "--cacert", cert("ca.pem"), url)
            server.join(20)
            if notify:
                self.assertEqual((rc, out), (0, body), err)
                self.assertEqual((rc2, line), (0, f"ok status=200 bytes={len(body)}"))
            else:
                self.assertNotEqual(rc, 0, err)
                self.assertIn("close_notify", err)
                self.assertEqual(rc2, 1, line)
                self.assertRegex(line, r"^error FLARE_EPROTO: .*close_notify.*truncated")

    def test_sni_for_names_not_for_ip_literals(self):
        # -servername/-cert2: a ClientHello naming localhost switches to the
        # localhost certificate; anything else gets other.test's.
        srv = self.s_server(cert("other.pem"), cert("other.key"), "-servername", "localhost",
                            "-cert2", cert("server.pem"), "-key2", cert("server.key"))
        rc, out, err = flare("--cacert", cert("ca.pem"), f"https://localhost:{srv.port}/page.txt")
        self.assertEqual((rc, out), (0, self.BODY), f"{err}\n{srv.log()}")
        groups = 'TLS client extension "supported_groups"'
        self.assertTrue(ft.wait_for(lambda: srv.log().count(groups) == 1, 5), srv.log())
        log = srv.log()
        self.assertEqual(log.count('TLS client extension "server name"'), 1, log)
        # The extension's bytes, as s_server dumps them: the name is localhost.
        self.assertRegex(log, r'TLS client extension "server name" \(id=0\), len=14\n'
                              r'0000 - 00 0c 00 00 09 6c 6f 63-61 6c 68 6f 73 74 ')
        # RFC 6066 §3: no server_name for an IP literal, so the default certificate,
        # which does not name 127.0.0.1.
        self.assertTlsFailure(f"https://127.0.0.1:{srv.port}/page.txt", "--cacert",
                              cert("ca.pem"), says=r"IP address mismatch",
                              code="FLARE_EHOST_MISMATCH")
        # Those ClientHellos (the CLI's and client_probe's) did arrive (their other
        # extensions are listed three times in all), without a server name.
        self.assertTrue(ft.wait_for(lambda: srv.log().count(groups) == 3, 5), srv.log())
        self.assertEqual(srv.log().count('TLS client extension "server name"'), 1, srv.log())


# -- libflare's WebSocket client against flared's wss:// listener -------------------

WS_ROUTES = """\
  - path: /ws
    websocket: {}
  - path: /wsz
    websocket: {deflate: true}
"""


class WssClientTests(TlsTestCase):
    def probe(self, *args):
        return probe(self, "ws", *args)

    def test_wss_echo(self):
        srv = self.start_tls(extra=WS_ROUTES)
        ca = ["--cacert", cert("ca.pem")]
        for url, extra, deflate in ((f"wss://localhost:{srv.port}/ws", [], 0),
                                    (f"wss://127.0.0.1:{srv.port}/wsz", ["--deflate"], 1)):
            rc, out = self.probe(*ca, *extra, url)
            self.assertEqual((rc, out), (0, f"ok deflate={deflate} close=1000"),
                             f"{url}: {out}\n{srv.log()}")
        # The typed errors: the system CAs do not know the test CA; ws:// to the TLS
        # port gets the clear-text 400 that flared answers HTTP with there.
        rc, out = self.probe(f"wss://localhost:{srv.port}/ws")
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("error FLARE_EUNTRUSTED: "), out)
        rc, out = self.probe(*ca, f"ws://localhost:{srv.port}/ws")
        self.assertEqual(rc, 1)
        self.assertTrue(out.startswith("error FLARE_EHTTP_STATUS: "), out)
        self.assertIn("400", out)
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
