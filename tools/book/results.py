#!/usr/bin/env python3
"""tools/book/results.py — every measured number the book quotes in prose, from a results file.

A number a chapter quotes from a measurement (a benchmark ratio, how fast the simulator runs,
what a Raft test costs, how many swarm seeds failed) is never typed. The chapter names one
cell of a committed results file, in ONE syntax:

    {{result:TABLE|ROW|COLUMN}}

and `make book` prints that cell, and FAILS when the file, the row or the column is missing
(so does any `{{...}}` left in prose that is not a known form). TABLE says which file:

    NAME           book/results/NAME.tsv, written by this script (below). ROW is the value
                   of the row's first column, COLUMN a name from the file's header line.
    bench/RUN      bench/results/RUN-summary.csv, written by bench/compare.sh or
                   bench/scaling.sh. RUN is a stamp, `latest` (the `bench` run that
                   bench/results/LATEST names) or `latest-KEY` (LATEST's KEY line:
                   latest-scaling, latest-clusters, ...). ROW is SCENARIO/METRIC for a
                   compare summary (COLUMN ratio, minijet, nats, minijet_min, ...) or
                   FIGURE/SERVER/X for a scaling summary (COLUMN median, min, max); the value
                   is formatted by its unit (tools/book/bench.py).

book/results/ files are measured by this script from a real run and committed with the
change they measure; rerun one when the code it measures changes:

    python3 tools/book/results.py sublist-perf    # chapter 4.5: what a trie operation costs
    python3 tools/book/results.py sim-speed       # chapter 8.10: pubsub-basic under each setting
    python3 tools/book/results.py sim-scenarios   # chapter 8.10: every broker scenario, as shipped
    python3 tools/book/results.py raft-tests      # chapter 9.8: the 6.5840 table, the binary's time
    python3 tools/book/results.py raft-bugs       # chapter 9: how often random search finds Figure 8's bug
    python3 tools/book/results.py raft-swarm      # chapter 9.9: make swarm's 1,000 seeds of raft-random
    python3 tools/book/results.py failover-swarm  # chapter 11: make swarm's 1,000 seeds of failover-random, 200 of each retention scenario
    python3 tools/book/results.py callgrind       # appendix B.7: instructions per message, before/after

A results file is tab-separated: '#' lines say how and where it was measured (they are not
read), the first other line names the columns, the rest are rows. Benchmark tables (whole
tables, not single figures) are generated regions, see tools/book/bench.py.
"""
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DIR = os.path.join(ROOT, "book", "results")
RESULT_RE = re.compile(r"\{\{result:([^|}]*)\|([^|}]*)\|([^|}]*)\}\}")
ANY_RE = re.compile(r"\{\{[^{}]*\}\}")
SIM = os.path.join(ROOT, "build", "minijet-sim")
RAFT = os.path.join(ROOT, "build", "tests", "test_raft")


class ResultError(Exception):
    pass


_cache = {}


def table(name):
    """{row id: {column: value}} of book/results/NAME.tsv."""
    if name not in _cache:
        path = os.path.join(DIR, name + ".tsv")
        if not os.path.isfile(path):
            raise ResultError(f"book/results/{name}.tsv is missing (measure it: python3 tools/book/results.py {name})")
        lines = [l.rstrip("\n") for l in open(path, encoding="utf-8") if l.strip() and not l.startswith("#")]
        head = lines[0].split("\t")
        _cache[name] = {cells[0]: dict(zip(head, cells)) for cells in (l.split("\t") for l in lines[1:])}
    return _cache[name]


def value(name, row, col):
    t = table(name)
    if row not in t:
        raise ResultError(f"book/results/{name}.tsv has no row '{row}'")
    if col not in t[row]:
        raise ResultError(f"book/results/{name}.tsv has no column '{col}'")
    return t[row][col]


def cell(tab, row, col):
    """The printed value of {{result:tab|row|col}}."""
    if tab.startswith("bench/"):
        import bench  # tools/book/bench.py: the benchmark summaries and their units
        try:
            return bench.figure(tab[len("bench/"):], row, col)
        except bench.BenchError as e:
            raise ResultError(f"{{{{result:{tab}|{row}|{col}}}}}: {e}")
    if not re.fullmatch(r"[\w-]+", tab):
        raise ResultError(f"{{{{result:{tab}|{row}|{col}}}}}: TABLE is NAME (book/results/NAME.tsv) or bench/RUN")
    return value(tab, row, col)


