#!/usr/bin/env python3
"""The tls block's client_verify (on, optional, optional_no_ca: nginx's ssl_verify_client)
and a route's `client_cert: required`, against real curl and openssl s_client: with no
client certificate, one of the configured CA, one of another CA and one the CA issued
for servers only, what the access log's $ssl_client_verify and $ssl_client_s_dn show,
what a route that requires a verified certificate answers, and that a resumed session
reports what its full handshake did and never resumes where it would not have verified.
Certificates are made at run time by test_tls's helpers; no key is committed."""
import os
import re
import shutil
import tempfile
import unittest

import flaredtest as ft
import test_tls as tt

REQUEST = b"GET /required HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
ROUTES = ("  - path: /open\n"
          "    text: {body: \"open\\n\"}\n"
          "  - path: /required\n"
          "    text: {body: \"required\\n\"}\n"
          "    client_cert: required\n")
LOG = ("access_log: access.log\n"
       "access_log_format: '$request_uri $status $ssl_client_verify|$ssl_client_s_dn'\n")
CLIENT_DN = "CN=flared test client"
ROGUE_DN = "CN=rogue client"
NO_ISSUER = "FAILED:no-issuer"
# OpenSSL's reasons for a certificate whose issuer is not trusted: which one depends on
# what the client sends (its leaf alone, or the chain up to its own CA's root).
NO_ISSUER_REASON = re.compile(r"FAILED:(unable to verify the first certificate|unable to get "
                              r"local issuer certificate|self[- ]signed certificate in "
                              r"certificate chain)\|")


def setUpModule():
    if not tt.OPENSSL:
        raise unittest.SkipTest("the openssl command is not installed")
    tt.CERTS = tempfile.mkdtemp(prefix="flared-tls-verify-certs-")
    tt.make_certs(tt.CERTS)


def tearDownModule():
    if tt.CERTS:
        shutil.rmtree(tt.CERTS, ignore_errors=True)


def cert_args(name):
    return ["--cert", tt.cert(f"{name}.pem"), "--key", tt.cert(f"{name}.key")] if name else []


