#!/usr/bin/env python3
"""tools/refs.py — comments that are true: every source path and function a header comment or
a book chapter names must exist (make tidy runs it; tests/test_layers.sh shows it failing).

    tools/refs.py [--root DIR]     exit 1 with one line per stale reference

WHAT IT CHECKS
  In the header comment (the first /* ... */ block) of every file of src/ and sim/, and in
  every chapter book/*.md, every lab handout labs/*/README.md, README.md and sim/README.md:
    1. every path `src/...` or `sim/...` (no wildcard) exists;
    2. every function named as NAME( whose prefix is one of minijet's modules (server_,
       stream_, consumer_, ...) is defined or declared somewhere in src/, sim/ or tests/ —
       a renamed or deleted function leaves its old name behind in prose, and a student
       who greps for it finds nothing;
    3. in that prose, every `name()` in backticks (a bare C identifier) exists the same way,
       unless it is on the list below of names from elsewhere (libc, GLib, nats-server).
  One line per problem:  refs: book/05-stream-log.md:93: `reply_error()` names no function
"""
import os
import re
import sys

MODULE_PREFIXES = ("server_", "stream_", "consumer_", "jetstream_", "jsapi_", "store_", "sublist_",
                   "proto_", "env_", "raft_", "monitor_", "kv_", "client_", "cli_", "nrg_", "route_",
                   "cluster_", "conf_", "jsonu_", "mj_", "subject_", "objstore_", "sim_", "test_env_")
# Names the book quotes from other code bases (libc, GLib, nats-server, nats.js) or as prose.
ELSEWHERE = {
    "time", "rand", "read", "write", "fopen", "fsync", "fdatasync", "rename", "open", "close",
    "epoll_wait", "clock_gettime", "gettimeofday", "getrandom", "pwrite", "pread", "writev",
    "sendmsg", "recv", "send", "accept", "connect", "socket", "malloc", "free", "memcpy", "abort",
    "assert", "exit", "main", "printf", "ftruncate", "unlink", "mmap", "select", "poll", "sleep",
    "usleep", "beforeSleep", "aeMain", "aeProcessEvents", "processJetStreamMsg", "deliverMsg",
    "processAck", "loopAndGatherMsgs", "checkPending", "decStreamPending", "storeUpdates",
    "setConsumerConfigDefaults", "checkConsumerCfg", "jsConsumerCreateRequest", "tick",
    "Fatal", "Printf", "MarshalIndent", "sublist_match_pattern_naive",
}
# a path of the tree: src/... or sim/... ending in a file name with an extension, not part of a
# longer path (build/sim/...) and not a pattern (src/store*.c)
PATH_RE = re.compile(r"(?<![\w/.-])((?:src|sim)/[A-Za-z0-9_/-]*\.(?:c|h|def|ini|md))(?![\w*])")
# Paths and names the text means as examples, exercises or plans, not as the tree's.
EXAMPLES = {
    "src/name.c",            # the preface's "a name.c/name.h pair" convention
    "src/store_x.c",         # chapter 2: the file we add to show make tidy failing
    "src/a.c", "src/b.h",    # chapter 2: the layer fixtures (tests/layers/*/src/)
    "src/cluster.c",         # book/README.md: a planned chapter's file
    "sim/scenarios/NAME.ini", "sim/scenarios/bad.ini",  # usage examples
    "kv_purge_deletes",      # chapter 7: an exercise, the reader writes it
    "publish", "list",       # nats.js methods named in prose
    "natsConnection_Request",  # libnats
}
CALL_RE = re.compile(r"\b([a-z][a-z0-9]*_[a-z0-9_]+)\(")
BOOK_CALL_RE = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)\(\)`")
HEADER_RE = re.compile(r"/\*.*?\*/", re.S)


def source_files(root, dirs=("src", "sim", "tests")):
    for d in dirs:
        for top, _, names in os.walk(os.path.join(root, d)):
            for n in names:
                if n.endswith((".c", ".h", ".def")):
                    yield os.path.join(top, n)


def prose_files(root):
    """The chapters, the labs' handouts and the READMEs: relative paths, sorted."""
    out = []
    book = os.path.join(root, "book")
    if os.path.isdir(book):
        out += [f"book/{n}" for n in sorted(os.listdir(book)) if n.endswith(".md")]
    labs = os.path.join(root, "labs")
    if os.path.isdir(labs):
        out += [f"labs/{d}/README.md" for d in sorted(os.listdir(labs))
                if os.path.isfile(os.path.join(labs, d, "README.md"))]
    out += [p for p in ("README.md", "sim/README.md") if os.path.isfile(os.path.join(root, p))]
    return out


def known_names(root):
    """Every identifier followed by '(' in code (comments stripped) of src/, sim/, tests/,
    plus every #define'd macro."""
    names = set()
    for f in source_files(root):
        with open(f, errors="replace") as fh:
            text = fh.read()
        code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
        names.update(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", code))
        names.update(re.findall(r"#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)", code))
    return names


def path_ok(root, p):
    return p in EXAMPLES or os.path.exists(os.path.join(root, p))


def check(root):
    problems = []
    names = known_names(root)

    def look(where, line_no, text, book):
        for p in PATH_RE.findall(text):
            if not path_ok(root, p):
                problems.append(f"refs: {where}:{line_no}: {p} does not exist")
        for n in CALL_RE.findall(text):
            if n.startswith(MODULE_PREFIXES) and n not in names and n not in EXAMPLES:
                problems.append(f"refs: {where}:{line_no}: {n}() names no function")
        if book:
            for n in BOOK_CALL_RE.findall(text):
                if n not in names and n not in ELSEWHERE and n not in EXAMPLES and not n.startswith(MODULE_PREFIXES):
                    problems.append(f"refs: {where}:{line_no}: `{n}()` names no function")

    for f in sorted(source_files(root, ("src", "sim"))):
        with open(f, errors="replace") as fh:
            text = fh.read()
        m = HEADER_RE.search(text)
        if m is None:
            continue
        first_line = text.count("\n", 0, m.start()) + 1
        for i, line in enumerate(m.group(0).split("\n")):
            look(os.path.relpath(f, root), first_line + i, line, False)
    for rel in prose_files(root):
        with open(os.path.join(root, rel), errors="replace") as fh:
            for i, line in enumerate(fh, 1):
                look(rel, i, line, True)
    return sorted(set(problems))


def main(argv):
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if len(argv) == 2 and argv[0] == "--root":
        root = argv[1]
    elif argv:
        sys.exit(f"usage: {sys.argv[0]} [--root DIR]")
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("refs: ok (every src/ path and function the header comments, the book and the labs name exists)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
