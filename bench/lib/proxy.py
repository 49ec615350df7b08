"""proxy.py: reverse-proxy CPU per request, flared's proxy route against nginx's
proxy_pass with upstream keepalive, both one worker, both in front of the same
upstream flared serving the plaintext route. The proxies' CPU comes from schedstat
over their process trees (targets.cpu_ns); the upstream's CPU is not counted.
Rounds alternate between the two proxies; the median CPU/request is reported.

  bench/run_proxy.sh [--seconds 5] [--rounds 3] [--connections 64] [--flared PATH]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from targets import cpu_ns, free_port, process_tree  # noqa: E402

BODY = b"Hello, World!"


def wait_port(port, timeout=10):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def check(port):
    """The proxied answer must be the upstream's plaintext body."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/plaintext")
    r = conn.getresponse()
    body = r.read()
    if r.status != 200 or body != BODY:
        raise SystemExit(f"port {port}: unexpected answer {r.status} {body[:80]!r}")


def start_flared(flared, workdir, name, config):
    path = os.path.join(workdir, name + ".yaml")
    with open(path, "w") as f:
        f.write(config)
    log = open(os.path.join(workdir, name + ".log"), "wb")
    return subprocess.Popen([flared, "-c", path], stdout=log, stderr=log,
                            start_new_session=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--flared", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                     "build", "src", "flared", "flared"))
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"run_proxy.sh: {tool} is required")
    work = tempfile.mkdtemp(prefix="flared-proxy-bench-")
    up_port, fl_port, ng_port = free_port(), free_port(), free_port()
    procs = []
    try:
        procs.append(start_flared(args.flared, work, "upstream", f"""\
workers: 1
log_level: warn
listeners: [{{address: 127.0.0.1:{up_port}}}]
routes:
  - path: /plaintext
    text: {{body: "Hello, World!", content_type: text/plain}}
"""))
        procs.append(start_flared(args.flared, work, "proxy", f"""\
workers: 1
log_level: warn
limits: {{max_keepalive_requests: 1000000}}
listeners: [{{address: 127.0.0.1:{fl_port}}}]
upstreams:
  app: {{servers: ["127.0.0.1:{up_port}"], keepalive: 64}}
routes:
  - path: /plaintext
    proxy: {{upstream: app}}
"""))
        ng_conf = os.path.join(work, "nginx.conf")
        with open(ng_conf, "w") as f:
            f.write(f"""\
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  upstream app {{ server 127.0.0.1:{up_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{ng_port};
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host app;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering on;
    }}
  }}
}}
""")
        procs.append(subprocess.Popen(["nginx", "-c", ng_conf, "-p", work],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        for port in (up_port, fl_port, ng_port):
            wait_port(port)
        check(fl_port)
        check(ng_port)
        roots = {"flared": (procs[1].pid, fl_port), "nginx": (procs[2].pid, ng_port)}
        results = {name: [] for name in roots}
        for _ in range(args.rounds):
            for name, (pid, port) in roots.items():
                tree = process_tree(pid)
                before = cpu_ns(tree)
                out = subprocess.run(["wrk", "-t1", f"-c{args.connections}",
                                      f"-d{args.seconds}s", f"http://127.0.0.1:{port}/plaintext"],
                                     capture_output=True, text=True, check=True).stdout
                spent = cpu_ns(tree) - before
                requests = int(out.split(" requests in ")[0].split()[-1])
                if "Non-2xx" in out or "Socket errors" in out:
                    raise SystemExit(f"{name}: errors during the run:\n{out}")
                results[name].append(spent / requests)
        fl = statistics.median(results["flared"])
        ng = statistics.median(results["nginx"])
        print(f"proxy CPU per request (median of {args.rounds} rounds, {args.seconds}s, "
              f"{args.connections} connections):")
        print(f"  flared {fl:8.0f} ns   rounds {[round(x) for x in results['flared']]}")
        print(f"  nginx  {ng:8.0f} ns   rounds {[round(x) for x in results['nginx']]}")
        print(f"  ratio flared/nginx {fl / ng:.2f} (target <= 0.8)")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 15)
            except ProcessLookupError:
                pass
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
