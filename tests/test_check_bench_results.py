#!/usr/bin/env python3
"""tests/check_bench_results.py against a throwaway git repository: a citation of a
results directory that git does not track, or that does not exist, fails the check in
every form a README writes it (trailing slash, a file in it, bare, ending a sentence),
in README.md and in bench/README.md alike; the same citations of a tracked run pass."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_bench_results  # noqa: E402

TRACKED, UNTRACKED, MISSING = "20261201-kept-abc1234", "20261202-local-def5678", "20261203-gone-0"

FORMS = ("see bench/results/{}/ for the run",
         "see bench/results/{}/summary.md",
         "R=bench/results/{}; F=flared",
         "measured in bench/results/{}.",
         "in `results/{}` (relative to bench/)")


def git(root, *args):
    subprocess.run(["git", "-C", root, *args], check=True, capture_output=True)


class CheckBenchResultsTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="bench-results-check-")
        self.addCleanup(tmp.cleanup)
        self.root = tmp.name
        for name in (TRACKED, UNTRACKED):
            os.makedirs(os.path.join(self.root, "bench", "results", name))
            with open(os.path.join(self.root, "bench", "results", name, "summary.md"), "w") as f:
                f.write("| a | b |\n")
        self.write("README.md", "nothing cited\n")
        self.write(os.path.join("bench", "README.md"), "nothing cited\n")
        git(self.root, "init", "-q")
        git(self.root, "add", "README.md", "bench/README.md", f"bench/results/{TRACKED}")
        git(self.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "t")

    def write(self, rel, text):
        with open(os.path.join(self.root, rel), "w", encoding="utf-8") as f:
            f.write(text)

    def check(self):
        with open(os.devnull, "w") as quiet:
            saved, sys.stdout = sys.stdout, quiet
            try:
                return check_bench_results.main(self.root)
            finally:
                sys.stdout = saved

    def test_each_form_of_a_bad_citation_fails_in_each_readme(self):
        for doc in ("README.md", os.path.join("bench", "README.md")):
            for name in (UNTRACKED, MISSING):
                for form in FORMS:
                    with self.subTest(doc=doc, name=name, form=form):
                        self.write(doc, "text\n" + form.format(name) + "\nmore text\n")
                        self.assertEqual(self.check(), 1)
            self.write(doc, "nothing cited\n")

    def test_each_form_of_a_tracked_citation_passes(self):
        text = "\n".join(form.format(TRACKED) for form in FORMS) + "\n"
        self.write("README.md", text)
        self.write(os.path.join("bench", "README.md"), text)
        self.assertEqual(self.check(), 0)

    def test_names_stop_where_the_citation_does(self):
        self.assertEqual(check_bench_results.cited(
            f"bench/results/{TRACKED}/summary.md, results/{MISSING}. And bench/results/<run>"),
            sorted([TRACKED, MISSING]))


if __name__ == "__main__":
    unittest.main()
