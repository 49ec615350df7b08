"""An upstream's `resolve`: the master resolves its host names again every interval and
reloads when their addresses changed; a name that stops resolving keeps the addresses in
use, and without the key the addresses of the load stay.

flared runs in a mount namespace of its own (unshare) whose /etc/hosts is a file of the
test, rewritten while flared runs, and whose nsswitch.conf answers host names from that
file alone: a name taken out fails at once instead of waiting on DNS. Where a test wants a
resolver that never answers, the name goes on to DNS, and resolv.conf names a UDP socket of
the test's that reads queries and answers none. Two upstreams, on 127.0.0.2 and 127.0.0.3
with the same port, answer with their own identity."""

import http.server
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (FLARED_WRAPPER, Server, ServerTestCase, patience,  # noqa: E402
                        require_flared, run, wait_for)

NAME = "app.flared-test"
FIRST, SECOND = "127.0.0.2", "127.0.0.3"


def namespace_command():
    """The unshare command that gives flared a mount namespace of its own, where a file can
    be mounted over /etc/hosts (as root; otherwise inside a user namespace), or None when
    neither is allowed here."""
    probe = ["sh", "-c", "mount --bind /etc/hosts /etc/hosts"]
    for cmd in (["unshare", "--mount"], ["unshare", "--map-root-user", "--mount"]):
        try:
            if subprocess.run(cmd + probe, capture_output=True, timeout=10).returncode == 0:
                return cmd
        except (OSError, subprocess.SubprocessError):
            pass
    return None


class Identity(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the address it listens on."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.server.server_address[0].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class SilentDns:
    """A UDP socket on port 53 of a loopback address of its own that reads DNS queries and
    answers none; asked is set once one came."""

    def __init__(self, test):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        test.addCleanup(self.sock.close)
        for _ in range(20):
            self.address = f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.53"
            try:
                self.sock.bind((self.address, 53))
                break
            except PermissionError:
                test.skipTest("port 53 cannot be bound here")
            except OSError:
                continue
        else:
            test.fail("no loopback address with port 53 free")
        self.asked = threading.Event()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            while True:
                self.sock.recvfrom(512)
                self.asked.set()
        except OSError:  # closed at cleanup
            pass


class NamespacedServer(Server):
    """flared with /etc/hosts and /etc/nsswitch.conf of the test's own, and with dns (an
    address) a resolv.conf naming it, after the hosts file, with a 30 s timeout."""

    def __init__(self, unshare, hosts_line, dns=None, **kwargs):
        super().__init__(**kwargs)
        self.hosts_path = os.path.join(self.dir, "hosts")
        self.set_hosts(hosts_line)
        nsswitch = os.path.join(self.dir, "nsswitch.conf")
        resolv = os.path.join(self.dir, "resolv.conf")
        with open(nsswitch, "w") as f:
            f.write("hosts: files dns\n" if dns else "hosts: files\n")
        with open(resolv, "w") as f:
            f.write(f"nameserver {dns}\noptions timeout:30 attempts:1\n" if dns else "")
        # The mounts are private to the namespace (unshare's default propagation); exec
        # keeps the pid, so the test signals and reaps flared itself.
        script = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf '
                  '&& { [ -z "$4" ] || mount --bind "$3" /etc/resolv.conf; } '
                  '&& shift 4 && exec "$@"')
        self.argv = unshare + ["sh", "-c", script, "sh", self.hosts_path, nsswitch, resolv,
                               dns or ""] + self.argv

    def set_hosts(self, line):
        """Rewrites the hosts file in place: the bind mount shows this inode, not a new one."""
        with open(self.hosts_path, "w") as f:
            f.write(f"127.0.0.1 localhost\n{line}\n")


