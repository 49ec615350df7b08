#!/usr/bin/env python3
"""Fails when README.md or bench/README.md cites a results directory that is not in
the repository: results stay out of git (bench/.gitignore) except the reference runs
the READMEs quote, and a reference run left out by that filter exists only on the
machine that made it. A citation is bench/results/NAME or results/NAME, however it
goes on: a slash, a file in it (bench/results/NAME/summary.md), or nothing (the end
of a sentence, a shell variable). NAME starts with the run's date (8 digits, dash).
"""
import os
import re
import subprocess
import sys

CITED = re.compile(r"(?:bench/)?results/(\d{8}-[A-Za-z0-9_.-]+)")

# Runs a README describes whose directory was never in git and is gone; their tables
# in the README are the only record. Say why next to each; add none for a new run.
NOT_KEPT = {
    # bench/README.md, "Short run, 2026-11-24": made before cited runs were kept in git.
    "20261124-short-noisy",
}


def cited(text):
    """The run names text cites; a dot that ends a sentence is not part of the name."""
    return sorted({name.rstrip(".") for name in CITED.findall(text)})


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
            names = cited(f.read())
        for name in names:
            if name in NOT_KEPT:
                continue
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