@unittest.skipUnless(tt.CURL and tt.OPENSSL, "curl and openssl are needed")
class ClientVerifyTests(tt.TlsTestCase):
    def start(self, verify, routes=ROUTES):
        srv = self.start_tls(tls=tt.TLS_DEFAULT + verify, extra=routes + LOG)
        return srv, os.path.join(srv.dir, "access.log")

    def get_both(self, srv, client):
        """GET /open then /required on one connection with the client certificate
        `client` (None: none); the two status codes, or None when the handshake failed."""
        url = f"https://localhost:{srv.port}"
        status, out, err = self.curl(srv, *cert_args(client), "-w", "%{http_code}\\n",
                                     "-o", "/dev/null", f"{url}/open", "-o", "/dev/null",
                                     f"{url}/required", ok=False)
        if status != 0:
            return None
        return out.decode().split()

    def logged(self, srv, log):
        """The access log's lines, each issuer-failure reason written as NO_ISSUER."""
        self.assertStopsCleanly(srv)  # the log is written whole
        with open(log) as f:
            return NO_ISSUER_REASON.sub(NO_ISSUER + "|", f.read()).splitlines()

    def test_on_requires_a_verified_certificate(self):
        srv, log = self.start("client_ca: ca.pem\nclient_verify: on\n")
        self.assertIsNone(self.get_both(srv, None))
        self.assertIsNone(self.get_both(srv, "rogue"))
        self.assertEqual(self.get_both(srv, "client"), ["200", "200"])
        self.assertEqual(self.logged(srv, log), [f"/open 200 SUCCESS|{CLIENT_DN}",
                                                 f"/required 200 SUCCESS|{CLIENT_DN}"])

    def test_optional_lets_a_client_without_certificate_in(self):
        """optional: no certificate is NONE (403 where one is required); one that fails
        verification still ends the handshake."""
        srv, log = self.start("client_ca: ca.pem\nclient_verify: optional\n")
        self.assertEqual(self.get_both(srv, None), ["200", "403"])
        self.assertIsNone(self.get_both(srv, "rogue"))
        self.assertEqual(self.get_both(srv, "client"), ["200", "200"])
        self.assertEqual(self.logged(srv, log), ["/open 200 NONE|-", "/required 403 NONE|-",
                                                 f"/open 200 SUCCESS|{CLIENT_DN}",
                                                 f"/required 200 SUCCESS|{CLIENT_DN}"])

    def test_optional_no_ca_reports_an_unknown_issuer(self):
        """optional_no_ca: a certificate of another CA comes in as FAILED:reason with its
        subject (403 where a verified one is required); a fault other than the issuer (a
        server-only certificate of the trusted CA) still ends the handshake."""
        srv, log = self.start("client_ca: ca.pem\nclient_verify: optional_no_ca\n")
        self.assertEqual(self.get_both(srv, None), ["200", "403"])
        self.assertEqual(self.get_both(srv, "rogue"), ["200", "403"])
        self.assertEqual(self.get_both(srv, "client"), ["200", "200"])
        self.assertIsNone(self.get_both(srv, "server"))
        self.assertEqual(self.logged(srv, log), ["/open 200 NONE|-", "/required 403 NONE|-",
                                                 f"/open 200 {NO_ISSUER}|{ROGUE_DN}",
                                                 f"/required 403 {NO_ISSUER}|{ROGUE_DN}",
                                                 f"/open 200 SUCCESS|{CLIENT_DN}",
                                                 f"/required 200 SUCCESS|{CLIENT_DN}"])

    def test_optional_no_ca_without_client_ca(self):
        """As nginx, optional_no_ca needs no client_ca: every certificate is then FAILED,
        its subject still logged (for an application that checks it by itself)."""
        srv, log = self.start("client_verify: optional_no_ca\n", routes="")
        url = f"https://localhost:{srv.port}/plaintext"
        self.curl(srv, url)
        self.curl(srv, *cert_args("client"), url)
        self.assertEqual(self.logged(srv, log), ["/plaintext 200 NONE|-",
                                                 f"/plaintext 200 {NO_ISSUER}|{CLIENT_DN}"])

    def chain(self, depth):
        """A client certificate `depth` intermediate CAs below ca.pem; the path of a PEM
        with it and the intermediates (what the client sends), and of its key."""
        d = tempfile.mkdtemp(prefix="flared-chain-", dir=tt.CERTS)
        issuer = (tt.cert("ca.pem"), tt.cert("ca.key"))
        pems = []
        for i in range(depth + 1):
            name = f"{d}/{i}"
            ca = i < depth
            ext = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n" if ca
                   else "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
            with open(f"{name}.ext", "w") as f:
                f.write(ext)
            for argv in (["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                          "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                          f"/CN={'intermediate' if ca else 'deep client'} {i}"],
                         ["x509", "-req", "-in", f"{name}.csr", "-CA", issuer[0], "-CAkey",
                          issuer[1], "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                          "-extfile", f"{name}.ext"]):
                status, out = tt.run([tt.OPENSSL, *argv])
                self.assertEqual(status, 0, out)
            issuer = (f"{name}.pem", f"{name}.key")
            pems.insert(0, ft.read_text(f"{name}.pem"))
        with open(f"{d}/chain.pem", "w") as f:
            f.write("".join(pems))
        return f"{d}/chain.pem", issuer[1]

    def test_verify_depth(self):
        """verify_depth N lets N intermediate CAs stand between a client certificate and
        client_ca, not N + 1 (OpenSSL's default allows 100)."""
        pem, key = self.chain(2)
        for depth, works in (("", True), ("verify_depth: 2\n", True),
                             ("verify_depth: 1\n", False)):
            srv, log = self.start(f"client_ca: ca.pem\n{depth}", routes="")
            status, _, err = self.curl(srv, "--cert", pem, "--key", key,
                                       f"https://localhost:{srv.port}/plaintext", ok=False)
            self.assertEqual(status == 0, works, f"{depth}: {err}")
            self.assertEqual(self.logged(srv, log),
                             ["/plaintext 200 SUCCESS|CN=deep client 2"] if works else [])

    def resumed_twice(self, srv, args):
        """A full handshake with s_client args, then a resumed one; both send REQUEST."""
        sess = os.path.join(srv.dir, "sess.pem")
        _, hs = self.assertHandshakeWorks(srv.port, *args, "-sess_out", sess, stdin=REQUEST)
        self.assertEqual(hs[0], "New")
        out, hs = self.assertHandshakeWorks(srv.port, *args, "-sess_in", sess, stdin=REQUEST)
        self.assertEqual(hs[0], "Reused", out)
        return sess

    def test_resumed_session_reports_what_its_handshake_did(self):
        srv, log = self.start("client_ca: ca.pem\nclient_verify: optional_no_ca\n")
        rogue = ["-cert", tt.cert("rogue.pem"), "-key", tt.cert("rogue.key")]
        for version in ("-tls1_3", "-tls1_2"):
            self.resumed_twice(srv, [version, *rogue])
            self.resumed_twice(srv, [version])
        self.assertEqual(self.logged(srv, log),
                         2 * ([f"/required 403 {NO_ISSUER}|{ROGUE_DN}"] * 2 +
                              ["/required 403 NONE|-"] * 2))

    def test_a_session_without_a_verified_certificate_does_not_resume_under_on(self):
        """A reload from optional_no_ca to on (same CA, same ticket keys): a session whose
        certificate failed, or that had none, must not resume into a listener that would
        have refused it; it gets a full handshake, which refuses it."""
        srv, log = self.start("client_ca: ca.pem\nclient_verify: optional_no_ca\n")
        rogue = ["-cert", tt.cert("rogue.pem"), "-key", tt.cert("rogue.key")]
        rogue_sess = self.resumed_twice(srv, rogue)
        bare_sess = os.path.join(srv.dir, "bare.pem")
        os.replace(self.resumed_twice(srv, []), bare_sess)
        srv.tls = tt.TLS_DEFAULT + "client_ca: ca.pem\nclient_verify: on\n"
        srv.write_config()
        srv.reload()
        for args in ([*rogue, "-sess_in", rogue_sess], ["-sess_in", bare_sess]):
            status, out, hs = self.s_client(srv.port, *args, stdin=REQUEST)
            self.assertFalse(hs and hs[0] == "Reused", out)
            self.assertNotIn("HTTP/1.1 ", out)
        lines = self.logged(srv, log)
        self.assertEqual(len(lines), 4, lines)  # nothing after the reload
        self.assertNotIn("SUCCESS", " ".join(lines))


if __name__ == "__main__":
    unittest.main()
