#!/usr/bin/env python3
"""Fails when a source file includes a public header of a layer above its own.

Layer order (bottom up): runtime, net, dns, tcp|udp, tls, io, http, ws. Programs
(flared, cli) may include anything. The header -> layer map is below; a public
header missing from it is itself an error, so new headers must be placed.
"""
import os
import re
import sys

ORDER = {"runtime": 0, "net": 1, "dns": 2, "tcp": 3, "udp": 3, "tls": 4, "io": 5,
         "http": 6, "ws": 7}
HEADER_LAYER = {
    "error.h": "runtime", "runtime.h": "runtime",
    "net.h": "net", "dns.h": "dns", "tcp.h": "tcp", "udp.h": "udp",
    "tls.h": "tls", "io.h": "io",
    "http.h": "http", "http_parser.h": "http", "http_client.h": "http", "cookie.h": "http",
    "url.h": "http", "encoding.h": "http", "proxy_protocol.h": "http",
    "ws.h": "ws",
    "flare.h": None,  # umbrella header, for applications only
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]flare/([A-Za-z0-9_]+\.h)[>"]')


def layer_of(path, root):
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == "src" and len(rel) > 2 and rel[1] in ORDER:
        return rel[1]
    if rel[0] == "include" and rel[1] == "flare":
        return HEADER_LAYER.get(rel[2], "?")
    return None


def main():
    root = sys.argv[1]
    errors = []
    for name in os.listdir(os.path.join(root, "include", "flare")):
        if name.endswith(".h") and name not in HEADER_LAYER:
            errors.append(f"include/flare/{name}: header not assigned to a layer in check_layers.py")
    for top in ("src", "include"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                path = os.path.join(dirpath, f)
                own = layer_of(path, root)
                if own is None or own == "?":
                    continue
                with open(path, encoding="utf-8") as fh:
                    for lineno, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        dep = HEADER_LAYER.get(m.group(1), "?")
                        if dep is None or dep == "?" or (ORDER[dep] > ORDER[own]) or \
                                (ORDER[dep] == ORDER[own] and dep != own):
                            errors.append(f"{os.path.relpath(path, root)}:{lineno}: layer '{own}' "
                                          f"includes flare/{m.group(1)} (layer {dep})")
    for e in errors:
        print(e)
    print(f"{0 if errors else 1} passed, {1 if errors else 0} failed")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