def expand(text):
    """text with every {{result:...}} replaced; a {{...}} of any other form is an error."""
    out = RESULT_RE.sub(lambda m: cell(m.group(1).strip(), m.group(2).strip(), m.group(3).strip()), text)
    left = ANY_RE.search(out)
    if left:
        raise ResultError(f"{left.group(0)} is not {{{{result:TABLE|ROW|COLUMN}}}} (tools/book/results.py)")
    return out


# ------------------------------------------------------------------ measuring

def header(what):
    load = os.getloadavg()
    return [f"# {what}",
            f"# measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by tools/book/results.py at "
            f"{subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}"
            f" (plus the working tree); {os.cpu_count()} CPUs, load average {load[0]:.1f} when it started"]


def sim_run(args):
    out = subprocess.run([SIM, "run"] + args, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("result="))
    kv = dict(p.split("=", 1) for p in line.split())
    return {"events": int(kv["events"]), "sim": float(kv["simulated"].rstrip("s")),
            "cpu": float(kv["cpu"].rstrip("s")), "real": float(kv["real"].rstrip("s"))}


def rng(vals, fmt, unit=""):
    lo, hi = fmt(min(vals)), fmt(max(vals))
    return (lo if lo == hi else f"{lo}–{hi}") + unit


def sim_speed(rounds=5):
    settings = [("shipped", []), ("check-100", ["--check-every", "100"]), ("out", ["--out"]),
                ("check-1", ["--check-every", "1"])]
    rows = []
    for sid, extra in settings:
        runs = []
        for _ in range(rounds):
            args = ["pubsub-basic", "--seed", "1"]
            if extra == ["--out"]:
                with tempfile.TemporaryDirectory() as d:
                    runs.append(sim_run(args + ["--out", os.path.join(d, "run")]))
            else:
                runs.append(sim_run(args + extra))
        cpu = [r["cpu"] for r in runs]
        ratio = [r["sim"] / max(r["cpu"], 1e-6) for r in runs]
        eps = [r["events"] / max(r["cpu"], 1e-6) for r in runs]
        rows.append([sid, rng(cpu, lambda v: f"{v:.2f}", " s"), rng(ratio, lambda v: f"{v:.0f}", "×"),
                     rng(eps, lambda v: f"{v / 1e6:.1f}", " million") if min(eps) >= 1e6 else
                     rng(eps, lambda v: f"{v / 1e3:,.0f},000"),
                     f"{runs[0]['events']:,}", f"{runs[0]['sim']:.0f}", str(rounds)])
    return header(f"pubsub-basic seed 1, {rounds} rounds per setting; ranges are min–max over the rounds, "
                  "CPU time as minijet-sim reports it (cpu=)") + \
        ["\t".join(["setting", "cpu", "sim_per_cpu", "events_per_cpu_s", "events", "simulated_s", "rounds"])] + \
        ["\t".join(r) for r in rows]


BROKER_SCENARIOS = ["pubsub-basic", "crash-restart", "random-faults", "slow-consumer", "consumer-redelivery",
                    "crash-during-publish", "disk-corruption", "reconnect-storm", "sync-failure",
                    "cluster-pubsub", "cluster-node-crash", "cluster-partition"]


def sim_scenarios(seeds=(1, 2, 3)):
    rows = []
    for sc in BROKER_SCENARIOS:
        runs = [sim_run([sc, "--seed", str(s)]) for s in seeds]
        ratio = statistics.median(r["sim"] / max(r["cpu"], 1e-6) for r in runs)
        rows.append([sc, f"{ratio:.0f}×", f"{statistics.median(r['sim'] for r in runs):.0f}",
                     f"{statistics.median(r['events'] for r in runs):,.0f}"])
    return header(f"every broker scenario as shipped (minijet-sim run, no --out), seeds {seeds[0]}-{seeds[-1]}; "
                  "medians over the seeds") + \
        ["\t".join(["scenario", "sim_per_cpu", "simulated_s", "events"])] + ["\t".join(r) for r in rows]


