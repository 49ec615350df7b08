#!/usr/bin/env python3
"""proxy_pool_syscalls.py [--tls] [--requests N] [--callgrind] [--route-extra KEYS] FLARED:
what one proxied
keep-alive request costs flared's worker: N sequential GETs on one client connection
through a proxy route to a second flared (HTTPS with --tls), all on loopback.

strace -c (the default) attaches to the proxy's worker for the N requests only and
prints its table with the calls per request. --callgrind runs the proxy under
valgrind's callgrind twice, with N requests and with none, and prints the worker's
user-space instructions per request (the difference over N). Needs strace or
valgrind. --route-extra adds keys to the proxy route's flow mapping (say
'request_headers: {X-A: $remote_addr}'). Nothing is judged: it prints figures to compare
between builds."""

import argparse
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import flaredtest  # noqa: E402
from flaredtest import Server, read_response  # noqa: E402


def upstream(binary, tls, route_extra=""):
    """A started flared answering /plaintext, and the proxy's upstream settings for it."""
    extra = ""
    if tls:
        import test_tls
        certs = tempfile.mkdtemp(prefix="flared-bench-certs-")
        test_tls.make_certs(certs)
        test_tls.CERTS = certs
        up = test_tls.TlsServer(text="x")
        extra = f"    tls: {{ca: {certs}/ca.pem, sni: localhost}}\n"
    else:
        up = Server(text="x")
    up.argv = [binary, "-c", up.config_path]
    up.start()
    extra_keys = f", {route_extra}" if route_extra else ""
    return up, (f"  - path: /api/\n    proxy: {{upstream: app, strip_prefix: true{extra_keys}}}\n"
                f"upstreams:\n  app:\n    servers: [\"127.0.0.1:{up.port}\"]\n" + extra)


def burst(port, count):
    import socket
    with socket.create_connection(("127.0.0.1", port)) as s:
        for _ in range(count):
            s.sendall(b"GET /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
            resp, _ = read_response(s)
            if resp.status != 200:
                raise SystemExit(f"proxied request answered {resp.status}")


def run(binary, tls, requests, wrapper, trace, route_extra=""):
    """Starts upstream and proxy (under wrapper), warms the pool, sends requests (traced
    by strace when trace); returns the strace table or ""."""
    up, extra = upstream(binary, tls, route_extra)
    px = Server(extra=extra)
    px.argv = wrapper + [binary, "-c", px.config_path]
    try:
        px.start(timeout=60)
        worker = px.wait_workers(1, 30)[0]
        burst(px.port, 5)  # the pooled connection exists
        table = ""
        if trace:
            out = tempfile.mktemp(prefix="flared-strace-")
            st = subprocess.Popen(["strace", "-c", "-o", out, "-p", str(worker)],
                                  stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        burst(px.port, requests)
        if trace:
            time.sleep(0.5)
            st.send_signal(signal.SIGINT)
            st.wait()
            with open(out) as f:
                table = f.read()
            os.unlink(out)
        return table, worker
    finally:
        px.stop(60)
        up.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("flared")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--route-extra", default="")
    a = ap.parse_args()
    flaredtest.FLARED = a.flared
    if not a.callgrind:
        table, _ = run(a.flared, a.tls, a.requests, [], True, a.route_extra)
        print(table)
        for line in table.splitlines():
            f = line.split()
            if len(f) >= 5 and f[3].isdigit():
                print(f"{f[-1]:<14} {int(f[3]) / a.requests:6.2f} per request")
        return
    counts = []
    for n in (a.requests, 0):
        outdir = tempfile.mkdtemp(prefix="flared-callgrind-")
        wrapper = ["valgrind", "--tool=callgrind", "--trace-children=yes",
                   f"--callgrind-out-file={outdir}/cg.%p"]
        _, worker = run(a.flared, a.tls, n, wrapper, False, a.route_extra)
        with open(f"{outdir}/cg.{worker}") as f:
            counts.append(next(int(line.split()[1]) for line in f
                               if line.startswith("summary:")))
        for path in glob.glob(f"{outdir}/cg.*"):
            os.unlink(path)
        os.rmdir(outdir)
    print(f"worker Ir with {a.requests} requests: {counts[0]}, with none: {counts[1]}, "
          f"per request: {(counts[0] - counts[1]) / a.requests:.0f}")


if __name__ == "__main__":
    main()
