#!/usr/bin/env python3
"""check_installed_library.py MESON SOURCE_ROOT BUILD_ROOT: what `meson install` gives a user.

Installs the build into a scratch DESTDIR (meson install --no-rebuild), checks that the
daemon, the client, the manuals, the systemd unit and a valid config are there, then, through
nothing but the installed flare.pc, compiles every example on its own with
`gcc -std=c11 -Wall -Werror` and runs two of them against the installed shared
library. It catches what the in-tree build hides: a public header that needs a
package the .pc file does not name, a header left uninstalled, an example that leans
on the project's -D_GNU_SOURCE.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, env=None, timeout=120):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}{p.stderr}")
    return p.stdout


def main(meson, source_root, build_root):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise SystemExit("FAIL: no C compiler on PATH")
    with tempfile.TemporaryDirectory(prefix="flare-install-") as dest:
        run([meson, "install", "-C", build_root, "--destdir", dest, "--no-rebuild", "--quiet"])
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "flare.pc"), recursive=True)
        if len(pcs) != 1:
            raise SystemExit(f"FAIL: expected one installed flare.pc, found {pcs}")
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
                   PKG_CONFIG_SYSROOT_DIR=dest)
        flags = run(["pkg-config", "--cflags", "--libs", "flare"], env=env).split()
        libdir = next(f[2:] for f in flags if f.startswith("-L"))

        def names(pattern):
            return {os.path.basename(h) for h in glob.glob(pattern, recursive=True)}

        headers = names(os.path.join(source_root, "include", "flare", "*.h"))
        installed = names(os.path.join(dest, "**", "include", "flare", "*.h"))
        if headers != installed:
            raise SystemExit(f"FAIL: installed headers differ: {sorted(headers ^ installed)}")

        # The daemon, the client, their manuals, the unit and a config that checks out.
        prefix = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(pcs[0]))))
        for rel in ("sbin/flared", "bin/flare", "share/man/man1/flare.1",
                    "share/man/man5/flared.yaml.5", "share/man/man8/flared.8",
                    "lib/systemd/system/flared.service", "etc/flared/flared.yaml"):
            if not os.path.isfile(os.path.join(prefix, rel)):
                raise SystemExit(f"FAIL: {rel} is not installed under {prefix}")
        print(run([os.path.join(prefix, "sbin/flared"), "-t", "-c",
                   os.path.join(prefix, "etc/flared/flared.yaml")]).strip())

        examples = sorted(glob.glob(os.path.join(source_root, "examples", "*.c")))
        if len(examples) < 14:
            raise SystemExit(f"FAIL: expected the 14 examples, found {len(examples)}")
        out = tempfile.mkdtemp(dir=dest)
        for src in examples:
            exe = os.path.join(out, os.path.basename(src)[:-2])
            run([cc, "-std=c11", "-Wall", "-Werror", "-O1", src, *flags, "-o", exe])
        print(f"compiled {len(examples)} examples against the installed library")

        run_env = dict(os.environ, LD_LIBRARY_PATH=libdir)
        for name, expect in (("01_addresses", "127.0.0.1"), ("14_reactor", "client:")):
            exe = os.path.join(out, name)
            linked = run(["ldd", exe], env=run_env)
            if libdir not in linked:
                raise SystemExit(f"FAIL: {name} does not load the installed libflare:\n{linked}")
            text = run([exe], env=run_env, timeout=60)
            if expect not in text:
                raise SystemExit(f"FAIL: {name} printed no {expect!r}:\n{text}")
            print(f"{name}: ran against {libdir}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