def raft_tests():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([RAFT, "--tap"], capture_output=True, text=True)
    real = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise ResultError("build/tests/test_raft failed; fix it before measuring")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows, passed, total_sim, runs, tests = [], [], 0.0, 0, 0
    for line in out.stdout.splitlines():
        m = re.search(r"Passed -- seed=\d+\s+([\d.]+)s simulated .* rpcs\s+(\d+)", line)
        if m:
            passed.append((float(m.group(1)), int(m.group(2))))
            continue
        m = re.match(r"ok \d+ (\S+)", line)
        if m:
            tests += 1
            if m.group(1).startswith("/raft/cluster/") and passed:
                name = m.group(1)[len("/raft/cluster/"):]
                sims, rpcs = [p[0] for p in passed], [p[1] for p in passed]
                rows.append([name, f"{statistics.mean(sims):.1f}", f"{statistics.mean(rpcs):,.0f}",
                             rng(sims, lambda v: f"{v:.0f}"), rng(rpcs, lambda v: f"{v:,}"), str(len(passed)),
                             "", "", ""])
                total_sim += sum(sims)
                runs += len(passed)
            passed = []
    rows.append(["whole-binary", f"{total_sim:,.0f}", "", "", "", f"{runs}", f"{real:.1f}", f"{cpu:.1f}", f"{tests}"])
    return header("build/tests/test_raft --tap, the default seeds; per /raft/cluster test: mean (and min–max) "
                  "of simulated seconds and RPCs over its seeds; the last row is the whole binary: its simulated "
                  "seconds, cluster runs, wall-clock and CPU seconds, test count") + \
        ["\t".join(["test", "simulated_s", "rpcs", "simulated_range", "rpcs_range", "seeds", "real_s", "cpu_s",
                    "tests"])] + \
        ["\t".join(r) for r in rows]


def raft_swarm(seeds=1000):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([SIM, "swarm", "raft-random", "--seeds", f"1-{seeds}"], capture_output=True, text=True)
    real = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    failed = sum(1 for l in out.stdout.splitlines() if "replay" in l)
    one = [sim_run(["raft-random", "--seed", str(k)]) for k in range(1, 6)]
    simulated = one[0]["sim"]
    rows = [["swarm", f"{seeds:,}", f"{simulated * seeds:,.0f}", f"{real:.1f}", f"{cpu:.1f}",
             f"{simulated * seeds / real:,.0f}", f"{simulated * seeds / cpu:,.0f}", str(failed if out.returncode else 0)],
            ["one-run", "1", f"{simulated:.0f}", "", "",
             rng([r["sim"] / max(r["real"], 1e-6) for r in one], lambda v: f"{v:,.0f}"),
             rng([r["sim"] / max(r["cpu"], 1e-6) for r in one], lambda v: f"{v:,.0f}"), ""]]
    return header(f"minijet-sim swarm raft-random --seeds 1-{seeds} (both cores), and seeds 1-5 run alone; "
                  "x_real and x_cpu are simulated seconds per wall-clock / CPU second") + \
        ["\t".join(["run", "seeds", "simulated_s", "real_s", "cpu_s", "x_real", "x_cpu", "failed"])] + \
        ["\t".join(r) for r in rows]


def raft_bugs(sim_seeds=40):
    """Chapter 9: how often a random search catches the broken commit rule (Figure 8): the unit
    test's adversary (/raft/broken/figure8-random) and the simulator's raft-figure8 scenario with
    --bug raft-commit-old-term over seeds 1..sim_seeds."""
    out = subprocess.run([RAFT, "-p", "/raft/broken/figure8-random", "--verbose"], capture_output=True, text=True)
    m = re.search(r"caught on (\d+) of (\d+) adversary seeds", out.stdout)
    first = re.search(r"first caught: seed=(\d+) t=\S+ (.*)", out.stdout)
    if out.returncode != 0 or not m or not first:
        raise ResultError("test_raft /raft/broken/figure8-random did not report what it caught")
    caught = [k for k in range(1, sim_seeds + 1)
              if subprocess.run([SIM, "run", "raft-figure8", "--seed", str(k), "--bug", "raft-commit-old-term"],
                                capture_output=True).returncode == 1]
    return header("the broken commit rule (RaftConfig.bug raft-commit-old-term) under random search: "
                  "build/tests/test_raft -p /raft/broken/figure8-random --verbose, and minijet-sim run raft-figure8 "
                  f"--seed N --bug raft-commit-old-term for N in 1..{sim_seeds} (exit 1 = caught)") + \
        ["\t".join(["search", "seeds", "caught", "first_seed", "first_violation", "caught_seeds"]),
         "\t".join(["unit-adversary", m.group(2), m.group(1), first.group(1), first.group(2), ""]),
         "\t".join(["sim-figure8", f"1–{sim_seeds}", str(len(caught)), str(caught[0]) if caught else "", "",
                    ", ".join(map(str, caught))])]


