"""tools/book/bench.py — every benchmark figure in the book, the README and bench/LATEST.md,
generated from one results file, never typed.

bench/results/LATEST names the runs that are "the results" (written by bench/compare.sh and
bench/scaling.sh after a full run; the optional lines by hand, after a partial sitting):
    bench      2026-11-26_144733            -> bench/results/<stamp>-summary.csv
    scaling    2026-11-26_145725-scaling    -> bench/results/<stamp>-summary.csv
    clusters   2026-12-06_001600-partial    -> bench/results/<stamp>-summary.csv
    replicated <stamp>-partial   R3 publish and failover (SCENARIOS="jspub jspubasync jspub-r3
                                 jspubasync-r3 failover" bench/compare.sh)
    layers     <stamp>-partial   the single-server scenarios beside the build before issue 12's
                                 layering (MINIJET_BASE=... bench/compare.sh)
    ceiling    <stamp>-partial   sync publish beside the disk's fdatasync rate (SCENARIOS="jspub
                                 kvput" bench/compare.sh; issue 15)
    restart    <stamp>-scaling-partial   the restart rows alone (FIGURES=restart bench/scaling.sh
                                 writes this line): bench/LATEST.md's restart table and the
                                 summary's restart row; appendix B.9 keeps the full run's
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
FILES = ["README.md", "bench/LATEST.md", "book/B-where-the-time-goes.md", "book/11-clustering.md"]
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
    for k in out:
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
        if m not in METRIC_NAMES:  # the opt-in failover rows (kill_to_ack_ms, ...): the replicated table
            continue
        mj = f"{human(float(r['minijet_median']), m)} ({human(float(r['minijet_min']), m)} – {human(float(r['minijet_max']), m)})"
        if r["nats_median"] == "":  # the disk ceiling rows (fsync-*): no server
            out.append(f"| {r['scenario']} (the disk alone) | {METRIC_NAMES.get(m, m)} | {mj} | — | — |")
            continue
        ns = f"{human(float(r['nats_median']), m)} ({human(float(r['nats_min']), m)} – {human(float(r['nats_max']), m)})"
        note = " (lower is better)" if r["better"] == "lower" else ""
        out.append(f"| {r['scenario']} | {METRIC_NAMES.get(m, m)} | {mj} | {ns} | {fx(float(r['ratio']))}{note} |")
    return out


def table_source(b, sc):
    r = runs()
    return [f"Generated from `bench/results/{r['bench']}-summary.csv` and "
            f"`bench/results/{r['scaling']}-summary.csv` (named by `{LATEST}`)."]


def row(b, scenario, metric):
    for r in b:
        if r["scenario"] == scenario and r["metric"] == metric:
            return r
    raise BenchError(f"the results have no row {scenario},{metric}")


def table_objstore(b, sc):
    """B.8: the object store rows, in MB/s."""
    out = ["| scenario | minijet median (min – max) | nats-server median (min – max) | minijet ÷ nats-server |",
           "| --- | --- | --- | --- |"]
    for label, scen in (("objput, 100 MiB", "objput"), ("objput (sync 2m)", "objput (sync 2m)"),
                        ("objget, 100 MiB", "objget")):
        r = row(b, scen, "MB_per_s")
        out.append(f"| {label} | {float(r['minijet_median']):.1f} MB/s ({float(r['minijet_min']):.1f} – "
                   f"{float(r['minijet_max']):.1f}) | {float(r['nats_median']):.1f} MB/s ({float(r['nats_min']):.1f} – "
                   f"{float(r['nats_max']):.1f}) | {fx(float(r['ratio']))} |")
    return out


def srow(sc, figure, server, x):
    for r in sc:
        if r["figure"] == figure and r["server"] == server and r["x"] == str(x):
            return r
    raise BenchError(f"the scaling results have no row {figure},{server},{x}")


def xs(sc, figure, server):
    return sorted({int(r["x"]) for r in sc if r["figure"] == figure and r["server"] == server})


def mega(v):
    return f"{v / 1e6:.2f}"


def kilo(v, d=0):
    return f"{v / 1e3:.{d}f}k"


def table_scaling_subs(b, sc):
    out = ["| subscriptions | minijet msgs/s (min – max) | nats-server msgs/s (min – max) | ratio | "
           "ns per delivered message, minijet / nats-server |", "| --- | --- | --- | --- | --- |"]
    for x in xs(sc, "subs", "minijet"):
        m, n = srow(sc, "subs", "minijet", x), srow(sc, "subs", "nats-server", x)
        mv, nv = float(m["median"]), float(n["median"])
        out.append(f"| {x} | {mega(mv)}M ({mega(float(m['min']))} – {mega(float(m['max']))}) | {mega(nv)}M "
                   f"({mega(float(n['min']))} – {mega(float(n['max']))}) | {fx(mv / nv)} | {1e9 / mv:.0f} / {1e9 / nv:.0f} |")
    return out


def table_scaling_grow(b, sc):
    out = ["| messages in stream | minijet | minijet (sync 2m) | nats-server | minijet ÷ nats-server | "
           "(sync 2m) ÷ nats-server |", "| --- | --- | --- | --- | --- | --- |"]
    for x in xs(sc, "grow", "minijet"):
        m, m2, n = (float(srow(sc, "grow", s, x)["median"]) for s in ("minijet", "minijet-2m", "nats-server"))
        out.append(f"| {x // 1000}k | {kilo(m)} | {kilo(m2)} | {kilo(n)} | {fx(m / n)} | {fx(m2 / n)} |")
    return out


def table_scaling_consumers(b, sc):
    out = ["| consumers | minijet | minijet (sync 2m) | nats-server | minijet ÷ nats-server | (sync 2m) ÷ nats-server "
           "| ms to add one: minijet / nats-server |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for x in xs(sc, "consumers", "minijet"):
        m, m2, n = (float(srow(sc, "consumers", s, x)["median"]) for s in ("minijet", "minijet-2m", "nats-server"))
        am, an = (float(srow(sc, "consumer_add", s, x)["median"]) for s in ("minijet", "nats-server"))
        out.append(f"| {x} | {kilo(m, 1)} | {kilo(m2, 1)} | {kilo(n, 1)} | {fx(m / n)} | {fx(m2 / n)} | "
                   f"{am:.1f} / {an:.1f} |")
    return out


def mib(kb):
    v = kb / 1024
    return f"{v:.1f} MiB" if v < 10 else f"{v:.0f} MiB"


def table_scaling_memory(b, sc):
    def v(fig, srv, x):
        return float(srow(sc, fig, srv, x)["median"])
    out = ["| figure | minijet | nats-server | minijet ÷ nats-server |", "| --- | --- | --- | --- |",
           f"| VmRSS of a fresh server | {mib(v('idle_conn_rss_before', 'minijet', 0))} | "
           f"{mib(v('idle_conn_rss_before', 'nats-server', 0))} | |"]
    rows = [("RSS per idle connection (1,000 open)", "idle_conn", 1000),
            ("RSS per stored 128 B message (100,000)", "stored_msg_rss", 100000)]
    big = [x for x in xs(sc, "stored_msg_rss", "minijet") if x > 100000]  # runs since issue 15
    rows += [(f"RSS per stored 128 B message ({x:,})", "stored_msg_rss", x) for x in big]
    rows.append(("disk per stored 128 B message", "stored_msg_disk", 100000))
    for label, fig, x in rows:
        m, n = v(fig, "minijet", x), v(fig, "nats-server", x)
        out.append(f"| {label} | {m:,.0f} B | {n:,.0f} B | {fx(m / n)} |")
    return out


def rss_per_msg_after_restart(sc, server, x, fig="restart"):
    """RSS after a restart on x messages less a fresh server's, per message (bytes)."""
    fresh = "fresh_rss" if xs(sc, "fresh_rss", server) else "idle_conn_rss_before"
    return ((float(srow(sc, fig + "_rss", server, x)["median"])
             - float(srow(sc, fresh, server, 0)["median"])) * 1024 / x)


