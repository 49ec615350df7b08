#!/usr/bin/env python3
"""Fails when README.md or bench/README.md cites a results directory
(bench/results/NAME/) that is not in the repository: results stay out of git
(bench/.gitignore) except the reference runs the READMEs quote, and a reference
run left out by that filter exists only on the machine that made it.
"""
import os
import re
import subprocess
import sys

CITED = re.compile(r"(?:bench/)?results/(\d{8}-[A-Za-z0-9_.-]+)/")


def tracked(root, rel):
    """True when git tracks a file under rel; None when root is not a git work tree."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "--", rel], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return bool(out.strip())


def main(root):
    problems = []
    for doc in ("README.md", os.path.join("bench", "README.md")):
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            names = sorted(set(CITED.findall(f.read())))
        for name in names:
            rel = os.path.join("bench", "results", name)
            if not os.path.isdir(os.path.join(root, rel)):
                problems.append(f"{doc}: cites {rel}/, which does not exist")
            elif tracked(root, rel) is False:
                problems.append(f"{doc}: cites {rel}/, which git does not track "
                                "(bench/.gitignore lets only listed runs in)")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
