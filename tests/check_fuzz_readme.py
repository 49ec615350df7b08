#!/usr/bin/env python3
"""Fails when a fuzz harness (fuzz/fuzz_NAME.c) has no row in fuzz/README.md's
harness table, or a row names a harness that does not exist: the table is where a
reader learns what each harness feeds and checks.
"""
import os
import re
import sys

ROW = re.compile(r"^\| `([a-z0-9_]+)` \|", re.M)


def main(root):
    fuzz = os.path.join(root, "fuzz")
    harnesses = {name[len("fuzz_"):-len(".c")] for name in os.listdir(fuzz)
                 if name.startswith("fuzz_") and name.endswith(".c")}
    with open(os.path.join(fuzz, "README.md"), encoding="utf-8") as f:
        rows = set(ROW.findall(f.read()))
    problems = [f"fuzz/README.md: no row for fuzz_{n}.c" for n in sorted(harnesses - rows)]
    problems += [f"fuzz/README.md: a row for `{n}`, which has no fuzz/fuzz_{n}.c"
                 for n in sorted(rows - harnesses)]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