def restart_rows(sc):
    """The rows the restart figures come from: LATEST's `restart` sitting if it names one."""
    r = runs()
    return summary(r["restart"]) if "restart" in r else sc


def table_restart(b, sc):
    """bench/LATEST.md: restart until served, minijet beside nats-server, from the restart sitting."""
    rs = restart_rows(sc)

    def cell(fig, srv, x):
        m = srow(rs, fig, srv, x)
        return f"{float(m['median']):.3f} s ({float(m['min']):.3f} – {float(m['max']):.3f}), {m['runs']} runs"
    out = ["| restart until the stream is served | minijet | nats-server 2.9.10 | ratio | RSS per message after the "
           "restart, minijet / nats-server | target (issue 15) |", "| --- | --- | --- | --- | --- | --- |"]
    figs = [("restart", x, f"{x:,} messages of 128 B") for x in xs(rs, "restart", "minijet")]
    figs += [("restart_ids", x, f"{x:,} messages, each with a Nats-Msg-Id, inside the dedup window")
             for x in xs(rs, "restart_ids", "minijet")]
    for fig, x, label in figs:
        if x not in xs(rs, fig, "nats-server"):
            continue
        ratio = float(srow(rs, fig, "minijet", x)["median"]) / float(srow(rs, fig, "nats-server", x)["median"])
        target = "" if fig != "restart" or x < 1000000 else ("≤ 2× — holds" if ratio <= 2 else "≤ 2× — **not met**")
        out.append(f"| {label} | {cell(fig, 'minijet', x)} | {cell(fig, 'nats-server', x)} | {ratio:.1f}× | "
                   f"{rss_per_msg_after_restart(rs, 'minijet', x, fig):.0f} B / "
                   f"{rss_per_msg_after_restart(rs, 'nats-server', x, fig):.0f} B | {target} |")
    r = runs()
    st = r.get("restart", r["scaling"])
    out.append("")
    out.append(f"Generated from `bench/results/{st}-summary.csv` (the `{'restart' if 'restart' in r else 'scaling'}` "
               f"line of `{LATEST}`; the sitting of {st[:10]} {st[11:13]}:{st[13:15]} UTC).")
    return out


