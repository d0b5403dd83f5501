#!/usr/bin/env python3
"""labs/lab.py — make a lab's starter, grade a lab, check every lab (make lab-start / grade /
labs-check). The syntax of LAB markers and stubs, and the manifest format, are in
labs/README.md; this file is the only program that reads them.

  lab.py start N [--dir DIR] [--no-git]   the student's copy: the repository's files, every
                                          LAB(N) region replaced by its stub (N may be "5,6")
  lab.py grade N [--root DIR]             build what the lab needs, run its weighted tests,
                                          print per-test points, time, what went wrong and
                                          "Score: X/Y"; exit 0 only on full marks
  lab.py check                            TAP: for every lab whose markers are in tracked
                                          files of src/, the reference scores full marks,
                                          the starter builds and scores below full marks, and
                                          the handout solution (below) scores full marks
  lab.py solve N [--dir DIR]              the starter with labs/<n>-*/handout-solution.c
                                          filled in (to read it, or grade it by hand)

THE HANDOUT SOLUTION
  labs/<n>-<name>/handout-solution.c is the smallest code a careful student would write from
  that lab's README alone (not from the reference): one block per LAB(n) region, in the
  order the regions appear (files sorted by path, then top to bottom), each
      /* LAB(n) solution: src/FILE.c */
      ...the lines that replace the stub...
      /* LAB(n) solution end */
  Anything outside the blocks is commentary. labs-check fills a fresh starter with it and
  grades it: it must score full marks, or the handout and its grader disagree.

Every graded test runs in its own child process (its own session, so a hung test and its
children are killed together) under a time limit. A crash, a hang or an assertion in a
student's code costs that test's points and is reported as such; it never stops the grader.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BEGIN_RE = re.compile(r"LAB\((\d+)\) begin")
END_RE = re.compile(r"LAB\((\d+)\) end")
STUB_RE = re.compile(r"^\s*/\*\s*LAB\((\d+)\) stub:\s?(.*?)\s*\*/\s*$")


# ------------------------------------------------------------------ labs and manifests

def lab_dirs(root):
    """{n: path} for labs/<n>-<name>/ folders with a grade.conf."""
    out = {}
    for d in glob.glob(os.path.join(root, "labs", "*-*", "grade.conf")):
        name = os.path.basename(os.path.dirname(d))
        out[int(name.split("-")[0])] = os.path.dirname(d)
    return out


def parse_range(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def load_manifest(path):
    """grade.conf: `key: value` header lines, then one test per line:
         POINTS TIMEOUT_S test BINARY PATH [seeds=A-B seed-env=VAR]
         POINTS TIMEOUT_S sim SCENARIO seeds=A-B
    """
    meta, tests = {}, []
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if not line:
            continue
        m = re.match(r"^([a-z-]+):\s*(.*)$", line)
        if m:
            meta[m.group(1)] = m.group(2)
            continue
        f = line.split()
        try:
            t = {"points": int(f[0]), "timeout": float(f[1]), "kind": f[2], "line": no}
            if t["kind"] == "test":
                t["binary"], t["path"], rest = f[3], f[4], f[5:]
            elif t["kind"] == "sim":
                t["scenario"], rest = f[3], f[4:]
            else:
                raise ValueError(f"unknown kind {t['kind']}")
            for kv in rest:
                k, _, v = kv.partition("=")
                t[k] = v
            if "seeds" in t:
                t["seeds"] = parse_range(t["seeds"])
        except (IndexError, ValueError) as e:
            raise SystemExit(f"{path}:{no}: bad test line ({e}): {line}")
        tests.append(t)
    return meta, tests


# ------------------------------------------------------------------ running one graded test

def signal_name(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def run_child(argv, env_extra, timeout_s, cwd):
    """(status, seconds, output); status: 'ok', 'timeout', ('signal', name), ('exit', code)."""
    env = dict(os.environ, **env_extra)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout_s)
        status = "ok" if p.returncode == 0 else \
            ("signal", signal_name(-p.returncode)) if p.returncode < 0 else ("exit", p.returncode)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        status = "timeout"
    return status, time.monotonic() - t0, out.decode("utf-8", "replace")


def diagnose(status, out, timeout_s, glib):
    """One line saying what went wrong, or None when the test passed."""
    lines = out.splitlines()
    # the test's own words first: a g_assert* "ERROR:" line, else the message of its
    # "not ok N /path - message" line (g_test_fail_printf, the cluster checks); only then
    # GLib's bare "Bail out!"
    failed = next((l.split(" - ", 1)[1] for l in lines if l.startswith("not ok") and " - " in l), None)
    assertion = next((l for l in lines if "ERROR:" in l and "Bail out!" not in l), None) or failed or \
        next((l for l in lines if l.startswith("Bail out!")), None)  # g_assert*, g_error
    if status == "timeout":
        return f"timeout: killed after {timeout_s:g} s (an infinite loop, or a deadlock?)"
    if isinstance(status, tuple) and status[0] == "signal":
        if status[1] in ("SIGABRT", "SIGTRAP") and assertion:
            return f"assertion failed: {assertion.replace('Bail out! ', '').strip()}"
        return f"crash: {status[1]}" + (f" ({assertion.strip()})" if assertion else "")
    if glib:
        nots = [l for l in lines if l.startswith("not ok")]
        oks = [l for l in lines if re.match(r"^ok \d+", l)]
        if status == "ok" and not nots and oks:
            return None
        if status == "ok" and not nots:
            return "no test ran (is the test path right?)"
        why = next((l[1:].strip() for l in lines if l.startswith("#") and
                    re.search(r"fail|seed=|violat|expected|assert|ERROR", l, re.I)), None)
        return "failed: " + (assertion or why or (nots[0] if nots else f"exit status {status}")).strip()
    if status == "ok":
        return None
    why = next((l for l in lines if l.startswith(("violation", "result=", "error", "minijet-sim:"))), None)
    return f"failed (exit {status[1]})" + (f": {why}" if why else "")


def run_test(t, root):
    """[(label, ok, seconds, problem, replay)] for one manifest line (one per seed)."""
    runs = []
    seeds = t.get("seeds") or [None]
    for seed in seeds:
        if t["kind"] == "test":
            binary = os.path.join("build", "tests", t["binary"])
            argv = [binary, "--tap", "-p", t["path"]]
            env = {t.get("seed-env", "RAFT_SEED"): str(seed)} if seed is not None else {}
            replay = (f"{t.get('seed-env', 'RAFT_SEED')}={seed} " if seed is not None else "") + \
                f"{binary} -p {t['path']}"
            glib = True
        else:
            binary = os.path.join("build", "minijet-sim")
            argv = [binary, "run", t["scenario"], "--seed", str(seed)]
            env, glib = {}, False
            replay = f"{binary} run {t['scenario']} --seed {seed} --trace   (or: make sim SCENARIO={t['scenario']} SEED={seed})"
        status, secs, out = run_child(argv, env, t["timeout"], root)
        problem = diagnose(status, out, t["timeout"], glib)
        runs.append((seed, problem is None, secs, problem, replay))
    return runs


def targets_of(tests):
    out = []
    for t in tests:
        target = os.path.join("build", "tests", t["binary"]) if t["kind"] == "test" else "build/minijet-sim"
        if target not in out:
            out.append(target)
    return out


def grade(n, root=ROOT, quiet=False):
    """Grade lab n in the tree at root; returns (score, total)."""
    labs = lab_dirs(root)
    if n not in labs:
        raise SystemExit(f"no lab {n} (labs: {', '.join(map(str, sorted(labs)))})")
    meta, tests = load_manifest(os.path.join(labs[n], "grade.conf"))
    total = sum(t["points"] for t in tests)
    say = (lambda *a: None) if quiet else print
    say(f"== lab {n}: {meta.get('title', '')}  ({meta.get('implement', '')})")
    targets = targets_of(tests)
    t0 = time.monotonic()
    b = subprocess.run(["make", "-s", "-j2"] + targets, cwd=root, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if b.returncode != 0:
        say(f"build: make {' '.join(targets)} FAILED ({time.monotonic() - t0:.1f} s):")
        for l in b.stdout.decode("utf-8", "replace").splitlines()[-25:]:
            say("    " + l)
        say(f"Score: 0/{total}")
        return 0, total
    say(f"build: {' '.join(targets)} ok ({time.monotonic() - t0:.1f} s)")
    score = 0
    for t in tests:
        name = t["path"] if t["kind"] == "test" else f"sim {t['scenario']}"
        runs = run_test(t, root)
        ok = all(r[1] for r in runs)
        secs = sum(r[2] for r in runs)
        got = t["points"] if ok else 0
        score += got
        seeds = f" seeds {t['seeds'][0]}-{t['seeds'][-1]}" if "seeds" in t else ""
        label = f"{name}{seeds} "
        say(f"  {label:.<58} {'OK' if ok else 'FAIL':4} {got:3}/{t['points']:<3} ({secs:5.1f} s)")
        for seed, good, s, problem, replay in runs:
            if not good:
                say(f"      {'seed ' + str(seed) + ': ' if seed is not None else ''}{problem}")
                say(f"      replay: {replay}")
    say(f"Score: {score}/{total}")
    return score, total


# ------------------------------------------------------------------ the starter

def repo_files(root):
    if os.path.isdir(os.path.join(root, ".git")):
        r = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=root,
                           stdout=subprocess.PIPE, check=True)
        return sorted(set(f for f in r.stdout.decode().split("\0") if f and os.path.isfile(os.path.join(root, f))))
    out = []
    for d, subdirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        subdirs[:] = [s for s in subdirs if not (rel == "." and s in ("build", "data", ".git"))
                      and s != "node_modules"]
        out += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return sorted(out)


def stub_regions(text, labs, path, readme):
    """Replace every LAB(n) region (n in labs) by its stub lines; (new_text, regions)."""
    out, lines, i, count = [], text.split("\n"), 0, 0
    while i < len(lines):
        m = BEGIN_RE.search(lines[i])
        if not m or int(m.group(1)) not in labs:
            out.append(lines[i])
            i += 1
            continue
        n, indent = int(m.group(1)), re.match(r"\s*", lines[i]).group(0)
        j, stubs = i + 1, []
        while j < len(lines):
            e = END_RE.search(lines[j])
            if e and int(e.group(1)) == n:
                break
            s = STUB_RE.match(lines[j])
            if s and int(s.group(1)) == n:
                stubs.append(s.group(2))
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{i + 1}: LAB({n}) begin without LAB({n}) end")
        out.append(f"{indent}/* LAB({n}) begin: TODO(lab {n}) — write this part; {readme.get(n, 'labs/README.md')} says what it must do. */")
        out += [indent + s for s in stubs]
        out.append(lines[j])
        count += 1
        i = j + 1
    return "\n".join(out), count


def markers(root, tracked_only=False):
    """{n: [files]} of LAB(n) markers in src/ (and its subfolders)."""
    files = sorted(glob.glob(os.path.join(root, "src", "**", "*.[ch]"), recursive=True))
    if tracked_only and os.path.isdir(os.path.join(root, ".git")):
        r = subprocess.run(["git", "ls-files", "src"], cwd=root, stdout=subprocess.PIPE, text=True)
        tracked = set(r.stdout.split())
        files = [f for f in files if os.path.relpath(f, root) in tracked]
    out = {}
    for f in files:
        for n in set(int(x) for x in BEGIN_RE.findall(open(f, encoding="utf-8").read())):
            out.setdefault(n, []).append(os.path.relpath(f, root))
    return out


def start(labs, dest, git=True, root=ROOT, quiet=False):
    if os.path.exists(dest) and os.listdir(dest):
        raise SystemExit(f"lab-start: {dest} exists and is not empty; choose another DIR=")
    have = markers(root)
    for n in labs:
        if n not in have:
            raise SystemExit(f"lab-start: no LAB({n}) markers in src/ (labs with markers: {sorted(have)})")
    ldirs = lab_dirs(root)
    readme = {n: os.path.relpath(os.path.join(ldirs[n], "README.md"), root) for n in ldirs}
    os.makedirs(dest, exist_ok=True)
    regions = 0
    for rel in repo_files(root):
        if re.match(r"labs/[^/]+/handout-solution\.c$", rel):
            continue  # the teacher's check of the handout, not the student's
        src, dst = os.path.join(root, rel), os.path.join(dest, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        if rel.startswith("src/") and rel.endswith((".c", ".h")):
            text = open(src, encoding="utf-8").read()
            new, k = stub_regions(text, labs, rel, readme)
            if k:
                with open(dst, "w", encoding="utf-8") as f:
                    f.write(new)
                regions += k
                print(f"{'# ' if quiet else ''}lab-start: {rel}: {k} LAB region(s) replaced by stubs")
    if git and shutil.which("git"):
        g = ["git", "-c", "user.name=minijet labs", "-c", "user.email=labs@minijet.invalid"]
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        subprocess.run(g + ["commit", "-q", "-m", f"lab {','.join(map(str, labs))} starter"], cwd=dest, check=True)
    return regions


# ------------------------------------------------------------------ the handout solution

SOL_BEGIN_RE = re.compile(r"^\s*/\*\s*LAB\((\d+)\) solution:\s*(\S+)\s*\*/\s*$")
SOL_END_RE = re.compile(r"^\s*/\*\s*LAB\((\d+)\) solution end\s*\*/\s*$")


def solution_blocks(n, root=ROOT):
    """[(file, [lines])] of labs/<n>-*/handout-solution.c, or None when the lab has none (labs-check fails)."""
    labs = lab_dirs(root)
    path = os.path.join(labs[n], "handout-solution.c") if n in labs else None
    if not path or not os.path.isfile(path):
        return None
    blocks, cur = [], None
    for no, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        b, e = SOL_BEGIN_RE.match(line), SOL_END_RE.match(line)
        if b:
            if cur is not None or int(b.group(1)) != n:
                raise SystemExit(f"{path}:{no}: a LAB({n}) solution block starts inside another, or names another lab")
            cur = (b.group(2), [])
        elif e:
            if cur is None:
                raise SystemExit(f"{path}:{no}: solution end without a start")
            blocks.append(cur)
            cur = None
        elif cur is not None:
            cur[1].append(line)
    if cur is not None:
        raise SystemExit(f"{path}: the last solution block has no end")
    return blocks


def fill_starter(n, dest, root=ROOT):
    """Replace each stubbed LAB(n) region in the starter at dest by its handout-solution
    block. Returns the number of regions filled; fails when blocks and regions disagree."""
    blocks = solution_blocks(n, root)
    regions = []  # (file, begin_index, end_index) in the starter, files sorted, top to bottom
    for rel in markers(dest).get(n, []):
        lines = open(os.path.join(dest, rel), encoding="utf-8").read().split("\n")
        for i, line in enumerate(lines):
            if BEGIN_RE.search(line) and int(BEGIN_RE.search(line).group(1)) == n:
                j = next(k for k in range(i + 1, len(lines))
                         if END_RE.search(lines[k]) and int(END_RE.search(lines[k]).group(1)) == n)
                regions.append((rel, i, j))
    if [b[0] for b in blocks] != [r[0] for r in regions]:
        raise SystemExit(f"lab {n}: handout-solution.c has blocks for {[b[0] for b in blocks]} but the "
                         f"starter's LAB({n}) regions are in {[r[0] for r in regions]}")
    for rel in sorted(set(r[0] for r in regions), reverse=True):
        full = os.path.join(dest, rel)
        lines = open(full, encoding="utf-8").read().split("\n")
        mine = [(k, r) for k, r in enumerate(regions) if r[0] == rel]
        for k, (_, i, j) in reversed(mine):  # bottom up, so indices stay valid
            lines[i + 1:j] = blocks[k][1]
        with open(full, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
    return len(regions)


# ------------------------------------------------------------------ labs-check

def starter_checks(n, total, objs):
    """[(ok, name, diagnostics)] for lab n's starter (builds, scores below full marks) and its
    handout solution (full marks), both in one fresh copy. Runs in a worker process."""
    out = []
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix=f"minijet-lab{n}-")
    try:
        start([n], tmp, git=False, quiet=True)
        # reuse the reference's objects for unchanged sources (mtimes kept): only the
        # stubbed file, the library and the lab's test binary are rebuilt
        for o in objs:
            dest = os.path.join(tmp, os.path.relpath(o, ROOT))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(o, dest)
        lines = capture(lambda: grade(n, tmp))
        built = not any(l.startswith("build:") and "FAILED" in l for l in lines)
        m = re.search(r"Score: (\d+)/(\d+)", "\n".join(lines))
        score = int(m.group(1)) if m else -1
        ok = built and 0 <= score < total
        out.append((ok, f"lab {n} starter {'builds' if built else 'does NOT build'} and scores {score}/{total}"
                        f" ({time.monotonic() - t0:.1f} s)", [] if ok else lines))
        # the handout solution in the same copy of the starter must score full marks
        t0 = time.monotonic()
        if solution_blocks(n) is None:
            # every lab has one: without it nothing checks the handout against the grader
            out.append((False, f"lab {n} handout solution: labs/{n}-*/handout-solution.c is missing", []))
            return out
        fill_starter(n, tmp)
        lines = capture(lambda: grade(n, tmp))
        m = re.search(r"Score: (\d+)/(\d+)", "\n".join(lines))
        score = int(m.group(1)) if m else -1
        ok = score == total
        out.append((ok, f"lab {n} handout solution scores {score}/{total} ({time.monotonic() - t0:.1f} s)",
                    [] if ok else lines))
    except SystemExit as e:
        out.append((False, f"lab {n} starter or handout solution: {e}", []))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check(include_untracked=False, only=None, jobs=2):
    """TAP for labs-check. The references are graded first, in this tree, one at a time (they
    share build/); then each lab's starter and handout solution, in their own copies, `jobs`
    labs at a time (make -j2 inside each: the machine has two cores)."""
    from concurrent.futures import ProcessPoolExecutor
    have = markers(ROOT, tracked_only=not include_untracked)
    untracked = sorted(set(markers(ROOT)) - set(have))
    labs = lab_dirs(ROOT)
    todo = [n for n in sorted(labs) if n in have and (not only or n in only)]
    print(f"1..{3 * len(todo)}")
    for n in untracked:
        print(f"# lab {n}: markers only in files not yet in git; checked once they are committed")
    for n in sorted(set(have) - set(labs)):
        print(f"# lab {n}: LAB({n}) markers exist but labs/{n}-*/grade.conf does not")
    objs = sorted(glob.glob(os.path.join(ROOT, "build", "obj", "**", "*.o"), recursive=True))
    results, totals = {}, {}
    for n in todo:
        t0 = time.monotonic()
        score, total = grade(n, ROOT, quiet=True)
        totals[n] = total
        ok = score == total
        results[n] = [(ok, f"lab {n} reference scores {score}/{total} ({time.monotonic() - t0:.1f} s)",
                       [] if ok else capture(lambda: grade(n, ROOT)))]
    sys.stdout.flush()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {n: pool.submit(starter_checks, n, totals[n], objs) for n in todo}
        for n in todo:
            results[n] += futures[n].result()
    k, fails = 0, 0
    for n in todo:
        for ok, name, diag in results[n]:
            k += 1
            fails += not ok
            print(f"{'ok' if ok else 'not ok'} {k} - {name}")
            for l in diag:
                print("# " + l)
    return 1 if fails else 0


def capture(fn):
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue().splitlines()


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 64
    cmd, args = argv[1], argv[2:]
    if cmd == "check":
        only = [int(a) for a in args if a.isdigit()]
        return check("--all" in args, only)
    if not args or not re.match(r"^\d+([ ,]\d+)*$", args[0].strip()):
        print(f"usage: lab.py {cmd} N ...  (make {'lab-start' if cmd == 'start' else 'grade'} LAB=N)", file=sys.stderr)
        return 64
    labs = [int(x) for x in re.split(r"[ ,]+", args[0].strip())]
    rest = args[1:]
    def opt(name):
        return rest[rest.index(name) + 1] if name in rest and rest.index(name) + 1 < len(rest) else None
    if cmd == "grade":
        root = os.path.abspath(opt("--root") or os.getcwd())
        results = [grade(n, root) for n in labs]
        return 0 if all(s == t for s, t in results) else 1
    if cmd == "solve":
        dest = os.path.abspath(opt("--dir") or os.path.join(ROOT, "..", f"minijet-lab{labs[0]}-solved"))
        start(labs[:1], dest, git=False)
        print(f"lab-solve: starter for lab {labs[0]} in {dest}, {fill_starter(labs[0], dest)} regions "
              f"filled from the handout solution; grade it with: cd {dest} && make grade LAB={labs[0]}")
        return 0
    if cmd == "start":
        dest = os.path.abspath(opt("--dir") or os.path.join(ROOT, "..", f"minijet-lab{labs[0]}"))
        k = start(labs, dest, git="--no-git" not in rest)
        print(f"lab-start: starter for lab {','.join(map(str, labs))} in {dest} ({k} regions stubbed)")
        print(f"  cd {dest} && make && make grade LAB={labs[0]}")
        return 0
    print(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
