#!/usr/bin/env python3
"""Fails when flared accepts a config key that flared.yaml(5) does not document, or
when the manual describes a key that flared refuses.

README.md says every key is documented in man/flared.yaml.5. The accepted keys are
the string lists the loader hands to flared_cfg_map (src/flared/config*.c: arrays
named *keys); the documented ones are the keys the manual sets in bold. A key
entry of the manual (.TP, then .B or .BR and the key) must be one flared accepts.
"""
import glob
import os
import re
import sys

KEY_ARRAY = re.compile(r"const char \*const (\w*keys)\[\]\s*=\s*\{(.*?)\};", re.S)
STRING = re.compile(r'"([^"\\]*)"')
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The schema has well over a hundred keys: far fewer means the pattern above went stale.
MIN_KEYS = 100


def accepted_keys(root):
    keys = {}
    for path in sorted(glob.glob(os.path.join(root, "src", "flared", "config*.c"))):
        with open(path) as f:
            text = f.read()
        for m in KEY_ARRAY.finditer(text):
            for key in STRING.findall(m.group(2)):
                keys.setdefault(key, f"{os.path.relpath(path, root)} ({m.group(1)})")
    return keys


def bold_lines(lines):
    """The text of the manual's bold lines (.B and .BR), troff escapes undone."""
    for line in lines:
        if line.startswith((".B ", ".BR ")):
            yield line.split(" ", 1)[1].replace("\\-", "-").replace('"', " ")


def entry_keys(lines):
    """(line number, key) of each .TP entry that names a key in bold."""
    for i, line in enumerate(lines[:-1]):
        if line != ".TP":
            continue
        m = re.match(r"\.BR? ([A-Za-z_][A-Za-z0-9_]*)(?:\s|$)", lines[i + 1])
        if m:
            yield i + 2, m.group(1)


def main(root):
    keys = accepted_keys(root)
    man_path = os.path.join(root, "man", "flared.yaml.5")
    with open(man_path) as f:
        lines = f.read().split("\n")
    bold = set()
    for text in bold_lines(lines):
        bold.update(WORD.findall(text))
    problems = []
    if len(keys) < MIN_KEYS:
        problems.append(f"only {len(keys)} config keys found in src/flared/config*.c; "
                        "update check_config_keys.py to how the loader lists its keys")
    for key, where in sorted(keys.items()):
        if key not in bold:
            problems.append(f"{where}: key '{key}' is accepted but flared.yaml(5) does not "
                            "document it")
    for number, key in entry_keys(lines):
        if key not in keys:
            problems.append(f"man/flared.yaml.5:{number}: key '{key}' is documented but "
                            "flared does not accept it")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")))