def table_scaling_restart(b, sc):
    out = ["| messages | minijet: ready (s) | minijet RSS after restart | nats-server: ready (s) | "
           "nats-server RSS after restart | ratio (ready) | RSS per message over a fresh server, minijet / nats-server |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for x in xs(sc, "restart", "minijet"):
        m, n = srow(sc, "restart", "minijet", x), srow(sc, "restart", "nats-server", x)
        rm, rn = (float(srow(sc, "restart_rss", s, x)["median"]) for s in ("minijet", "nats-server"))
        pm, pn = (rss_per_msg_after_restart(sc, s, x) for s in ("minijet", "nats-server"))
        ratio = float(m['median']) / float(n['median'])
        out.append(f"| {x:,} | {float(m['median']):.3f} ({float(m['min']):.3f} – {float(m['max']):.3f}), "
                   f"{m['runs']} runs | {mib(rm)} | "
                   f"{float(n['median']):.3f} ({float(n['min']):.3f} – {float(n['max']):.3f}), {n['runs']} runs | "
                   f"{mib(rn)} | {ratio:.1f}× | {pm:.0f} B / {pn:.0f} B |")
    return out


def table_scaling_many(b, sc):
    """The many-streams restart (issue 15): absent from scaling runs before it."""
    if not xs(sc, "restart_many", "minijet"):
        return ["(this scaling run has no many-streams figure)"]
    out = ["| streams | minijet: ready (s) | open files | nats-server: ready (s) | open files | ratio (ready) |",
           "| --- | --- | --- | --- | --- | --- |"]
    for x in xs(sc, "restart_many", "minijet"):
        m = srow(sc, "restart_many", "minijet", x)
        fm = float(srow(sc, "many_open_files", "minijet", x)["median"])
        mcell = f"{float(m['median']):.3f} ({float(m['min']):.3f} – {float(m['max']):.3f}), {m['runs']} runs"
        if x not in xs(sc, "restart_many", "nats-server"):  # it could not create them (the run's failures)
            out.append(f"| {x:,} | {mcell} | {fm:.0f} | not measured: nats-server failed to create the "
                       f"{x:,} streams (\"error creating store for stream\", err_code 10049) | | |")
            continue
        n = srow(sc, "restart_many", "nats-server", x)
        fn = float(srow(sc, "many_open_files", "nats-server", x)["median"])
        out.append(f"| {x:,} | {mcell} | {fm:.0f} | {float(n['median']):.3f} ({float(n['min']):.3f} – "
                   f"{float(n['max']):.3f}), {n['runs']} runs | {fn:.0f} | "
                   f"{float(m['median']) / float(n['median']):.2f}× |")
    return out


def consumers_shape(fall):
    """The idle-consumers row's last cell: minijet's rate at the fewest consumers over the most."""
    if fall < 1.5:
        return " | flat on both (an append wakes only the consumers that can take it) |"
    return f" | minijet falls {fall:.0f}× (every append kicked every consumer); nats-server flat |"


def restart_shape(rs, restarts):
    """The restart row's last cell, from the figures: which design the sitting measured."""
    big = max(restarts)
    mj, ns = (float(srow(rs, "restart", k, big)["median"]) for k in ("minijet", "nats-server"))
    if mj <= 2 * ns:
        return (" | both flat: no per-message state until a segment (block) is read; minijet's per-segment"
                " summaries answer the stream's state |")
    return " | minijet: index files, then an in-memory entry per message (linear); nats-server loads blocks lazily |"


def table_scaling_summary(b, sc):
    """bench/LATEST.md's one-line-per-figure scaling summary."""
    def med(fig, srv, x):
        return float(srow(sc, fig, srv, x)["median"])

    def r(fig, x, srv="minijet"):
        return med(fig, srv, x) / med(fig, "nats-server", x)

    def secs(v):
        return f"{v:.1f}" if v >= 1 else f"{v:.2f}"
    grow = [r("grow", x) for x in xs(sc, "grow", "minijet")]
    grow2 = [r("grow", x, "minijet-2m") for x in xs(sc, "grow", "minijet")]
    cons = xs(sc, "consumers", "minijet")
    c_lo, c_hi = cons[0], cons[-1]
    subs = xs(sc, "subs", "minijet")
    mid = subs[len(subs) // 2]
    rs = restart_rows(sc)
    restarts = xs(rs, "restart", "minijet")
    out = ["| what grows | minijet ÷ nats-server | shape |", "| --- | --- | --- |",
           f"| subscriptions held, {subs[0]:,} → {subs[-1]:,} (pub→sub 1:1, 16 B; one matches) | "
           f"{fx(r('subs', subs[0]))} at {subs[0]:,}, {fx(r('subs', mid))} at {mid:,}, {fx(r('subs', subs[-1]))} at "
           f"{subs[-1]:,} | flat on both (match cache); nats-server at {subs[-1]:,}: "
           f"{med('subs', 'nats-server', subs[-1]) / med('subs', 'nats-server', subs[0]):.2f} of its rate at {subs[0]:,} |",
           f"| stream size, 0 → {xs(sc, 'grow', 'minijet')[-1] // 1000:,}k messages (async publish, 128 B) | "
           f"{min(grow):.1f}–{max(grow):.1f}× (fsync before ack), {min(grow2):.1f}–{max(grow2):.1f}× (sync 2m), "
           f"per slice | flat on both |",
           f"| idle filtered pull consumers per stream, {c_lo:,} → {c_hi:,} (async publish) | "
           + ", ".join(f"{fx(r('consumers', x))} at {x:,}" for x in cons)
           + consumers_shape(med('consumers', 'minijet', c_lo) / med('consumers', 'minijet', c_hi)),
           f"| idle connections (RSS per connection, 1,000 open) | **{fx(r('idle_conn', 1000))}** "
           f"({med('idle_conn', 'minijet', 1000) / 1000:.1f} KB vs {med('idle_conn', 'nats-server', 1000) / 1000:.1f} KB)"
           f" | lower is better |",
           f"| stored 128 B messages (100,000): RSS / disk per message | {fx(r('stored_msg_rss', 100000))} / "
           f"{fx(r('stored_msg_disk', 100000))} ({med('stored_msg_rss', 'minijet', 100000):.0f} B vs "
           f"{med('stored_msg_rss', 'nats-server', 100000):.0f} B; {med('stored_msg_disk', 'minijet', 100000):.0f} B vs "
           f"{med('stored_msg_disk', 'nats-server', 100000):.0f} B) | lower is better |",
           "| restart until the stream is served, " + " / ".join(f"{x:,}" for x in restarts) + " messages | "
           + "; ".join(f"{secs(float(srow(rs, 'restart', 'minijet', x)['median']))} s vs "
                       f"{secs(float(srow(rs, 'restart', 'nats-server', x)['median']))} s" for x in restarts)
           + restart_shape(rs, restarts)]
    if [x for x in xs(sc, "stored_msg_rss", "minijet") if x > 100000]:
        x = max(xs(sc, "stored_msg_rss", "minijet"))
        out.append(f"| stored 128 B messages ({x:,}): RSS per message after publishing / after a restart | "
                   f"{fx(r('stored_msg_rss', x))} / "
                   f"{fx(rss_per_msg_after_restart(sc, 'minijet', x) / rss_per_msg_after_restart(sc, 'nats-server', x))} "
                   f"({med('stored_msg_rss', 'minijet', x):.0f} B vs {med('stored_msg_rss', 'nats-server', x):.0f} B; "
                   f"{rss_per_msg_after_restart(sc, 'minijet', x):.0f} B vs "
                   f"{rss_per_msg_after_restart(sc, 'nats-server', x):.0f} B) | lower is better |")
    for x in xs(sc, "restart_many", "minijet"):
        if x not in xs(sc, "restart_many", "nats-server"):
            out.append(f"| {x:,} streams of one message, restart under `ulimit -n 1024` | minijet "
                       f"{secs(med('restart_many', 'minijet', x))} s, {med('many_open_files', 'minijet', x):.0f} open "
                       f"files; nats-server could not create {x:,} | lower is better |")
            continue
        out.append(f"| {x:,} streams of one message, restart under `ulimit -n 1024` | "
                   f"{fx(r('restart_many', x))} ({secs(med('restart_many', 'minijet', x))} s vs "
                   f"{secs(med('restart_many', 'nats-server', x))} s; open files {med('many_open_files', 'minijet', x):.0f} "
                   f"vs {med('many_open_files', 'nats-server', x):.0f}) | lower is better |")
    return out


def table_clusters(b, sc):
    """bench/LATEST.md's cluster rows, from the sitting LATEST's optional `clusters` line names
    (a partial run: SCENARIOS="pub pubsub queue pubsub-route queue-route" bench/compare.sh)."""
    r = runs()
    if "clusters" not in r:
        raise BenchError(f"{LATEST}: no 'clusters <stamp>' line (the cluster sitting's results)")
    c = summary(r["clusters"])

    def cell(rr, who):
        k = "minijet" if who == "m" else "nats"
        return (f"{human(float(rr[k + '_median']), 'msgs_per_s')} ({human(float(rr[k + '_min']), 'msgs_per_s')}–"
                f"{human(float(rr[k + '_max']), 'msgs_per_s')})")
    out = ["| scenario | minijet median (min–max) | nats-server median (min–max) | ratio | target (issue 13) |",
           "| --- | --- | --- | --- | --- |"]
    for label, scen in (("pub→sub 16 B, publisher on node A, subscriber on node B (2-node clusters)", "pubsub-route"),
                        ("queue group of 4 over 3 nodes (2 on A, 1 on B, 1 on C), publisher on A", "queue-route")):
        rr = row(c, scen, "msgs_per_s")
        v = float(rr["ratio"])
        overlap = float(rr["minijet_max"]) >= float(rr["nats_min"]) and float(rr["nats_max"]) >= float(rr["minijet_min"])
        verdict = "holds" if v >= 1.0 else "parity within the noise (the spreads overlap)" if overlap \
            else "**does not hold**"
        out.append(f"| {label} | {cell(rr, 'm')} | {cell(rr, 'n')} | **{fx(v)}** | ≥ 1.0× — {verdict} |")
    single = [row(c, s_, "msgs_per_s") for s_ in ("pub", "pubsub", "queue")]
    out.append("| single server, same sitting: publish only / pub→sub / queue of 4 | "
               + " / ".join(human(float(x["minijet_median"]), "msgs_per_s") for x in single) + " | "
               + " / ".join(human(float(x["nats_median"]), "msgs_per_s") for x in single) + " | "
               + " / ".join(fx(float(x["ratio"])) for x in single) + " | — |")
    out.append("")
    st = r["clusters"]
    out.append(f"Generated from `bench/results/{st}-summary.csv` (the `clusters` line of `{LATEST}`; "
               f"the sitting of {st[:10]} {st[11:13]}:{st[13:15]} UTC).")
    return out


def cell_range(rr, who, fmt):
    k = "minijet" if who == "m" else "nats"
    return f"{fmt(float(rr[k + '_median']))} ({fmt(float(rr[k + '_min']))}–{fmt(float(rr[k + '_max']))})"


def sitting(key, what):
    r = runs()
    if key not in r:
        raise BenchError(f"{LATEST}: no '{key} <stamp>' line ({what})")
    return r[key], summary(r[key])


def table_replicated(b, sc):
    """bench/LATEST.md's replicated-stream rows (issue 14), from LATEST's `replicated` sitting."""
    st, c = sitting("replicated", "the R3 publish and failover sitting")
    rate = lambda v: human(v, "msgs_per_s")  # noqa: E731
    ms = lambda v: f"{v:,.0f} ms"  # noqa: E731
    count = lambda v: f"{v:,.0f}"  # noqa: E731
    out = ["| scenario | minijet median (min–max) | nats-server median (min–max) | minijet ÷ nats-server | target (issue 14) |",
           "| --- | --- | --- | --- | --- |"]

    def verdict(ok):
        return "holds" if ok else "**does not hold**"
    for label, scen, target in (
            ("R3 sync publish, equal policy (minijet `--sync_interval 2m`)", "jspub-r3 (sync 2m)", True),
            ("R3 sync publish, minijet's default: fsync before the ack", "jspub-r3", False),
            ("R3 async publish, equal policy (minijet `--sync_interval 2m`)", "jspubasync-r3 (sync 2m)", True),
            ("R3 async publish, minijet's default: fsync before the ack", "jspubasync-r3", False)):
        rr = row(c, scen, "msgs_per_s")
        v = float(rr["ratio"])
        t = f"≥ 1.0× — {verdict(v >= 1.0)}" if target else "—"
        out.append(f"| {label} (msgs/s) | {cell_range(rr, 'm', rate)} | {cell_range(rr, 'n', rate)} | **{fx(v)}** | {t} |")
    rr = row(c, "failover", "kill_to_ack_ms")
    out.append(f"| kill -9 of the stream leader → next acknowledged publish ({rr['minijet_runs']} kills each) | "
               f"{cell_range(rr, 'm', ms)} | {cell_range(rr, 'n', ms)} | {fx(float(rr['ratio']))} (lower is better) | "
               f"≤ 1 s — {verdict(float(rr['minijet_median']) <= 1000)} |")
    rr = row(c, "catchup-10k", "current_ms")
    out.append(f"| a follower restarted 10,000 messages behind → `current: true` ({rr['minijet_runs']} rounds each) | "
               f"{cell_range(rr, 'm', ms)} | {cell_range(rr, 'n', ms)} | {fx(float(rr['ratio']))} (lower is better) | "
               f"≤ 1 s — {verdict(float(rr['minijet_median']) <= 1000)} |")
    rf, rg = row(c, "stopped-follower", "failed_publishes"), row(c, "stopped-follower", "max_gap_ms")
    out.append(f"| a follower stopped (SIGSTOP) 10 s, then resumed: failed publishes ({rf['minijet_runs']} rounds each) | "
               f"{cell_range(rf, 'm', count)} | {cell_range(rf, 'n', count)} | — | "
               f"0 on minijet — {verdict(float(rf['minijet_max']) == 0)} |")
    out.append(f"| the same: longest time between two acknowledged publishes | {cell_range(rg, 'm', ms)} | "
               f"{cell_range(rg, 'n', ms)} | {fx(float(rg['ratio']))} (lower is better) | — |")
    if any(r["scenario"] == "stepdown" for r in c):  # sittings since the stepdown part (bench/failover.mjs -D)
        rg, rt = row(c, "stepdown", "max_gap_ms"), row(c, "stepdown", "timeouts")
        out.append(f"| stream leader stepdown: longest time without an acknowledged publish ({rg['minijet_runs']} rounds each) | "
                   f"{cell_range(rg, 'm', ms)} | {cell_range(rg, 'n', ms)} | {fx(float(rg['ratio']))} (lower is better) | — |")
        out.append(f"| the same: publish attempts that timed out (no answer in 500 ms) | {cell_range(rt, 'm', count)} | "
                   f"{cell_range(rt, 'n', count)} | — | — |")
    single = [row(c, s_, "msgs_per_s") for s_ in ("jspub (sync 2m)", "jspubasync (sync 2m)")]
    out.append("| single server, same sitting, equal policy: sync / async publish | "
               + " / ".join(rate(float(x["minijet_median"])) for x in single) + " | "
               + " / ".join(rate(float(x["nats_median"])) for x in single) + " | "
               + " / ".join(fx(float(x["ratio"])) for x in single) + " | — |")
    out.append("")
    out.append(f"Generated from `bench/results/{st}-summary.csv` and `bench/results/{st}-failover.csv` (the "
               f"`replicated` line of `{LATEST}`; the sitting of {st[:10]} {st[11:13]}:{st[13:15]} UTC).")
    return out


def table_layers(b, sc):
    """Appendix B.10 and bench/LATEST.md: the single-server scenarios beside the build from before
    issue 12's layering, one sitting (LATEST's `layers` line; MINIJET_BASE=... bench/compare.sh)."""
    st, c = sitting("layers", "the sitting with the pre-layering build")
    base = sorted({r["scenario"][r["scenario"].index("(") + 1:-1] for r in c
                   if "(" in r["scenario"] and r["scenario"].endswith(")") and "sync 2m" not in r["scenario"]})
    if len(base) != 1:
        raise BenchError(f"bench/results/{st}-summary.csv: expected one second-build label, found {base}")
    label = base[0]
    out = [f"| scenario | metric | minijet ÷ nats-server | {label} ÷ nats-server | minijet ÷ {label} |",
           "| --- | --- | --- | --- | --- |"]
    for r in c:
        scen, met = r["scenario"], r["metric"]
        if "(" in scen and not scen.endswith("(sync 2m)"):
            continue
        if met == "p50_us" or (met == "p99_us" and not scen.startswith("reqrep")):
            continue
        bscen = scen.replace("(sync 2m)", f"({label} sync 2m)") if scen.endswith("(sync 2m)") else f"{scen} ({label})"
        br = row(c, bscen, met)
        new, old = float(r["minijet_median"]), float(br["minijet_median"])
        note = " (lower is better)" if r["better"] == "lower" else ""
        out.append(f"| {scen} | {METRIC_NAMES.get(met, met)}{note} | {fx(float(r['ratio']))} | {fx(float(br['ratio']))} | "
                   f"{fx(new / old)} |")
    out.append("")
    out.append(f"Generated from `bench/results/{st}-summary.csv` (the `layers` line of `{LATEST}`; the sitting of "
               f"{st[:10]} {st[11:13]}:{st[13:15]} UTC).")
    return out


def table_sync_ceiling(b, sc):
    """bench/LATEST.md and chapter 5: a sync publish with fsync before its ack beside the disk's
    own fdatasync rate, one sitting (LATEST's `ceiling` line; SCENARIOS="jspub kvput"
    bench/compare.sh, the fsync-* rows run in jspub's rounds; issue 15)."""
    st, c = sitting("ceiling", "the sync publish and disk ceiling sitting")
    rate = lambda v: human(v, "msgs_per_s")  # noqa: E731
    us = lambda v: human(v, "p50_us")  # noqa: E731
    ceiling = float(row(c, "fsync-prealloc", "msgs_per_s")["minijet_median"])
    out = ["| what | per second, median (min–max) | p50 | ÷ the disk's ceiling |", "| --- | --- | --- | --- |"]

    def line(label, scen, who, target=None, flushes=True):
        rr, lat = row(c, scen, "msgs_per_s"), row(c, scen, "p50_us")
        k = "minijet" if who == "m" else "nats"
        v = float(rr[k + "_median"]) / ceiling
        t = f" (target ≥ {target:.1f}× — {'holds' if v >= target else '**does not hold**'})" if target else ""
        shown = f"{fx(v)}{t}" if flushes else "— (no flush per ack)"
        out.append(f"| {label} | {cell_range(rr, who, rate)} | {us(float(lat[k + '_median']))} | {shown} |")
    line("the disk: 208 B write + fdatasync, appending to a file (`minijet-bench fsync-append`)", "fsync-append", "m")
    line("the disk: the same into a preallocated file — **the ceiling** (`fsync-prealloc`)", "fsync-prealloc", "m")
    line("minijet sync publish, fsync before ack (default), preallocated segments", "jspub", "m", 0.8)
    base = sorted({r["scenario"] for r in c if r["scenario"].startswith("jspub (") and "sync 2m" not in r["scenario"]})
    for scen in base:
        line(f"minijet {scen[scen.index('(') + 1:-1]}'s build, same sitting: sync publish, fsync before ack", scen, "m")
    line("minijet sync publish, `--sync_interval 2m` (nats-server's promise)", "jspub (sync 2m)", "m", flushes=False)
    line("nats-server 2.9.10 sync publish (acks before its fsync; 2.9 has no `sync_interval: always`)", "jspub", "n",
         flushes=False)
    kv = row(c, "kvput", "msgs_per_s")
    out.append(f"| KV put, same sitting: minijet (fsync before ack) / nats-server | {cell_range(kv, 'm', rate)} / "
               f"{cell_range(kv, 'n', rate)} | — | — |")
    out.append("")
    out.append(f"Generated from `bench/results/{st}-summary.csv` (the `ceiling` line of `{LATEST}`; the sitting of "
               f"{st[:10]} {st[11:13]}:{st[13:15]} UTC: `SCENARIOS=\"jspub kvput ...\" MINIJET_BASE=<an earlier build> "
               f"MINIJET_BASE_LABEL=<its name> bench/compare.sh`).")
    return out


def table_scaling_source(b, sc):
    return [f"Generated from `bench/results/{runs()['scaling']}-summary.csv` (named by `{LATEST}`)."]


TABLES = {"headline": table_headline, "pairs": table_pairs, "full": table_full, "source": table_source,
          "objstore": table_objstore, "scaling-subs": table_scaling_subs, "scaling-grow": table_scaling_grow,
          "scaling-consumers": table_scaling_consumers, "scaling-memory": table_scaling_memory,
          "scaling-restart": table_scaling_restart, "scaling-many": table_scaling_many, "scaling-source": table_scaling_source,
          "scaling-summary": table_scaling_summary, "clusters": table_clusters,
          "replicated": table_replicated, "layers": table_layers, "sync-ceiling": table_sync_ceiling,
          "restart": table_restart}


# ------------------------------------------------------------------ figures in prose
# One figure of a summary, for `{{result:bench/RUN|ROW|COLUMN}}` in prose (tools/book/results.py
# owns the syntax): RUN a stamp under bench/results/, `latest` (LATEST's bench run) or
# `latest-KEY` (LATEST's KEY line); ROW SCENARIO/METRIC (COLUMN ratio, minijet, nats,
# minijet_min, ...) in a compare summary, FIGURE/SERVER/X (COLUMN median, min, max) in a
# scaling summary.

def fmt_value(v, unit):
    if unit in ("msgs_per_s",):
        return human(v, unit)
    if unit.endswith("_us"):
        return f"{v:,.0f} µs"
    if unit == "MB_per_s":
        return f"{v:.1f} MB/s"
    if unit == "kB":
        return mib(v)
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "ms":
        return f"{v:.1f} ms"
    if unit.endswith("_ms"):
        return f"{v:,.0f} ms"
    if unit.startswith("bytes_per"):
        return f"{v:,.0f} B"
    return f"{v:g}"


def figure(run, key, field):
    r = runs()
    if run == "latest" or run.startswith("latest-"):
        k = "bench" if run == "latest" else run[len("latest-"):]
        if k not in r:
            raise BenchError(f"{LATEST} has no '{k} <stamp>' line")
        run = r[k]
    path = os.path.join(ROOT, "bench", "results", run + "-summary.csv")
    if not os.path.isfile(path):
        raise BenchError(f"bench/results/{run}-summary.csv does not exist")
    rows = summary(run)
    f = key.split("/")
    if rows and "scenario" in rows[0]:
        if len(f) != 2:
            raise BenchError(f"bench/results/{run}-summary.csv: ROW is SCENARIO/METRIC, not {key}")
        rr = row(rows, f[0], f[1])
        col = {"ratio": "ratio", "minijet": "minijet_median", "nats": "nats_median"}.get(field, field)
        if col not in rr or rr[col] in ("", "n/a"):
            raise BenchError(f"bench/results/{run}-summary.csv: no {field} for {key}")
        return fx(float(rr[col])) if col == "ratio" else fmt_value(float(rr[col]), f[1])
    if len(f) != 3:
        raise BenchError(f"bench/results/{run}-summary.csv: ROW is FIGURE/SERVER/X, not {key}")
    rr = srow(rows, *f)
    if field not in rr or rr[field] in ("", "n/a"):
        raise BenchError(f"bench/results/{run}-summary.csv: no {field} for {key}")
    return fmt_value(float(rr[field]), rr["unit"])


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
            if ",p50_us," not in l and not l.startswith("fsync-")]  # fsync-*: the disk alone, no ratio
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    data = dest + ".csv"
    with open(data, "w", encoding="utf-8") as f:
        f.writelines(rows)
    stamp = r["bench"][:10]
    p = subprocess.run(["gnuplot", "-e", f"datafile='{data}'; outfile='{dest}'; subtitle='{stamp}, results "
                        f"{r['bench']}'", os.path.join(ROOT, "plots", "bench.gp")], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"gnuplot failed on plots/bench.gp: {p.stderr.strip()[:300]}")