class ResolveTests(ServerTestCase):
    def setUp(self):
        require_flared()
        if not os.path.exists("/etc/hosts") or not os.path.exists("/etc/nsswitch.conf"):
            self.skipTest("no /etc/hosts and /etc/nsswitch.conf to mount over")
        self.unshare = namespace_command()
        if not self.unshare:
            self.skipTest("unshare cannot make a mount namespace here")
        self.port = self.identity_pair()

    def identity_pair(self):
        """Starts the two identity servers on one port; returns it."""
        for _ in range(20):
            first = http.server.ThreadingHTTPServer((FIRST, 0), Identity)
            port = first.server_address[1]
            try:
                second = http.server.ThreadingHTTPServer((SECOND, port), Identity)
            except OSError:
                first.server_close()
                continue
            for httpd in (first, second):
                threading.Thread(target=httpd.serve_forever, daemon=True).start()
                self.addCleanup(httpd.server_close)
                self.addCleanup(httpd.shutdown)
            return port
        self.fail(f"no port free on both {FIRST} and {SECOND}")

    def start(self, hosts_line, resolve, dns=None, servers=None):
        servers = servers or f"[\"{NAME}:{self.port}\"]"
        upstream = (f"  - path: /api/\n"
                    f"    proxy: {{upstream: app, strip_prefix: true}}\n"
                    f"upstreams:\n"
                    f"  app:\n"
                    f"    servers: {servers}\n"
                    f"    connect_timeout: 1s\n"
                    f"    read_timeout: 2s\n"
                    f"{resolve}")
        srv = NamespacedServer(self.unshare, hosts_line, dns=dns, extra=upstream)
        self.addCleanup(srv.cleanup)
        srv.start(timeout=10.0)
        return srv

    def assertReloaded(self, srv):
        # The new workers serve once ready; the master logs the reload's end after it has
        # told the old ones to drain, which a sanitized build makes a little later. The old
        # worker still accepts (and proxies to the old address) until it has read that.
        srv.wait_reloaded(1, timeout=10)

    def answered_by(self, srv):
        # A loaded machine may be slow to proxy; only a wrong answer fails.
        try:
            resp = srv.get("/api/", timeout=15.0)
        except AssertionError as e:
            raise AssertionError(f"{e}\nflared's log:\n{srv.log()}") from e
        self.assertEqual(resp.status, 200, resp)
        return resp.body.decode()

    def test_follows_a_changed_address(self):
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n")
        self.assertEqual(self.answered_by(srv), FIRST)
        srv.set_hosts(f"{SECOND} {NAME}")
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertReloaded(srv)
        self.assertIn(f"upstream 'app': {NAME}:{self.port} now resolves to {SECOND} "
                      f"(was {FIRST}); reloading", srv.log())
        for _ in range(5):
            self.assertEqual(self.answered_by(srv), SECOND)
        self.assertStopsCleanly(srv)

    def test_a_failed_resolution_keeps_the_addresses(self):
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n")
        self.assertEqual(self.answered_by(srv), FIRST)
        srv.set_hosts("")
        warned = wait_for(lambda: srv.log().count(f"cannot resolve {NAME}:{self.port} again") >= 2,
                          patience(20), interval=0.2)
        self.assertTrue(warned, srv.log())
        for _ in range(5):
            self.assertEqual(self.answered_by(srv), FIRST)
        log = srv.log()
        self.assertIn(f"upstream 'app': cannot resolve {NAME}:{self.port} again", log)
        self.assertIn(f"keeping {FIRST}", log)
        self.assertNotIn("reloading", log)
        # Once the name resolves again, to another address, it is followed.
        srv.set_hosts(f"{SECOND} {NAME}")
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertStopsCleanly(srv)

    def test_a_stop_does_not_wait_for_a_lookup(self):
        # The master asks in the background: a resolver that never answers does not keep
        # it from acting on a signal (it blocked for the 5 s bound of the lookup).
        if FLARED_WRAPPER:
            self.skipTest("a bound on flared's own timing")
        dns = SilentDns(self)
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n", dns=dns.address)
        srv.set_hosts("")  # the name goes on to DNS, which never answers
        self.assertTrue(dns.asked.wait(patience(10)), f"no DNS query came:\n{srv.log()}")
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait(2.0), 0, srv.log())
        log = srv.log()
        self.assertNotIn("cannot resolve", log)  # it was still waiting for the answer
        self.assertIn("exited", log)

    def test_an_unanswered_lookup_keeps_the_addresses(self):
        dns = SilentDns(self)
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n", dns=dns.address)
        srv.set_hosts("")
        line = (f"upstream 'app': cannot resolve {NAME}:{self.port} again (resolving \"{NAME}\" "
                f"(any family): no answer within 5000 ms); keeping {FIRST}")
        warned = wait_for(lambda: line in srv.log(), patience(20), interval=0.2)
        self.assertTrue(warned, srv.log())
        self.assertEqual(self.answered_by(srv), FIRST)
        self.assertNotIn("reloading", srv.log())
        # The timed-out lookup was let go: the next one, answered, is followed.
        srv.set_hosts(f"{SECOND} {NAME}")
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertStopsCleanly(srv)

    def test_a_changed_address_does_not_read_the_file(self):
        # The workers start on the running config with the new address in: an edit of the
        # file waits for its HUP.
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n")
        self.assertEqual(srv.get("/plaintext").body, b"Hello, World!")
        srv.write_config(text="edited")
        srv.set_hosts(f"{SECOND} {NAME}")
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertEqual(srv.get("/plaintext").body, b"Hello, World!", srv.log())
        self.assertIn("flared.yaml is not read again", srv.log())
        self.assertReloaded(srv)
        srv.signal(signal.SIGHUP)
        edited = wait_for(lambda: srv.get("/plaintext").body == b"edited", patience(10),
                          interval=0.2)
        self.assertTrue(edited, srv.log())
        self.assertEqual(self.answered_by(srv), SECOND)
        self.assertStopsCleanly(srv)

    def test_a_changed_address_is_followed_with_a_broken_file(self):
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n")
        srv.write_config(verbatim="listeners: [\n")
        srv.set_hosts(f"{SECOND} {NAME}")
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertNotIn("reload refused", srv.log())
        self.assertStopsCleanly(srv)

    def test_a_failed_reload_puts_the_old_addresses_back(self):
        # New workers that cannot start (their static root is gone) fail the reload: the
        # running config gets its old address back, so the next lookup finds the change
        # again and, once they can start, the workers follow it.
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n")
        # Served once: the worker is up with its root open. The port alone accepts as soon
        # as the master listens, and a worker still starting would find the root gone.
        self.assertEqual(self.answered_by(srv), FIRST)
        www = os.path.join(srv.dir, "www")
        os.rename(www, www + ".away")
        srv.set_hosts(f"{SECOND} {NAME}")
        failed = wait_for(lambda: "reload failed, still serving the previous config" in srv.log(),
                          patience(20), interval=0.2)
        self.assertTrue(failed, srv.log())
        self.assertEqual(self.answered_by(srv), FIRST)
        os.rename(www + ".away", www)
        moved = wait_for(lambda: self.answered_by(srv) == SECOND, patience(20), interval=0.2)
        self.assertTrue(moved, f"requests still reach {FIRST}:\n{srv.log()}")
        self.assertStopsCleanly(srv)

    def test_more_addresses_than_kept_in_another_order_are_no_change(self):
        # A name with more addresses than a lookup keeps (16), answered in another order (a
        # DNS server rotating its records), keeps the same ones: the lowest. Another name of
        # the upstream, looked up in the same round, moves to show the round has run.
        many = [f"127.0.1.{i}" for i in range(1, 21)]
        other = "other.flared-test"

        def hosts(order, second):
            return "\n".join([f"{a} {NAME}" for a in order] + [f"{second} {other}"])

        servers = f"[\"{NAME}:{self.port}\", \"{other}:{self.port}\"]"
        srv = self.start(hosts(many, FIRST), "    resolve: 1s\n", servers=servers)
        for order, second in [(many[::-1], SECOND), (many[7:] + many[:7], FIRST)]:
            srv.set_hosts(hosts(order, second))
            line = f"upstream 'app': {other}:{self.port} now resolves to {second}"
            moved = wait_for(lambda: line in srv.log(), patience(20), interval=0.2)
            self.assertTrue(moved, srv.log())
            self.assertNotIn(f"{NAME}:{self.port} now resolves to", srv.log())
        self.assertStopsCleanly(srv)

    def test_too_many_servers_are_not_reloaded_nor_said_to_be(self):
        # 250 servers by address and a name: 16 addresses for the name would make 266, more
        # than an upstream holds (256). The change is logged, then why the running servers
        # stay, and no line says "reloading" for a reload that is not done. Two addresses
        # (252) are then followed, the change logged with "; reloading" before the reload.
        servers = "[" + ", ".join([f"\"{NAME}:{self.port}\""] +
                                  [f"\"127.0.3.{i}:{self.port}\"" for i in range(1, 251)]) + "]"
        srv = self.start(f"{FIRST} {NAME}", "    resolve: 1s\n", servers=servers)
        many = [f"127.0.1.{i}" for i in range(1, 17)]
        srv.set_hosts("\n".join(f"{a} {NAME}" for a in many))
        kept = ("upstream 'app': the new addresses make 266 servers, more than 256; keeping the "
                "running ones")
        self.assertTrue(wait_for(lambda: kept in srv.log(), patience(20), interval=0.2), srv.log())
        log = srv.log()
        change = (f"upstream 'app': {NAME}:{self.port} now resolves to {', '.join(many)} "
                  f"(was {FIRST})\n")
        self.assertIn(change, log)
        self.assertLess(log.index(change), log.index(kept))
        self.assertNotIn("reloading", log)
        srv.set_hosts(f"{FIRST} {NAME}\n{SECOND} {NAME}")
        followed = (f"upstream 'app': {NAME}:{self.port} now resolves to {FIRST}, {SECOND} "
                    f"(was {FIRST}); reloading\n")
        reloaded = "reloaded: 1 workers on generation 1"
        self.assertTrue(wait_for(lambda: reloaded in srv.log(), patience(20), interval=0.2),
                        srv.log())
        log = srv.log()
        self.assertIn(followed, log)
        self.assertLess(log.index(followed), log.index("reloading the running config"))
        self.assertStopsCleanly(srv)

    def test_without_the_key_the_addresses_of_the_load_stay(self):
        srv = self.start(f"{FIRST} {NAME}", "")
        self.assertEqual(self.answered_by(srv), FIRST)
        srv.set_hosts(f"{SECOND} {NAME}")
        # Three times the interval the other tests use: as long as one gets to follow.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            self.assertEqual(self.answered_by(srv), FIRST)
            time.sleep(0.2)
        log = srv.log()
        self.assertNotIn("resolves to", log)
        self.assertNotIn("reloading", log)
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    run()
