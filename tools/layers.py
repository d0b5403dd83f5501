#!/usr/bin/env python3
"""tools/layers.py — calls run one way: the #include graph of src/ against tools/layers.txt.

    tools/layers.py [--root DIR] [--table FILE]     check; exit 1 with one line per problem
    tools/layers.py --files LAYER                   the .c files of one layer (for the Makefile)

WHAT IT CHECKS (make tidy runs it; tests/layers/ holds trees that must fail)
  1. Every file of src/ (recursively) has a layer in the table.
  2. No file includes a header of a layer above its own: a file of layer L may include its
     own layer's headers and those of the layers L uses, directly or through them.
  3. No cycle between modules. A module is name.c + name.h (+ name_int.h); module A depends
     on B when a file of A includes a header of B. A cycle means two modules each reach the
     other, so neither can be read, tested or linked without the other.
  Each problem is one line naming the two files, e.g.
     layers: src/server.c (server) includes src/jetstream.h (jetstream): up the layers
     layers: cycle: src/jsapi.c includes src/jetstream.h, and src/jetstream.c includes src/jsapi.h

WHY THE INCLUDE GRAPH
  It is what a reader follows, it needs no build, and a call the compiler accepts needs a
  declaration, which comes from a header. The link order in the Makefile is the second net.
"""
import fnmatch
import os
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_table(path):
    layers = []  # (name, uses, patterns) in order
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) < 3:
                sys.exit(f"layers: {path}:{no}: want NAME USES FILES...")
            name, uses = parts[0], [] if parts[1] == "-" else parts[1].split(",")
            known = {n for n, _, _ in layers}
            for u in uses:
                if u not in known:
                    sys.exit(f"layers: {path}:{no}: layer {name} uses {u}, which is not declared above it")
            layers.append((name, uses, parts[2:]))
    return layers


def below(layers):
    """name -> every layer it may include (itself and, transitively, what it uses)."""
    out = {}
    for name, uses, _ in layers:
        s = {name}
        for u in uses:
            s |= out[u]
        out[name] = s
    return out


def src_files(root):
    files = []
    for d, _, names in os.walk(os.path.join(root, "src")):
        for n in names:
            if n.endswith((".c", ".h", ".def")):
                files.append(os.path.relpath(os.path.join(d, n), os.path.join(root, "src")))
    return sorted(files)


def layer_of(layers, rel):
    for name, _, pats in layers:
        if any(fnmatch.fnmatchcase(rel, p) for p in pats):
            return name
    return None


def module_of(rel):
    stem = rel.rsplit(".", 1)[0]
    return stem[:-4] if stem.endswith("_int") else stem


def check(root, table):
    layers = read_table(table)
    allowed = below(layers)
    files = src_files(root)
    layer = {f: layer_of(layers, f) for f in files}
    problems = []
    for f in files:
        if layer[f] is None:
            problems.append(f"layers: src/{f} has no layer in {os.path.relpath(table, root)}")
    edges = {}  # module -> {module: (file, header)}
    for f in files:
        if layer[f] is None:
            continue
        with open(os.path.join(root, "src", f), errors="replace") as fh:
            text = fh.read()
        for inc in INCLUDE_RE.findall(text):
            # quoted includes resolve next to the file, then in src/ (-iquote src)
            cand = [os.path.normpath(os.path.join(os.path.dirname(f), inc)), os.path.normpath(inc)]
            target = next((c for c in cand if c in layer), None)
            if target is None or layer[target] is None:
                continue  # not ours (or unlisted: reported above)
            if layer[target] not in allowed[layer[f]]:
                problems.append(f"layers: src/{f} ({layer[f]}) includes src/{target} ({layer[target]}): up the layers")
            a, b = module_of(f), module_of(target)
            if a != b:
                edges.setdefault(a, {}).setdefault(b, (f, target))
    problems += cycles(edges)
    return problems


def cycles(edges):
    """One line per cycle found by a depth-first search, naming the edge that closes it."""
    out, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, {})):
            if state.get(n) == 1:  # back edge: n ... m -> n
                f, h = edges[m][n]
                i = stack.index(n)
                nxt = stack[i + 1] if i + 1 < len(stack) else m
                f0, h0 = edges[n][nxt]
                out.append(f"layers: cycle: src/{f0} includes src/{h0}, and src/{f} includes src/{h}"
                           + (f" (through {' -> '.join(stack[i:] + [n])})" if len(stack) - i > 2 else ""))
            elif state.get(n) is None:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if state.get(m) is None:
            visit(m)
    return out


def main(argv):
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    table = None
    files_of = None
    i = 0
    while i < len(argv):
        if argv[i] == "--root":
            root = argv[i + 1]; i += 2
        elif argv[i] == "--table":
            table = argv[i + 1]; i += 2
        elif argv[i] == "--files":
            files_of = argv[i + 1]; i += 2
        else:
            sys.exit(f"usage: {sys.argv[0]} [--root DIR] [--table FILE] [--files LAYER]")
    table = table or os.path.join(root, "tools", "layers.txt")
    if files_of is not None:
        layers = read_table(table)
        print(" ".join(f"src/{f}" for f in src_files(root)
                       if f.endswith(".c") and layer_of(layers, f) == files_of))
        return 0
    problems = check(root, table)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("layers: ok (the includes of src/ run one way, no cycles)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
