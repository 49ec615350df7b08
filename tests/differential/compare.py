#!/usr/bin/env python3
"""compare.py: differential test of flared's request parser against llhttp.

Builds the inputs (>= --count seeded mutations from gen_requests.py, plus the
fuzz corpora), runs flared_verdict (C) and llhttp_verdict.js (node's bundled
llhttp, strict mode) over all of them in one batch each, and compares verdicts:
rejected / accepted (with body length, keep-alive, upgrade, method, target and
field lines) / incomplete. Two rejections with different reasons agree.

Every disagreement is put in a class by a predicate over the input and the two
verdicts. A class passes only when ALLOWED.md lists it (a heading "## `class`"
with the input class, what each parser does and the RFC clause behind flared's
choice). Anything unclassified, or in an unlisted class, fails the test.
Exit 77 (skip) when node is missing."""
import argparse
import collections
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_requests  # noqa: E402

TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
CHUNKED_HEAD = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
MAX_HEADERS = 100          # flared's parser default
MAX_HEAD = 65536           # flared's parser default head limit
MAX_URI = 8192             # flared's parser default target limit


# -- reading an input the way a lenient reader would, for the predicates ---------

class Head:
    """Request line and field lines of raw, split at CRLF (after one leading CRLF)."""

    def __init__(self, raw):
        text = raw[2:] if raw.startswith(b"\r\n") else raw
        end = text.find(b"\r\n\r\n")
        self.complete = end >= 0
        head = text[:end] if end >= 0 else text
        self.size = len(head) + 4
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        self.method = parts[0] if parts else b""
        self.target = parts[1] if len(parts) > 1 else b""
        self.version = parts[2] if len(parts) > 2 else b""
        self.fields = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                self.fields.append((name.lower(), value.strip(b" \t")))
        self.body = text[end + 4:] if end >= 0 else b""

    def values(self, name):
        return [v for n, v in self.fields if n == name]

    def elements(self, name):
        out = []
        for v in self.values(name):
            out += [e.strip(b" \t").lower() for e in v.split(b",")]
        return out

    def minor(self):
        m = re.fullmatch(rb"HTTP/(\d)\.(\d)", self.version)
        return (int(m.group(1)), int(m.group(2))) if m else None


def valid_authority(s):
    """uri-host [ ":" port ] (RFC 3986 §3.2.2-3.2.3), as flared checks Host: an empty
    host is allowed only without a port (RFC 9110 §4.2.1 has http URIs reject it)."""
    if s.startswith(b":"):
        return False
    return re.fullmatch(rb"(\[[0-9A-Za-z\-._~!$&'()*+,;=:]+\]|([0-9A-Za-z\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)"
                        rb"(:[0-9]*)?", s) is not None


# -- classes of disagreement --------------------------------------------------------
# Each returns a class id or None. fl and ll are the verdict lines split on spaces.

def classify_flared_rejects(raw, h, fl, ll):
    status = fl[1]
    mv = h.minor()
    lead = re.match(rb"[\r\n]*", raw).group(0)
    if status == "400" and lead not in (b"", b"\r\n"):
        return "leading-empty-lines"
    first = re.split(rb"[\r\n]", raw[len(lead):], 1)[0]
    if status == "400" and first.count(b" ") < 2 and (b"\r" in raw or b"\n" in raw):
        return "request-line-without-version"
    if status == "400" and (b"  " in first or first.startswith(b" ")):
        return "request-line-whitespace"
    if status == "400" and first.count(b" ") > 2 and re.search(rb" HTTP/\d\.\d ", first + b" "):
        return "request-line-whitespace"
    if status == "505" and mv and mv[0] != 1:
        return "version-not-1x"
    if status == "414" and len(h.target) > MAX_URI:
        return "uri-too-long"
    if status == "431" and (len(h.fields) > MAX_HEADERS or h.size > MAX_HEAD):
        return "too-many-fields" if len(h.fields) > MAX_HEADERS else "head-too-large"
    if status == "417" and any(e != b"100-continue" for e in h.elements(b"expect") or [b""]):
        return "expect-unsupported"
    if status == "501" and any(e.split(b";")[0].strip() not in (b"chunked", b"")
                               for e in h.elements(b"transfer-encoding")):
        return "te-unknown-coding"
    if status == "400":
        if mv == (1, 0) and h.values(b"transfer-encoding"):
            return "te-in-http10"
        if mv and mv >= (1, 1) and not h.values(b"host"):
            return "host-missing"
        if len(h.values(b"host")) > 1:
            return "host-duplicate"
        if any(not valid_authority(v) for v in h.values(b"host")):
            return "host-invalid"
        te = [e for e in h.elements(b"transfer-encoding") if e]
        if h.values(b"transfer-encoding") and h.values(b"content-length"):
            return "te-with-content-length"
        # An empty list, a parameter on chunked or a repeat: no plain final chunked.
        names = [e.split(b";")[0].strip() for e in te]
        if any(not n or any(c not in TCHAR for c in n) for n in names):
            return "te-malformed"
        if h.values(b"transfer-encoding") and (not te or te[-1] != b"chunked" or
                                               names.count(b"chunked") != 1):
            return "te-chunked-not-final-once"
        if re.match(rb"[A-Za-z][A-Za-z0-9+.\-]*://", h.target):
            auth = re.split(rb"[/?]", h.target.split(b"://", 1)[1], 1)[0]
            if not valid_authority(auth) or not auth:
                return "absolute-form-authority"
        if h.method == b"CONNECT" or (h.target == b"*" and h.method != b"OPTIONS"):
            return "target-form-method"
        if b"#" in h.target:
            return "target-fragment"
        if not (h.target.startswith(b"/") or h.target == b"*" or
                re.match(rb"[A-Za-z][A-Za-z0-9+.\-]*://", h.target)):
            return "target-form-invalid"
        if any(re.fullmatch(rb"[0-9]+", v) and int(v) > 2**63 - 1
               for v in h.elements(b"content-length")):
            return "cl-over-int64"
    if ll[0] == "I" and upgrade_requested(h) and status == "body":
        return "llhttp-upgrade-body"
    if status == "body" and any(len(e) > 4096 for e in re.findall(rb";[^\r\n]*", h.body)):
        return "chunk-ext-too-long"
    last = re.search(rb"(^|\n)0+[ \t;]?[^\r\n]*\r\n", h.body)
    if status == "body" and last and len(h.body) - last.end() > 8192:
        return "trailer-too-large"
    if status == "body" and re.search(rb"(^|\n)[0-9A-Fa-f]{17,}", h.body):
        return "chunk-size-over-16-digits"
    return None


