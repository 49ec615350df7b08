"""common.py: what run_tfb.sh and idle_conns.sh share: building the targets,
describing the machine (env.json) and naming the results directory.

Builds need no network: flared with meson (release), the Go baseline with the
standard library only (GOPROXY=off, caches in a temporary directory) and the
floor with gcc -O2.
"""

import datetime
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import tempfile

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(BENCH_DIR)


class BuildError(Exception):
    pass


def run(cmd, **kw):
    """Runs a build command; raises BuildError with its output when it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}")
    return p.stdout


def find_tool(name):
    """A tool on PATH, or in the sbin directories (nginx) that a non-root PATH lacks."""
    path = shutil.which(name)
    if path:
        return path
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def meson_buildtype(build_dir):
    """The build's type, with "+lto" when it links with link-time optimisation."""
    try:
        out = subprocess.run(["meson", "introspect", "--buildoptions", build_dir],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
        opts = {opt["name"]: opt["value"] for opt in json.loads(out)}
        return opts["buildtype"] + ("+lto" if opts.get("b_lto") else "")
    except (OSError, ValueError, KeyError):
        pass
    return "unknown"


# How flared is built for measuring: a release build with link-time optimisation, which
# inlines across the server's files (bench/callgrind_plaintext.sh: 2,404 instructions per
# keep-alive request without it, 2,163 with it, at 678898e).
RELEASE = ["--buildtype=release", "-Db_lto=true"]


def build_flared(build_dir, log):
    """Configures (release, LTO) if needed and builds src/flared/flared; returns (path,
    buildtype)."""
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        log(f"meson setup {build_dir} {' '.join(RELEASE)}")
        run(["meson", "setup", build_dir, REPO_DIR] + RELEASE)
    log(f"ninja -C {build_dir} src/flared/flared")
    run(["ninja", "-C", build_dir, "-j2", "src/flared/flared"])
    return os.path.join(build_dir, "src", "flared", "flared"), meson_buildtype(build_dir)


def rev_sha(rev):
    """Short commit id of a revision of this repository."""
    try:
        return run(["git", "-C", REPO_DIR, "rev-parse", "--short", rev + "^{commit}"]).strip()
    except BuildError as e:
        raise BuildError(f"--flared-rev {rev}: not a commit of {REPO_DIR}") from e


def build_flared_rev(rev, log):
    """Builds flared from a committed revision, exported with git archive (the work tree,
    which others may be editing, is not read); returns (path, buildtype, sha)."""
    sha = rev_sha(rev)
    src = os.path.join(tempfile.gettempdir(), f"flared-bench-src-{sha}")
    if not os.path.exists(os.path.join(src, "meson.build")):
        log(f"git archive {sha} -> {src}")
        os.makedirs(src, exist_ok=True)
        archive = subprocess.Popen(["git", "-C", REPO_DIR, "archive", sha], stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            shutil.rmtree(src, ignore_errors=True)
            raise BuildError(f"git archive {sha} failed")
    bench_build = os.path.join(src, "bench", "meson.build")
    if not os.path.exists(bench_build):
        # A commit whose meson.build names bench/ before bench/ itself was committed:
        # only flared is built from the export, so an empty bench/ will do.
        os.makedirs(os.path.dirname(bench_build), exist_ok=True)
        with open(bench_build, "w") as f:
            f.write("# run_tfb.sh --flared-rev: bench/ is not part of this commit\n")
    build_dir = os.path.join(src, "build-release")
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        log(f"meson setup {build_dir} {' '.join(RELEASE)}")
        run(["meson", "setup", build_dir, src, "-Dtests=false"] + RELEASE)
    log(f"ninja -C {build_dir} src/flared/flared")
    run(["ninja", "-C", build_dir, "-j2", "src/flared/flared"])
    return os.path.join(build_dir, "src", "flared", "flared"), meson_buildtype(build_dir), sha


def build_floor(work_dir, log, name="floor", libs=()):
    """gcc -O2 of bench/baselines/<name>.c into work_dir."""
    out = os.path.join(work_dir, name)
    log(f"gcc -O2 baselines/{name}.c")
    run(["gcc", "-O2", "-std=gnu11", "-Wall", "-Wextra", "-o", out,
         os.path.join(BENCH_DIR, "baselines", name + ".c"), *libs])
    return out


def build_go(work_dir, log):
    go = find_tool("go")
    if not go:
        raise BuildError("go not found (apt-get install golang-go, or leave go out of --targets)")
    out = os.path.join(work_dir, "goplaintext")
    cache = os.path.join(tempfile.gettempdir(), "flared-bench-go")
    env = dict(os.environ, GOCACHE=os.path.join(cache, "cache"), GOPATH=os.path.join(cache, "path"),
               GOPROXY="off", GOFLAGS="", GO111MODULE="on", CGO_ENABLED="0", GOTOOLCHAIN="local")
    log("go build baselines/go")
    run([go, "build", "-trimpath", "-o", out, "."], cwd=os.path.join(BENCH_DIR, "baselines", "go"),
        env=env)
    return out


def build_targets(names, opts, work_dir, log):
    """Binaries for the targets in `names`; returns (bins, notes for env.json)."""
    bins, info = {}, {}
    if "flared" in names:
        if opts.flared_bin:
            bins["flared"] = os.path.abspath(opts.flared_bin)
            info["flared_build"] = f"given: {bins['flared']}"
        elif opts.flared_rev:
            bins["flared"], buildtype, sha = build_flared_rev(opts.flared_rev, log)
            info["flared_build"] = f"commit {sha} via git archive (buildtype {buildtype})"
            info["flared_rev"] = sha
            if buildtype != "release":
                info["flared_build_warning"] = f"build dir is {buildtype}, not release"
        else:
            bins["flared"], buildtype = build_flared(os.path.abspath(opts.build_dir), log)
            info["flared_build"] = f"{os.path.abspath(opts.build_dir)} (buildtype {buildtype})"
            if buildtype != "release":
                info["flared_build_warning"] = f"build dir is {buildtype}, not release"
    if "nginx" in names:
        bins["nginx"] = find_tool("nginx")
        if not bins["nginx"]:
            raise BuildError("nginx not found (apt-get install nginx-light, or leave nginx out)")
    if "go" in names:
        bins["go"] = build_go(work_dir, log)
    if "floor" in names:
        bins["floor"] = build_floor(work_dir, log)
    return bins, info


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=10)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def git_sha():
    try:
        sha = subprocess.run(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO_DIR, "status", "--porcelain", "--untracked-files=no"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        return (sha or "nogit") + ("-dirty" if dirty else "")
    except OSError:
        return "nogit"


def flared_version(opts):
    """The flared being measured: a commit (--flared-rev), or the work tree's HEAD (+ -dirty)."""
    if getattr(opts, "flared_rev", None):
        return rev_sha(opts.flared_rev)
    if getattr(opts, "flared_bin", None):
        return git_sha() + "-bin"
    return git_sha()


def default_out_dir(opts, suffix=""):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    host = socket.gethostname().split(".")[0]
    return os.path.join(BENCH_DIR, "results", f"{stamp}-{host}-{flared_version(opts)}{suffix}")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def os_name():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def environment(bins, build_info, options):
    """The machine, the tools and the options of a run (env.json)."""
    nginx = bins.get("nginx") or find_tool("nginx")
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "kernel": platform.release(),
        "os": os_name(),
        "flared_git": build_info.get("flared_rev") or git_sha(),
        "repo_head": git_sha(),
        "versions": {
            "wrk": tool_version([find_tool("wrk") or "wrk", "-v"]),
            "nginx": tool_version([nginx, "-v"]) if nginx else "not installed",
            "go": tool_version([find_tool("go") or "go", "version"]),
            "gcc": tool_version(["gcc", "--version"]),
            "python": platform.python_version(),
        },
        "rlimit_nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "build": build_info,
        "options": options,
    }


def raise_nofile():
    """Raises the soft RLIMIT_NOFILE to the hard limit (servers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def write_results(out_dir, stem, md, data, log):
    """Writes <stem>.md and <stem>.json into out_dir, prints the table, names the folder."""
    with open(os.path.join(out_dir, f"{stem}.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, f"{stem}.json"), "w") as f:
        json.dump(data, f, indent=2)
    print(md)
    log(f"results in {out_dir}")


def run_main(main, prog):
    """sys.exit(main(argv)); a BuildError or RuntimeError is one line and exit 2."""
    import sys
    try:
        sys.exit(main(sys.argv[1:]))
    except (BuildError, RuntimeError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(2)
