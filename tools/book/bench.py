"""tools/book/bench.py — every benchmark figure in the book, the README and bench/LATEST.md,
generated from one results file, never typed.

bench/results/LATEST names the runs that are "the results" (written by bench/compare.sh and
bench/scaling.sh after a full run):
    bench   2026-11-26_144733            -> bench/results/<stamp>-summary.csv
    scaling 2026-11-26_145725-scaling    -> bench/results/<stamp>-summary.csv
A Markdown file holds a generated table between
    <!-- bench:NAME -->   and   <!-- bench:end -->
where NAME is one of TABLES below. `python3 tools/book/book.py bench-sync` rewrites those
regions; `make book` and `make book-test` fail when a region differs from what the results
file gives (so a number typed by hand, or a stale one, cannot stay). The book's bench chart
is drawn by `make book` from the same file (plots/bench.gp), as `make bench` draws
plots/bench.png.
"""
import csv
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LATEST = "bench/results/LATEST"
FILES = ["README.md", "bench/LATEST.md", "book/B-where-the-time-goes.md"]
REGION_RE = re.compile(r"(<!-- bench:(\w[\w-]*) -->\n)(.*?)(<!-- bench:end -->)", re.S)


class BenchError(Exception):
    pass


def runs():
    path = os.path.join(ROOT, LATEST)
    if not os.path.isfile(path):
        raise BenchError(f"{LATEST} is missing (it names the results every figure comes from)")
    out = {}
    for line in open(path, encoding="utf-8"):
        f = line.split("#", 1)[0].split()
        if len(f) == 2:
            out[f[0]] = f[1]
    for k in ("bench", "scaling"):
        if k not in out:
            raise BenchError(f"{LATEST}: no '{k} <stamp>' line")
        if not os.path.isfile(os.path.join(ROOT, "bench", "results", out[k] + "-summary.csv")):
            raise BenchError(f"{LATEST}: bench/results/{out[k]}-summary.csv does not exist")
    return out