def same_decimal(values):
    """All values are 1*DIGIT of the same number (leading zeros aside)."""
    return bool(values) and all(re.fullmatch(rb"[0-9]+", v) for v in values) and \
        len(set(int(v) for v in values)) == 1


def upgrade_requested(h):
    return b"upgrade" in h.elements(b"connection") and bool(h.values(b"upgrade"))


def classify_llhttp_rejects(raw, h, fl, ll, flared_on_completion):
    code = ll[1]
    if fl[0] == "I" and flared_on_completion == "R":
        return "early-reject"
    if code == "HPE_INVALID_METHOD" and h.method and all(c in TCHAR for c in h.method):
        return "method-unregistered"
    if code in ("HPE_INVALID_CONTENT_LENGTH", "HPE_UNEXPECTED_CONTENT_LENGTH") and \
            same_decimal([e for e in h.elements(b"content-length") if e]):
        # Several field lines, or one list, all of the same decimal value.
        if len(h.values(b"content-length")) > 1:
            return "cl-duplicate-identical"
        return "cl-list-identical"
    if code == "HPE_INVALID_URL" and re.match(rb"[A-Za-z][A-Za-z0-9+.\-]*://", h.target) and \
            not re.match(rb"[A-Za-z]+://", h.target):
        return "absolute-form-scheme"
    if code == "HPE_INVALID_VERSION" and re.fullmatch(rb"HTTP/1\.[2-9]", h.version):
        return "version-minor-higher"
    if code == "HPE_INVALID_TRANSFER_ENCODING" and b"" in h.elements(b"transfer-encoding"):
        return "te-empty-list-element"
    exts = chunk_extensions(h)
    if code in ("HPE_INVALID_CHUNK_SIZE", "HPE_STRICT") and any(
            re.fullmatch(rb"([ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+([ \t]*=[ \t]*"
                         rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?)+", e) and re.search(rb"[ \t]", e)
            for e in exts):
        return "chunk-ext-bws"
    if code in ("HPE_INVALID_CHUNK_SIZE", "HPE_STRICT") and exts:
        return "chunk-ext-lenient"
    return None


def chunk_extensions(h):
    """The extension text (from the first ';' or blank) of each chunk-size line,
    the last one possibly unfinished."""
    return [m.group(2) for m in re.finditer(rb"(^|\n)[0-9A-Fa-f]+([ \t]*;[^\r\n]*)(\r|$)", h.body)]


def classify_both_accept(raw, h, fl, ll):
    # fl/ll: A body ka up method target n fields...
    differs = [i for i, (x, y) in enumerate(zip(fl, ll)) if x != y] or [len(fl)]
    if differs == [2] and b"close" in h.elements(b"connection") and \
            b"keep-alive" in h.elements(b"connection"):
        return "keep-alive-and-close"
    if differs == [3] and b"upgrade" in h.elements(b"connection") and \
            all(not v for v in h.values(b"upgrade")):
        return "upgrade-empty"
    if differs == [3] and h.minor() == (1, 0) and fl[3] == "0":
        return "upgrade-http10"
    if differs == [3] and h.method == b"CONNECT" and fl[3] == "0":
        return "connect-not-upgrade"
    return None