SUBLIST = os.path.join(ROOT, "build", "tests", "test_sublist")
SUBLIST_ROWS = [("cached", "cached match, 16-byte subject"), ("uncached", "uncached match (incl. snprintf)"),
                ("first-sighting", "unique ack subject + hot subject (incl. snprintf)"),
                ("insert-remove", "literal insert+remove")]


def sublist_perf(rounds=5):
    """Chapter 4.5: what one trie operation costs, the best of ROUNDS runs of the perf test."""
    best = {}
    for _ in range(rounds):
        out = subprocess.run([SUBLIST, "-m", "perf", "-p", "/sublist/perf"], capture_output=True, text=True)
        if out.returncode != 0:
            raise ResultError("build/tests/test_sublist -m perf failed; fix it before measuring")
        for m in re.finditer(r"min perf: (.*): ([\d.]+) ns", out.stdout):
            best[m.group(1)] = min(best.get(m.group(1), float("inf")), float(m.group(2)))
    rows = []
    for rid, label in SUBLIST_ROWS:
        if label not in best:
            raise ResultError(f"test_sublist printed no 'min perf: {label}'")
        ns = best[label]
        rows.append([rid, f"{ns:.0f} ns" if ns < 1000 else f"{ns / 1000:.1f} µs", f"{ns:.1f}", label])
    return header(f"build/tests/test_sublist -m perf -p /sublist/perf, the best of {rounds} runs (each run's figure is "
                  "already its minimum over repetitions); 10 000 literal subscriptions plus a * queue and a > "
                  "subscription") + \
        ["\t".join(["operation", "cost", "ns", "test_label"])] + ["\t".join(r) for r in rows]


FAILOVER_SWARMS = [("failover-random", 1000), ("failover-workqueue", 200), ("failover-interest", 200)]


def failover_swarm(jobs=2):
    """Chapter 11: make swarm's seeds of failover-random (an R3 stream under random crashes,
    pauses, clock jumps and partitions) and of the retention scenarios, every run checked
    against Raft's properties, the replicas and the queue checker, whose classes (Jepsen's:
    ok, lost, unexpected, duplicated, unknown, recovered) are summed over the seeds."""
    rows = []
    for scenario, seeds in FAILOVER_SWARMS:
        t0 = time.monotonic()
        out = subprocess.run([SIM, "swarm", scenario, "--seeds", f"1-{seeds}", "--jobs", str(jobs)],
                             capture_output=True, text=True)
        wall = time.monotonic() - t0
        m = re.search(r"^swarm: (\d+) seeds, (\d+) failing$", out.stdout, re.M)
        q = re.search(r"^queue: (\d+) runs judged: ok (\d+), lost (\d+), unexpected (\d+), duplicated (\d+), "
                      r"unknown (\d+), recovered (\d+)$", out.stdout, re.M)
        if not m or not q:
            raise ResultError(f"minijet-sim swarm {scenario} printed no summary: {out.stderr.strip()[-300:]}")
        simulated = sim_run([scenario, "--seed", "1"])["sim"] * seeds
        rows.append("\t".join([scenario, f"1–{seeds:,}", f"{int(m.group(1)):,}", m.group(2)] +
                              [f"{int(q.group(i)):,}" for i in range(2, 8)] +
                              [str(jobs), f"{wall:,.0f} s", f"{simulated:,.0f} s", f"{simulated / wall:.0f}×",
                               time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())]))
    what = ", ".join(f"minijet-sim swarm {sc} --seeds 1-{n} --jobs {jobs}" for sc, n in FAILOVER_SWARMS)
    return header(f"{what} (make swarm); ok..recovered are the queue checker's classes summed over every seed; "
                  "wall_s is wall-clock seconds for the whole swarm, x_real simulated seconds per wall-clock second") + \
        ["\t".join(["scenario", "seeds", "runs", "failing", "ok", "lost", "unexpected", "duplicated", "unknown",
                    "recovered", "jobs", "wall_s", "simulated_s", "x_real", "when"])] + rows