def summary(stamp):
    with open(os.path.join(ROOT, "bench", "results", stamp + "-summary.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def ratio(rows, scenario, metric):
    for r in rows:
        if r["scenario"] == scenario and r["metric"] == metric:
            return float(r["ratio"])
    raise BenchError(f"the results have no row {scenario},{metric}")


def scaling(rows, figure, server, x):
    for r in rows:
        if r["figure"] == figure and r["server"] == server and r["x"] == str(x):
            return float(r["median"])
    raise BenchError(f"the scaling results have no row {figure},{server},{x}")


def fx(v):
    return f"{v:.2f}×"


# (label, [(scenario, metric)], lower_is_better, target as (op, value) or None)
HEADLINE = [
    ("publish only, 16 B", [("pub", "msgs_per_s")], False, (">=", 1.0)),
    ("pub→sub 1:1, 16 B", [("pubsub", "msgs_per_s")], False, (">=", 1.2)),
    ("fan-out 1→4", [("fanout", "msgs_per_s")], False, (">=", 1.0)),
    ("queue group of 4", [("queue", "msgs_per_s")], False, (">=", 1.0)),
    ("request/reply p99 (lower is better)", [("reqrep", "p99_us")], True, ("<=", 1.0)),
    ("JetStream sync publish, equal policy", [("jspub (sync 2m)", "msgs_per_s")], False, (">=", 1.0)),
    ("JetStream sync publish, fsync before ack", [("jspub", "msgs_per_s")], False, None),
    ("JetStream async publish, equal policy", [("jspubasync (sync 2m)", "msgs_per_s")], False, (">=", 1.0)),
    ("JetStream async publish, fsync before ack", [("jspubasync", "msgs_per_s")], False, (">=", 0.5)),
    ("pull consume with acks (batches of 100)", [("pull", "msgs_per_s")], False, (">=", 1.5)),
    ("push consume with acks", [("push", "msgs_per_s")], False, None),
    ("KV put, equal policy / fsync before ack", [("kvput (sync 2m)", "msgs_per_s"), ("kvput", "msgs_per_s")], False,
     (">=", 1.0)),
    ("KV get", [("kvget", "msgs_per_s")], False, (">=", 1.0)),
    ("object put 100 MiB (nats.js), equal policy / fsync before ack",
     [("objput (sync 2m)", "MB_per_s"), ("objput", "MB_per_s")], False, None),
    ("object get 100 MiB (nats.js)", [("objget", "MB_per_s")], False, None),
]


def memory_ratio(sc):
    return scaling(sc, "idle_conn", "minijet", 1000) / scaling(sc, "idle_conn", "nats-server", 1000)


def table_headline(b, sc):
    out = ["| scenario | minijet ÷ nats-server | target (issue 9) |", "| --- | --- | --- |"]
    for label, specs, lower, target in HEADLINE:
        vals = [ratio(b, s, m) for s, m in specs]
        shown = " / ".join(fx(v) for v in vals)
        if target is None:
            t = "—"
        else:
            op, want = target
            ok = vals[0] >= want if op == ">=" else vals[0] <= want
            t = f"{'≥' if op == '>=' else '≤'} {want:.1f}× — {'holds' if ok else '**does not hold**'}"
        out.append(f"| {label} | {shown} | {t} |")
    m = memory_ratio(sc)
    out.append(f"| memory per idle connection (lower is better) | {fx(m)} "
               f"({scaling(sc, 'idle_conn', 'minijet', 1000):,.0f} B vs "
               f"{scaling(sc, 'idle_conn', 'nats-server', 1000):,.0f} B) | ≤ 1.0× — "
               f"{'holds' if m <= 1.0 else '**does not hold**'} |")
    return out


def table_pairs(b, sc):
    """The README's compact two-column version of the headline."""
    cells = []
    for label, specs, lower, target in HEADLINE:
        if label.startswith("JetStream sync publish, fsync"):
            continue
        cells.append((label, " / ".join(fx(ratio(b, s, m)) for s, m in specs)))
    cells.append(("memory per idle connection (lower is better)", fx(memory_ratio(sc))))
    half = (len(cells) + 1) // 2
    out = ["| scenario | ratio | | scenario | ratio |", "| --- | --- | --- | --- | --- |"]
    for i in range(half):
        a = cells[i]
        c = cells[half + i] if half + i < len(cells) else ("", "")
        out.append(f"| {a[0]} | {a[1]} | | {c[0]} | {c[1]} |")
    return out


def human(v, metric):
    if metric.endswith("_us"):
        return f"{v:,.0f} µs"
    if metric == "MB_per_s":
        return f"{v:.1f}"
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.{2 if unit == 'M' else 1}f}{unit}"
    return f"{v:.0f}"


METRIC_NAMES = {"msgs_per_s": "msgs/s", "p50_us": "p50 latency", "p99_us": "p99 latency", "MB_per_s": "MB/s"}


def table_full(b, sc):
    out = ["| scenario | metric | minijet median (min – max) | nats-server median (min – max) | minijet ÷ nats-server |",
           "| --- | --- | --- | --- | --- |"]
    for r in b:
        m = r["metric"]
        mj = f"{human(float(r['minijet_median']), m)} ({human(float(r['minijet_min']), m)} – {human(float(r['minijet_max']), m)})"
        ns = f"{human(float(r['nats_median']), m)} ({human(float(r['nats_min']), m)} – {human(float(r['nats_max']), m)})"
        note = " (lower is better)" if r["better"] == "lower" else ""
        out.append(f"| {r['scenario']} | {METRIC_NAMES.get(m, m)} | {mj} | {ns} | {fx(float(r['ratio']))}{note} |")
    return out


def table_source(b, sc):
    r = runs()
    return [f"Generated from `bench/results/{r['bench']}-summary.csv` and "
            f"`bench/results/{r['scaling']}-summary.csv` (named by `{LATEST}`)."]


TABLES = {"headline": table_headline, "pairs": table_pairs, "full": table_full, "source": table_source}


def generate(name):
    if name not in TABLES:
        raise BenchError(f"no generated table '{name}' (tools/book/bench.py has {', '.join(sorted(TABLES))})")
    r = runs()
    return "\n".join(TABLES[name](summary(r["bench"]), summary(r["scaling"]))) + "\n"


def sync(write):
    """[(file, region)] that differ from the results; rewritten when write is true."""
    stale = []
    for rel in FILES:
        path = os.path.join(ROOT, rel)
        text = open(path, encoding="utf-8").read()
        new = REGION_RE.sub(lambda m: m.group(1) + generate(m.group(2)) + m.group(4), text)
        if new != text:
            stale += [(rel, m.group(2)) for m in REGION_RE.finditer(text)
                      if m.group(3) != generate(m.group(2))]
            if write:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    return stale


def chart(dest):
    """Draw the bench chart from the results file into dest (plots/bench.gp, as make bench)."""
    r = runs()
    rows = [l for l in open(os.path.join(ROOT, "bench", "results", r["bench"] + "-summary.csv"), encoding="utf-8")
            if ",p50_us," not in l]
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    data = dest + ".csv"
    with open(data, "w", encoding="utf-8") as f:
        f.writelines(rows)
    stamp = r["bench"][:10]
    p = subprocess.run(["gnuplot", "-e", f"datafile='{data}'; outfile='{dest}'; subtitle='{stamp}, results "
                        f"{r['bench']}'", os.path.join(ROOT, "plots", "bench.gp")], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"gnuplot failed on plots/bench.gp: {p.stderr.strip()[:300]}")