def classify(raw, fl, ll, flared_on_completion):
    h = Head(raw)
    if ll[0] == "I" and fl[0] == "A" and upgrade_requested(h) and \
            (h.values(b"transfer-encoding") or h.values(b"content-length")):
        return "llhttp-upgrade-body"
    if fl[0] == "R" and ll[0] != "R":
        return classify_flared_rejects(raw, h, fl, ll)
    if ll[0] == "R" and fl[0] != "R":
        return classify_llhttp_rejects(raw, h, fl, ll, flared_on_completion)
    if fl[0] == "A" and ll[0] == "A":
        return classify_both_accept(raw, h, fl, ll)
    return None  # one complete and the other waiting: a framing disagreement


def agree(fl, ll):
    if fl[0] == "R" and ll[0] == "R":
        return True
    return fl == ll


# -- running ------------------------------------------------------------------------

def write_records(path, inputs):
    with open(path, "wb") as f:
        for r in inputs:
            f.write(struct.pack(">I", len(r)) + r)


def run(argv, path):
    out = subprocess.run(argv + [path], capture_output=True, check=True, timeout=120)
    return [line.split(" ") for line in out.stdout.decode().splitlines()]


def corpus_inputs(directory):
    """Requests from a fuzz corpus, minus the harness's leading control bytes."""
    kind = os.path.basename(os.path.normpath(directory))
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if kind == "request":
            out.append(data[1:])
        elif kind == "server":
            out.append(data[5:])
        elif kind == "chunked":
            out.append(CHUNKED_HEAD + data[2:])
        else:
            out.append(data)
    return out


def allowed_classes(path):
    with open(path, encoding="utf-8") as f:
        return set(re.findall(r"^## `([a-z0-9-]+)`", f.read(), re.M))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flared-verdict", required=True)
    ap.add_argument("--node", default="")
    ap.add_argument("--llhttp-verdict", required=True)
    ap.add_argument("--allowed", required=True)
    ap.add_argument("--corpus", action="append", default=[])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=9112)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--show", type=int, default=3, help="examples printed per class")
    args = ap.parse_args()
    if not args.node or not os.access(args.node, os.X_OK):
        print("node not found: skipping the llhttp comparison")
        return 77
    start = time.monotonic()
    inputs = gen_requests.generate(args.count, args.seed)
    generated = len(inputs)
    for d in args.corpus:
        if os.path.isdir(d):
            inputs += corpus_inputs(d)
    with tempfile.TemporaryDirectory(prefix="flare-diff-") as tmp:
        rec = os.path.join(tmp, "inputs.bin")
        write_records(rec, inputs)
        fl = run([args.flared_verdict], rec)
        ll = run([args.node, args.llhttp_verdict], rec)
        if len(fl) != len(inputs) or len(ll) != len(inputs):
            print(f"verdict count mismatch: {len(inputs)} inputs, flared {len(fl)}, "
                  f"llhttp {len(ll)}")
            return 1
        # Inputs flared found incomplete where llhttp rejected: does flared reject
        # them once the head is complete? (Then it only decides later.)
        pending = [i for i in range(len(inputs)) if fl[i][0] == "I" and ll[i][0] == "R"]
        completion = {}
        if pending:
            rec2 = os.path.join(tmp, "completed.bin")
            write_records(rec2, [inputs[i] + b"\r\n\r\n" for i in pending])
            for i, v in zip(pending, run([args.flared_verdict], rec2)):
                completion[i] = v[0]

    allowed = allowed_classes(args.allowed)
    classes = collections.defaultdict(list)
    failures = []
    for i, raw in enumerate(inputs):
        if agree(fl[i], ll[i]):
            continue
        cls = classify(raw, fl[i], ll[i], completion.get(i))
        if cls is None or cls not in allowed:
            failures.append((cls, raw, fl[i], ll[i]))
        else:
            classes[cls].append(raw)

    elapsed = time.monotonic() - start
    agreeing = len(inputs) - sum(len(v) for v in classes.values()) - len(failures)
    print(f"{len(inputs)} inputs ({generated} generated, seed {args.seed}; "
          f"{len(inputs) - generated} from corpora), {elapsed:.1f}s")
    print(f"  agree: {agreeing}")
    for cls, raws in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        print(f"  allowed {cls}: {len(raws)}")
        for raw in raws[:args.show]:
            print(f"      {raw[:160]!r}")
    if failures:
        print(f"  NOT ALLOWED: {len(failures)}")
        for cls, raw, f, l in failures[:50]:
            print(f"    class {cls or 'unclassified'}: {raw[:200]!r}")
            print(f"      flared: {' '.join(f)[:160]}")
            print(f"      llhttp: {' '.join(l)[:160]}")
        return 1
    if elapsed > args.time_limit:
        print(f"warning: took {elapsed:.1f}s, over the {args.time_limit:.0f}s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