CALLGRIND_COMMITS = [("before", "c99a762"), ("after", "98c4360")]
CALLGRIND_FUNCS = ["stream_on_msg", "consumer_deliver", "send_msg", "file_load", "on_ack"]


def callgrind(n=3000, port=14931):
    """Appendix B.7: instructions per message, inclusive, of the publish/deliver/ack path, on
    the commits before and after the optimisations: each is exported (git archive) and built
    under /tmp, its server runs under callgrind while `minijet-bench -n N pull` fills a stream
    with N messages and consumes them, and callgrind_annotate gives the inclusive counts."""
    import shutil
    import signal
    rows = {f: [] for f in CALLGRIND_FUNCS + ["total"]}
    for label, commit in CALLGRIND_COMMITS:
        d = tempfile.mkdtemp(prefix=f"minijet-{commit}-")
        try:
            subprocess.run(f"git -C {ROOT} archive {commit} | tar -x -C {d}", shell=True, check=True)
            subprocess.run(["make", "-C", d, "-j2", "build/minijet-server", "build/minijet-bench"], check=True,
                           capture_output=True)
            out = os.path.join(d, "callgrind.out")
            store = os.path.join(d, "store")
            srv = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                    os.path.join(d, "build", "minijet-server"), "-a", "127.0.0.1", "-p", str(port),
                                    "-js", "-sd", store], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(300):  # valgrind starts slowly
                try:
                    socket_ok = subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
                                               capture_output=True).returncode == 0
                except OSError:
                    socket_ok = False
                if socket_ok:
                    break
                time.sleep(0.2)
            subprocess.run([os.path.join(d, "build", "minijet-bench"), "-p", str(port), "-n", str(n), "pull"],
                           check=True, capture_output=True, timeout=600)
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=120)
            ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                                 capture_output=True, text=True, check=True).stdout
            total = re.search(r"^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", ann, re.M)
            rows["total"].append(f"{int(total.group(1).replace(',', '')) / 1e6:.1f} M")
            for f in CALLGRIND_FUNCS:  # the function's own entry in the server binary (any clone of it)
                hits = [int(m.group(1).replace(",", "")) for m in re.finditer(
                    r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*:" + f + r"(?:\.part\.\d+|\.constprop\.\d+|'2)?\s+\[", ann, re.M)]
                rows[f].append(f"{max(hits) / n:,.0f}" if hits else "")
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return header(f"valgrind --tool=callgrind on minijet-server while `minijet-bench -n {n} pull` fills a stream "
                  f"with {n} messages and consumes them; inclusive instructions per message (the total: the whole "
                  f"run), commits {', '.join(c for _, c in CALLGRIND_COMMITS)}") + \
        ["\t".join(["function"] + [l for l, _ in CALLGRIND_COMMITS])] + \
        ["\t".join([f] + v) for f, v in rows.items()]


MEASURE = {"sim-speed": sim_speed, "sim-scenarios": sim_scenarios, "raft-tests": raft_tests,
           "raft-swarm": raft_swarm, "failover-swarm": failover_swarm, "sublist-perf": sublist_perf, "raft-bugs": raft_bugs, "callgrind": callgrind}


def main(argv):
    names = argv[1:] or sorted(MEASURE)
    for n in names:
        if n not in MEASURE:
            print(f"unknown results file {n}; known: {', '.join(sorted(MEASURE))}", file=sys.stderr)
            return 64
        lines = MEASURE[n]()
        os.makedirs(DIR, exist_ok=True)
        with open(os.path.join(DIR, n + ".tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"book/results/{n}.tsv: {len(lines)} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
