#!/usr/bin/env python3
"""tools/book/book.py — the book's build and its tests (make book, make book-test).

WHAT IT DOES
  build [--edition student|teacher]
          (make book [EDITION=teacher]) resolve every chapter's code citations, generate the error appendix from
          src/errors.def, and render book/*.md (in reading order) to build/book/*.html with
          pandoc: table of contents, a sidebar with the whole book, prev/next links,
          highlighted code, the charts from plots/*.png, book/style.css.
  test    (make book-test) TAP: one test per chapter that every citation resolves, and one
          test per `sh runnable` block, run against a freshly started minijet-server.
  cites   TAP: only the citation tests (no server needed).

WHY PYTHON
  The job is text: regular expressions over chapters and sources, a brace-matching scan,
  templating pandoc's input, starting a server and comparing output with wildcards. Python 3
  is in every Debian install and its `re` module reads the patterns chapters already use
  (ERE-style, with `\\{` and `\\(` escapes); in C this would be five times the code for a
  tool no student needs to read to learn about brokers.

CITATIONS (the rule; book/README.md says the same to authors)
  `<!-- cite: FILE /REGEX/ -->` on its own line. FILE is relative to the repository top.
  The anchor is the FIRST line of FILE that REGEX matches (Python `re.search`). Quoted:
    - if a `{` opens before any `;` ends the statement (scanning from the anchor line,
      skipping strings, character literals and comments), the anchor line through the line
      where that brace closes: a whole function, struct, enum or initializer;
    - else, if a `;` comes first within 8 lines, the anchor line through that `;` (a
      prototype, a declaration, a macro call ending in `;`);
    - else the anchor line and the lines after it up to (not including) the next blank
      line: a paragraph (a table row of errors.def, a shell or INI paragraph).
  At most QUOTE_MAX_LINES lines are shown; a longer block is cut and the cut is said, with
  the block's last line number. The non-blank lines right after the citation (the prose
  reference) become the listing's caption. A missing FILE, a bad REGEX or a REGEX that
  matches nothing FAILS the build, naming the chapter, its line and the anchor.
"""
import fcntl
import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402  (tools/book/figures.py: the generated SVG figures)
import bench  # noqa: E402  (tools/book/bench.py: benchmark tables and chart from one results file)
import results  # noqa: E402  (tools/book/results.py: {{result:...}}, every measured number quoted in prose)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BOOK = os.path.join(ROOT, "book")
OUT = os.path.join(ROOT, "build", "book")
TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template.html")
QUOTE_MAX_LINES = 50
CITE_RE = re.compile(r"^\s*<!--\s*cite:\s*(\S+)\s+/(.*)/\s*-->\s*$")
FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(.*)$")
BOOK_TITLE = "The minijet book"
ERRORS_DEF = "src/errors.def"
ERRORS_MD = "A-errors.md"  # generated into build/book/md/, never committed


class BookError(Exception):
    pass


# ------------------------------------------------------------------ chapters and their order

def chapter_order():
    """Reading order is file order: book/NN-*.md by number, then the appendices by letter
    (the generated error appendix A, then book/X-*.md), then the teacher's guide.
    README.md itself becomes the book's front page (index.html)."""
    files = sorted(f for f in os.listdir(BOOK) if f.endswith(".md"))
    chapters = sorted((f for f in files if re.match(r"\d\d-", f)), key=lambda f: int(f[:2]))
    appendices = sorted([ERRORS_MD] + [f for f in files if re.match(r"[A-Z]-", f) and f != ERRORS_MD])
    guide = ["teaching.md"] if "teaching.md" in files else []
    return chapters + appendices + guide


STATUS_RE = re.compile(r"^<!--\s*status:\s*(.*?)\s*-->\s*$", re.M)


def status_of(text):
    m = STATUS_RE.search(text)
    return m.group(1) if m else "written"


def label_of(name):
    """'3' for 03-protocol.md, 'B' for B-where-the-time-goes.md, None for other pages."""
    if re.match(r"\d\d-", name):
        return str(int(name[:2]))
    if re.match(r"[A-Z]-", name):
        return name[0]
    return None


def check_numbering(chapters, texts):
    """[error] when a file's title or its numbered sections disagree with its file name:
    03-x.md must be titled '# 3. ...' with sections 3.1, 3.2, ... in order; B-x.md
    '# Appendix B. ...' with sections B.1, B.2, ..."""
    errors = []
    for ch in chapters:
        label = label_of(ch)
        if label is None:
            continue
        title = title_of(texts[ch], ch)
        want = f"{label}. " if label.isdigit() else f"Appendix {label}. "
        if not title.startswith(want):
            errors.append(f"book/{ch}: title '# {title}' should start with '# {want}' (file order is reading order)")
        k = 0
        for s in sections_of(texts[ch]):
            m = re.match(r"([0-9A-Z]+)\.(\d+)\b", s)
            if not m:
                continue
            k += 1
            if m.group(1) != label or int(m.group(2)) != k:
                errors.append(f"book/{ch}: section '## {s}' should be numbered {label}.{k}")
    return errors


# Cross-references in prose: "chapter 5", "chapters 5–7", "section 9.2", "chapter 9.2",
# "appendix B", "appendix B.7", "(B.7)". Each must name a chapter, appendix or numbered
# section that exists; a dangling one fails the build, like a dangling citation.
XREF_RE = re.compile(r"\b(?:([Cc]hapters?|[Ss]ections?|§|[Aa]ppendix|[Aa]ppendices)\s+)?"
                     r"((?:\d+|[A-Z])(?:\.\d+)?)(?:\s*(?:[–-]|and|or)\s*((?:\d+|[A-Z])(?:\.\d+)?))?")


def xref_targets(chapters, texts):
    """{label or label.section} that exist."""
    out = set()
    for ch in chapters:
        label = label_of(ch)
        if label is None:
            continue
        out.add(label)
        for s in sections_of(texts[ch]):
            m = re.match(r"([0-9A-Z]+\.\d+)\b", s)
            if m:
                out.add(m.group(1))
    return out


def strip_code(text):
    """The prose of a Markdown text: fenced blocks, inline code and HTML comments blanked
    (line numbers kept)."""
    lines, fence, out = text.splitlines(), None, []
    for line in lines:
        m = FENCE_RE.match(line)
        if m:
            if fence is None:
                fence = m.group(2)
            elif m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) and not m.group(3):
                fence = None
            out.append("")
            continue
        if fence is not None:
            out.append("")
            continue
        line = re.sub(r"`+[^`]*`+", "", line)
        line = re.sub(r"<!--.*?-->", "", line)
        out.append(line)
    return out


def check_xrefs(where, text, targets, appendix_letters):
    """[error] for each dangling cross-reference in one Markdown text."""
    errors = []
    for no, line in enumerate(strip_code(text), 1):
        for m in XREF_RE.finditer(line):
            word, refs = m.group(1), [r for r in (m.group(2), m.group(3)) if r]
            if word is None:
                # a bare "B.7" counts only for an appendix letter
                if not re.fullmatch(r"[A-Z]\.\d+", m.group(2)) or m.group(2)[0] not in appendix_letters:
                    continue
                refs = [m.group(2)]
            elif word.lower().startswith("appendi"):
                if not all(re.fullmatch(r"[A-Z](\.\d+)?", r) for r in refs):
                    continue
            elif not all(re.fullmatch(r"\d+(\.\d+)?", r) for r in refs):
                continue
            for r in refs:
                if r not in targets:
                    errors.append(f"{where}:{no}: '{m.group(0).strip()}' refers to {r}, which no chapter or appendix has")
    return errors


# Prose outside book/ that refers to the book's chapters and appendices (checked by the
# same rule): the project README, the benchmark summary, the labs' handouts.
XREF_FILES = ["README.md", "bench/LATEST.md", "labs/README.md", "labs/*/README.md"]


def all_xref_errors(chapters, texts):
    import glob
    targets = xref_targets(chapters, texts)
    letters = {label_of(c) for c in chapters if label_of(c) and not label_of(c).isdigit()}
    errors = check_numbering(chapters, texts)
    for ch in chapters:
        errors += check_xrefs(f"book/{ch}", texts[ch], targets, letters)
        errors += typed_limit_errors(f"book/{ch}", texts[ch])
        errors += typed_measurement_errors(f"book/{ch}", texts[ch])
    errors += check_xrefs("book/README.md", read(os.path.join(BOOK, "README.md")), targets, letters)
    errors += typed_limit_errors("book/README.md", read(os.path.join(BOOK, "README.md")))
    for pat in XREF_FILES:
        for f in sorted(glob.glob(os.path.join(ROOT, pat))):
            errors += check_xrefs(os.path.relpath(f, ROOT), read(f), targets, letters)
            errors += typed_limit_errors(os.path.relpath(f, ROOT), read(f), expands=False)
            errors += typed_measurement_errors(os.path.relpath(f, ROOT), read(f))
    for ch in chapters + ["README.md"]:
        src = texts[ch] if ch in texts else read(os.path.join(BOOK, ch))
        for no, line in enumerate(strip_code(src), 1):
            for link in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]*)?\)", line):
                if link != "README.md" and link not in chapters:
                    errors.append(f"book/{ch}:{no}: link to {link}, which is not a chapter")
    # a simulator scenario named in a command must exist (sim/scenarios/NAME.ini), code
    # blocks included: a teacher copies those
    files = [(f"book/{ch}", texts[ch] if ch in texts else read(os.path.join(BOOK, ch))) for ch in chapters + ["README.md"]]
    for pat in XREF_FILES:
        files += [(os.path.relpath(f, ROOT), read(f)) for f in sorted(glob.glob(os.path.join(ROOT, pat)))]
    for where, src in files:
        for no, line in enumerate(src.splitlines(), 1):
            for name in re.findall(r"minijet-sim (?:run|swarm) ([a-z0-9][a-z0-9-]*)|SCENARIO=([a-z0-9][a-z0-9-]*)", line):
                name = name[0] or name[1]
                if name != "name" and not os.path.isfile(os.path.join(ROOT, "sim", "scenarios", name + ".ini")):
                    errors.append(f"{where}:{no}: simulator scenario '{name}' does not exist (sim/scenarios/{name}.ini)")
    return errors


def chapter_table(chapters, texts):
    """The generated reading-order table for the front page."""
    rows = ["| # | chapter | file | status |", "| --- | --- | --- | --- |"]
    for ch in chapters:
        label = label_of(ch) or ""
        title = re.sub(r"^(\d+|Appendix [A-Z])\.\s*", "", title_of(texts[ch], ch))
        f = f"generated from `{ERRORS_DEF}`" if ch == ERRORS_MD else f"[`{ch}`]({ch})"
        rows.append(f"| {label} | {title} | {f} | {status_of(texts[ch])} |")
    return "\n".join(rows)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def chapter_source(name):
    """The Markdown of a chapter (the generated appendix comes from errors.def)."""
    if name == ERRORS_MD:
        return errors_appendix()
    return read(os.path.join(BOOK, name))


def html_name(name):
    return os.path.splitext(name)[0] + ".html"


def title_of(text, name):
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return name


def sections_of(text):
    out, fence = [], None
    for line in text.splitlines():
        m = FENCE_RE.match(line)
        if m:
            if fence is None:
                fence = m.group(2)
            elif m.group(2).startswith(fence[0]) and len(m.group(2)) >= len(fence) and not m.group(3):
                fence = None
            continue
        if fence is None and line.startswith("## "):
            out.append(line[3:].strip())
    return out


# ------------------------------------------------------------------ citations

def cites_of(text):
    """[(line_no, file, regex)] for every citation outside code blocks."""
    out, fence = [], None
    for no, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if m:
            if fence is None:
                fence = m.group(2)
            elif m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) and not m.group(3):
                fence = None
            continue
        if fence is None:
            c = CITE_RE.match(line)
            if c:
                out.append((no, c.group(1), c.group(2)))
            elif "<!-- cite:" in line:
                out.append((no, None, line.strip()))
    return out


def block_end(lines, start):
    """Index (0-based, inclusive) of the last line quoted for an anchor at lines[start];
    the rule is in this file's header comment."""
    depth, opened = 0, False
    in_comment = False
    for i in range(start, len(lines)):
        s, j = lines[i], 0
        in_str = None
        while j < len(s):
            ch = s[j]
            if in_comment:
                if s.startswith("*/", j):
                    in_comment = False
                    j += 1
            elif in_str:
                if ch == "\\":
                    j += 1
                elif ch == in_str:
                    in_str = None
            elif s.startswith("/*", j):
                in_comment = True
                j += 1
            elif s.startswith("//", j):
                break
            elif ch in "\"'":
                in_str = ch
            elif ch == "{":
                depth += 1
                opened = True
            elif ch == "}":
                depth -= 1
                if opened and depth == 0:
                    # keep the rest of this line ("} Name;"), stop here
                    return i
            elif ch == ";" and not opened and depth == 0:
                return i
            j += 1
        if not opened and i - start >= 8:
            break
    # neither a block nor a statement: the paragraph
    i = start
    while i + 1 < len(lines) and lines[i + 1].strip():
        i += 1
    return i


def resolve_cite(path, regex):
    """(first_line_no, last_line_no, [lines]) or raise BookError (without chapter context)."""
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        raise BookError(f"file {path} does not exist")
    try:
        rx = re.compile(regex)
    except re.error as e:
        raise BookError(f"/{regex}/ is not a valid regular expression: {e}")
    lines = read(full).splitlines()
    for i, line in enumerate(lines):
        if rx.search(line):
            end = block_end(lines, i)
            return i + 1, end + 1, lines[i:end + 1]
    hint = ""
    literal = re.sub(r"(?<!\\)([()])", r"\\\1", regex)
    if literal != regex and any(re.search(literal, l) for l in lines):
        hint = f" (parentheses group in a regex: /{literal}/ would match)"
    raise BookError(f"/{regex}/ matches no line of {path}{hint}")



# A caption must not name a different symbol from the one its anchor found: for a C file,
# when the caption names identifiers in backticks (`route()`, `struct Node`, `EnvOps`), the
# symbol defined on the anchor line must be one of them; a caption may also name none.
C_KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "static", "inline", "const", "void",
              "struct", "enum", "union", "typedef", "unsigned", "signed", "int", "char", "bool"}


def anchor_symbol(line):
    """The name a C anchor line defines (function, struct/enum/union, macro, variable), or None."""
    s = line.strip()
    for rx in (r"#\s*define\s+(\w+)", r"(?:typedef\s+)?(?:struct|enum|union)\s+(\w+)\s*\{?", r"\}\s*(\w+)\s*;"):
        m = re.match(rx, s)
        if m:
            return m.group(1)
    if s.startswith(("if", "for", "while", "return", "switch", "}", "/*", "*", "//")):
        return None
    m = re.search(r"(\w+)\s*\(", s)
    if m and m.group(1) not in C_KEYWORDS:
        return m.group(1)
    m = re.match(r"(?:static\s+)?(?:const\s+)?[\w\s*]+?\b(\w+)\s*(?:\[[^\]]*\])?\s*=", s)
    return m.group(1) if m else None


def caption_names(path, caption):
    names = []
    for span in re.findall(r"`([^`]+)`", " ".join(caption)):
        span = span.strip()
        if span == path:
            continue
        m = re.fullmatch(r"(?:(?:struct|enum|union)\s+)?(\w+)(?:\(\))?", span)
        if m and not re.fullmatch(r"[\d_]+", m.group(1)):
            names.append(m.group(1))
    return names


def check_caption(path, quoted, caption):
    """None, or why the caption disagrees with its anchor."""
    if not path.endswith((".c", ".h")) or not quoted:
        return None
    sym = anchor_symbol(quoted[0])
    names = caption_names(path, caption)
    if sym is None or not names or sym in names:
        return None
    return (f"the caption names {', '.join('`%s`' % n for n in names)} but the anchor matched "
            f"`{sym}` ({quoted[0].strip()[:60]}); name it, or fix the anchor")


def caption_of(lines, i):
    """The caption lines after a citation at lines[i - 1] (0-based i: the line after it)."""
    caption = []
    while i < len(lines) and lines[i].strip() and not FENCE_RE.match(lines[i]) \
            and not CITE_RE.match(lines[i]) and not lines[i].startswith("#"):
        caption.append(lines[i])
        i += 1
    return caption


def check_cites(name, text):
    """[(ok, message)] for one chapter."""
    out = []
    lines = text.splitlines()
    for no, path, regex in cites_of(text):
        if path is None:
            out.append((False, f"book/{name}:{no}: malformed citation {regex}"))
            continue
        try:
            first, last, quoted = resolve_cite(path, regex)
            why = check_caption(path, quoted, caption_of(lines, no))
            if why:
                out.append((False, f"book/{name}:{no}: cite {path} /{regex}/: {why}"))
                continue
            out.append((True, f"book/{name}:{no}: {path} /{regex}/ -> {path}:{first}-{last}"))
        except BookError as e:
            out.append((False, f"book/{name}:{no}: cite {path} /{regex}/: {e}"))
    return out


LANG = {".c": "c", ".h": "c", ".def": "c", ".sh": "bash", ".py": "python", ".js": "javascript",
        ".mjs": "javascript", ".ini": "ini", ".conf": "ini", ".json": "json", ".gp": "gnuplot",
        ".sql": "sql", ".md": "markdown"}


def fence_for(lines):
    longest = max([len(m) for l in lines for m in re.findall(r"`{3,}", l)] + [2])
    return "`" * (longest + 1)


def listing_md(path, first, last, quoted, caption, edition="student"):
    ext = os.path.splitext(path)[1]
    lang = LANG.get(ext, "makefile" if os.path.basename(path) == "Makefile" else "")
    shown = quoted[:QUOTE_MAX_LINES]
    f = fence_for(shown)
    cls = f".{lang} " if lang else ""
    out = ["", "::: {.listing}", f"[{path}:{first}]{{.listing-head}}", ""]
    # the student edition: each LAB(n) region inside the quote becomes its description
    pieces = [(first, shown, None)]
    if edition == "student":
        pieces = []
        at = first
        for lab, b, e in lab_regions(path):
            lo, hi = b + 1, e + 1  # 1-based, inclusive
            if hi < at or lo > first + len(shown) - 1:
                continue
            if lo > at:
                pieces.append((at, shown[at - first:lo - first], None))
            indent = re.match(r"\s*", read(os.path.join(ROOT, path)).splitlines()[b]).group(0)
            pieces.append((max(lo, at), [], lab_placeholder(lab, indent)))
            at = hi + 1
        if at <= first + len(shown) - 1:
            pieces.append((at, shown[at - first:], None))
    for start, lines, placeholder in pieces:
        if placeholder is not None:
            out += [f"{f}{{{cls}.lab-removed}}", *placeholder, f, ""]
        elif lines:
            out += [f'{f}{{{cls}.numberLines startFrom="{start}"}}', *lines, f, ""]
    if len(quoted) > QUOTE_MAX_LINES:
        out += ["", f"[… {len(quoted) - QUOTE_MAX_LINES} more lines, through "
                    f"{path}:{last}]{{.listing-cut}}"]
    if caption:
        out += ["", "::: {.listing-caption}", *caption, ":::"]
    out += [":::", ""]
    return out


# ------------------------------------------------------------------ editions and labs
#
# The student edition (make book, the default) never prints a lab's answer: a cited block
# that overlaps a `LAB(n) begin` ... `LAB(n) end` region shows the lines around the region
# (the signature) and, in the region's place, what the lab asks for, from its handout's
# manifest (labs/<n>-*/grade.conf: title, implement). `make book EDITION=teacher` prints
# everything, into build/book-teacher/.

LAB_BEGIN_RE = re.compile(r"LAB\((\d+)\) begin")
LAB_END_RE = re.compile(r"LAB\((\d+)\) end")
_regions = {}


def lab_regions(path):
    """[(lab, begin_index, end_index)] (0-based, inclusive) of the LAB markers in a file."""
    if path not in _regions:
        out, open_ = [], None
        full = os.path.join(ROOT, path)
        for i, line in enumerate(read(full).splitlines() if os.path.isfile(full) else []):
            m = LAB_BEGIN_RE.search(line)
            if m:
                open_ = (int(m.group(1)), i)
            m = LAB_END_RE.search(line)
            if m and open_:
                out.append((open_[0], open_[1], i))
                open_ = None
        _regions[path] = out
    return _regions[path]


def lab_manifest(n):
    import glob
    for conf in glob.glob(os.path.join(ROOT, "labs", f"{n}-*", "grade.conf")):
        meta = {}
        for line in read(conf).splitlines():
            m = re.match(r"^([a-z-]+):\s*(.*)$", line)
            if m:
                meta[m.group(1)] = m.group(2)
        meta["handout"] = os.path.relpath(os.path.join(os.path.dirname(conf), "README.md"), ROOT)
        return meta
    return {}


def lab_placeholder(n, indent):
    meta = lab_manifest(n)
    what = meta.get("implement", "this code")
    return [f"{indent}/* LAB({n}) — {meta.get('title', 'lab ' + str(n))}: you write this in lab {n}.",
            f"{indent} * Implement {what}; the task is in {meta.get('handout', 'labs/')}.",
            f"{indent} * (The teacher edition, make book EDITION=teacher, prints the reference.) */"]


def lab_bodies():
    """{(path, lab): [distinctive body lines]}: lines of each LAB region (markers and stubs
    excluded) long enough to be recognised and found nowhere else in their file."""
    out = {}
    for path in sorted(set(subprocess.run(["git", "grep", "-l", "LAB([0-9]*) begin", "--", "src", "sim"],
                                          cwd=ROOT, capture_output=True, text=True).stdout.split())):
        lines = read(os.path.join(ROOT, path)).splitlines()
        regions = lab_regions(path)
        inside = set(i for _, b, e in regions for i in range(b, e + 1))
        outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
        for lab, b, e in regions:
            body = [lines[i].strip() for i in range(b + 1, e)
                    if "LAB(" not in lines[i] and len(lines[i].strip()) >= 20
                    and lines[i].strip() not in outside]
            out.setdefault((path, lab), []).extend(body)
    return out


def edition_test(edition):
    """(ok, name, diagnostics): the student edition shows no LAB body line; the teacher
    edition shows every body line of every LAB region the book cites."""
    chapters = chapter_order()
    texts = {ch: chapter_source(ch) for ch in chapters}
    rendered = ""
    for ch in chapters:
        rendered += preprocess(ch, texts[ch], chapters, set(), edition)[1]
    rendered_lines = {l.strip() for l in rendered.splitlines()}
    cited = set()
    for ch in chapters:
        for _, path, regex in cites_of(texts[ch]):
            try:
                first, last, _ = resolve_cite(path, regex)
            except BookError:
                continue
            for lab, b, e in lab_regions(path):
                if b + 1 <= min(last, first + QUOTE_MAX_LINES - 1) and e + 1 >= first:
                    cited.add((path, lab))
    bad = []
    for (path, lab), body in lab_bodies().items():
        if edition == "student":
            bad += [f"{path} LAB({lab}) body line printed: {l}" for l in body if l in rendered_lines]
        elif (path, lab) in cited and not any(l in rendered_lines for l in body):
            bad.append(f"{path} LAB({lab}) is cited but its body is not printed")
    name = ("student edition prints no LAB body" if edition == "student"
            else f"teacher edition prints the cited LAB bodies ({len(cited)} regions)")
    return (not bad, name, bad[:20])



# ------------------------------------------------------------------ numbers from src/limits.h
#
# `{{LIMIT_NAME}}` in a chapter's prose is replaced by that limit's value from src/limits.h,
# formatted by its unit suffix (_BYTES: 64 KiB, _NS: 2 s / 2 min, else the number), so a
# quoted limit cannot go stale. A prose line that names `LIMIT_NAME` and also types its
# value by hand fails the build: write {{LIMIT_NAME}} instead.

LIMITS_H = "src/limits.h"
LIMIT_REF_RE = re.compile(r"\{\{(LIMIT_\w+)\}\}")
_limits = None


def limits():
    """{name: int value} of every #define LIMIT_* in src/limits.h."""
    global _limits
    if _limits is None:
        raw = {}
        for line in read(os.path.join(ROOT, LIMITS_H)).splitlines():
            m = re.match(r"#define\s+(LIMIT_\w+)\s+(.*?)\s*(?:/\*.*)?$", line)
            if m:
                raw[m.group(1)] = m.group(2)
        vals = {}

        def ev(name, depth=0):
            if name in vals:
                return vals[name]
            expr = re.sub(r"(\d+)(?:LL|ULL|UL|L|U)\b", r"\1", raw[name])
            expr = re.sub(r"\bLIMIT_\w+\b", lambda mm: str(ev(mm.group(0), depth + 1)), expr)
            if not re.fullmatch(r"[\d\s()+\-*/]+", expr) or depth > 8:
                raise BookError(f"{LIMITS_H}: cannot evaluate {name} = {raw[name]}")
            vals[name] = int(eval(expr.replace("/", "//")))
            return vals[name]
        for n in raw:
            try:
                ev(n)
            except BookError:
                pass
        _limits = vals
    return _limits


def format_limit(name, v):
    if name.endswith("_BYTES") or name.endswith("_BYTES_MAX"):
        for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
            if v >= size and v % size == 0:
                return f"{v // size} {unit}"
        return f"{v:,} bytes"
    if name.endswith("_NS"):
        for unit, size in (("min", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
            if v >= size and v % size == 0 and not (unit == "min" and v < 120 * 10**9):
                return f"{v // size} {unit}"
        return f"{v} ns"
    return f"{v:,}" if v >= 10000 else str(v)


def expand_prose(name, lineno, line):
    """A prose line (or a listing's caption line) with its {{LIMIT_...}} and {{result:...}} filled in."""
    line = "".join(p if p.startswith("`") else expand_limits(f"book/{name}:{lineno}", p)
                   for p in re.split(r"(`+[^`]*`+)", line))  # never inside inline code
    try:  # {{result:TABLE|ROW|COL}}: one measured number from a results file (tools/book/results.py)
        return "".join(p if p.startswith("`") else results.expand(p)
                       for p in re.split(r"(`+[^`]*`+)", line))  # never inside inline code
    except results.ResultError as e:
        raise BookError(f"book/{name}:{lineno}: {e}")


def expand_limits(where, line):
    def sub(m):
        lim = limits()
        if m.group(1) not in lim:
            raise BookError(f"{where}: {{{{{m.group(1)}}}}} is not a limit in {LIMITS_H}")
        return format_limit(m.group(1), lim[m.group(1)])
    return LIMIT_REF_RE.sub(sub, line)


NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def limit_forms(name, v):
    """The ways a value of a limit can be typed: what {{NAME}} prints, the bare number with and
    without thousands separators, and the other units a reader would use (64 MiB, 64MiB,
    67,108,864 bytes, 4096-byte; 2 s, 2s, 2 seconds, two seconds, 0.05 s). A bare number below 10 only on
    the line that names the limit (a paragraph's "2" is rarely that limit)."""
    forms = {str(v), f"{v:,}"} if v >= 10 else set()
    if not re.fullmatch(r"\d", format_limit(name, v)):
        forms.add(format_limit(name, v))
    if name.endswith("_BYTES") or name.endswith("_BYTES_MAX"):
        forms |= {f"{v} bytes", f"{v:,} bytes", f"{v} B", f"{v:,} B"}
        for units, size in ((("MiB", "MB"), 1 << 20), (("KiB", "KB", "kB"), 1 << 10)):
            if v >= size and v % size == 0:
                for u in units:
                    forms |= {f"{v // size} {u}", f"{v // size}{u}"}
    if name.endswith("_NS"):
        for words, size in ((("min", "minutes", "minute", "m"), 60 * 10**9), (("s", "seconds", "second", "sec"), 10**9),
                            (("ms", "milliseconds"), 10**6), (("µs", "us", "microseconds"), 10**3)):
            q = v / size
            if q >= 1 and q == int(q):
                for w in words:
                    forms |= {f"{int(q)} {w}", f"{int(q)}{w}"}
                    if int(q) < len(NUMBER_WORDS) and len(w) > 3:  # "two minutes", "one second"
                        forms.add(f"{NUMBER_WORDS[int(q)]} {w}")
            elif size == 10**9 and 0.01 <= q < 1:
                forms |= {f"{q:g} s", f"{q:g}s", f"{q:g} seconds"}
    return forms


def prose_paragraphs(text):
    """[(first line number, [(line number, prose line)])]: runs of non-blank prose lines (code,
    inline code and comments blanked); a table row is a paragraph of its own."""
    paras, cur = [], []
    for no, line in enumerate(strip_code(text), 1):
        if not line.strip() or line.lstrip().startswith("|"):
            if cur:
                paras.append(cur)
            cur = []
            if line.strip():
                paras.append([(no, line)])
            continue
        cur.append((no, line))
    if cur:
        paras.append(cur)
    return paras


def typed_limit_errors(where, text, expands=True):
    """[error] for a paragraph (or table row) that names a limit (`LIMIT_X`) and also types its
    value, in any of its forms (limit_forms). In the book the fix is {{LIMIT_X}}; in files read
    as they are (the README, the handouts: expands=False) it is the name alone."""
    errors, lim = [], limits()
    raw = text.splitlines()
    for para in prose_paragraphs(text):
        names = set()
        for no, _ in para:
            names |= set(re.findall(r"`(LIMIT_\w+)`", raw[no - 1]))
        for name in sorted(names - {"LIMIT_NAME"}):  # LIMIT_NAME: the README's placeholder
            if name not in lim:
                errors.append(f"{where}:{para[0][0]}: `{name}` is not in {LIMITS_H}")
                continue
            forms = limit_forms(name, lim[name])
            for no, line in para:
                prose = re.sub(r"\{\{[^{}]*\}\}", "", line)
                here = forms | ({str(lim[name])} if f"`{name}`" in raw[no - 1] else set())
                hit = next((f for f in sorted(here, key=len, reverse=True)
                            if re.search(r"(?<![\w.,])" + re.escape(f) + r"(?![\w%]|,\d|\.\d)", prose)), None)
                if hit:
                    fix = f"write {{{{{name}}}}}" if expands else "name the limit, do not type its value"
                    errors.append(f"{where}:{no}: `{name}`'s value is typed ({hit}); {fix}")
                    break
    return errors


# A measured number is quoted as {{result:...}} (tools/book/results.py), never typed. The
# forms that can only be a measurement are caught: a ratio (1.67×; not arithmetic such as
# 16 × 64, not a target such as ≥ 1.5×), a rate in thousands or megabytes (92k msgs/s,
# 310 MB/s; a scenario's "250 messages/s" is a setting) and an approximate timing (~9 ns,
# ~0.5 µs). Generated benchmark tables (<!-- bench:NAME -->) are exempt:
# bench-sync writes them from the results.
MEASURED_RE = re.compile(
    r"(?<![\w.,≥≤<>~])(?<![≥≤<>] )\d[\d,]*(?:\.\d+)?(?:×(?!\d)|\s×(?!\s*[\w(]))"
    r"|(?<![\w.,])\d[\d,]*(?:\.\d+)?\s?(?:[kM]\s?(?:msgs?|ops)|MB|GB)/s\b"
    r"|~\s?\d[\d,]*(?:\.\d+)?\s?(?:ns|µs|us|ms)\b")


def typed_measurement_errors(where, text):
    text = re.sub(r"<!-- bench:[\w-]+ -->.*?<!-- bench:end -->", lambda m: "\n" * m.group(0).count("\n"), text,
                  flags=re.S)
    errors = []
    for no, line in enumerate(strip_code(text), 1):
        prose = re.sub(r"\{\{[^{}]*\}\}", "N", line)
        for m in MEASURED_RE.finditer(prose):
            errors.append(f"{where}:{no}: '{m.group(0)}' looks measured and is typed: quote it from a results file "
                          "({{result:TABLE|ROW|COLUMN}}, tools/book/results.py) or say it without the number")
    return errors


# ------------------------------------------------------------------ the error appendix

def errors_appendix():
    rows, section = [], ""
    text = read(os.path.join(ROOT, ERRORS_DEF))
    for line in text.splitlines():
        s = re.match(r"\s*/\*\s*---\s*(.*?)(?:---\s*\*/|$)", line)
        if s:
            section = "proto" if "protocol" in s.group(1) else "js"
            continue
        m = re.match(r'\s*ERRDEF\(\s*(\w+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)', line)
        if m:
            rows.append((section or ("proto" if m.group(1).startswith("PROTO_") else "js"),) + m.groups())
    if not rows:
        raise BookError(f"{ERRORS_DEF}: no ERRDEF rows found")
    fatal = {"0": "`-ERR`, connection stays open", "1": "`-ERR`, then the connection is closed",
             "2": "closed without `-ERR` (as nats-server)"}
    esc = lambda t: t.replace("|", "\\|")
    md = ["# Appendix A. Error codes", "",
          f"Generated by `make book` from `{ERRORS_DEF}`, the one error table (an X-macro file:",
          "`src/errors.h` turns each row into an `MjError` value, the `-ERR` text and the JSON",
          "error). The texts are verbatim what clients see, and what they match on.", "",
          "## A.1 Core protocol errors", "",
          "Sent as `-ERR '<text>'` on the client connection (chapter 3).", "",
          "| name | text | what the server does |", "| --- | --- | --- |"]
    for sec, name, code, err_code, fat, desc in rows:
        if sec == "proto":
            md.append(f"| `MJ_ERR_{name}` | `{esc(desc)}` | {fatal.get(fat, fat)} |")
    md += ["", "## A.2 JetStream API errors", "",
           "Sent as JSON in an API reply: `{\"error\":{\"code\":C,\"err_code\":E,\"description\":\"…\"}}`",
           "(chapter 5). `code` is HTTP-like; `err_code` is nats-server 2.9.10's number, which",
           "clients use to tell errors apart.", "",
           "| code | err_code | name | description |", "| ---: | ---: | --- | --- |"]
    for sec, name, code, err_code, fat, desc in rows:
        if sec != "proto":
            md.append(f"| {code} | {err_code} | `MJ_ERR_{name}` | {esc(desc)} |")
    md += ["", f"{len(rows)} rows in all.", ""]
    return "\n".join(md)


# ------------------------------------------------------------------ preprocessing for pandoc

def preprocess(name, text, chapters, images, edition="student"):
    """Chapter Markdown -> pandoc Markdown. Raises BookError naming chapter and anchor."""
    lines = text.splitlines()
    out, i, fence = [], 0, None
    title = None
    mentioned = set()
    shown = set(re.findall(r"!\[[^\]]*\]\((?:\.\./)?(plots/[\w.-]+\.png)\)", re.sub(r"`+[^`]*`+", "", text)))
    while i < len(lines):
        line = lines[i]
        m = FENCE_RE.match(line)
        if m:
            if fence is None:
                fence = m.group(2)
                info = m.group(3).strip()
                if info == "sh runnable":
                    line = f"{m.group(1)}{fence}{{.bash .runnable}}"
                elif info == "output":
                    line = f"{m.group(1)}{fence}{{.output}}"
                elif info in ("sh", "shell"):
                    line = f"{m.group(1)}{fence}{{.bash}}"
                elif info == "":
                    line = f"{m.group(1)}{fence}{{.plain}}"
            elif m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) and not m.group(3):
                fence = None
            out.append(line)
            i += 1
            continue
        if fence is not None:
            out.append(line)
            i += 1
            continue
        if title is None and line.startswith("# "):
            title = line[2:].strip()
            i += 1
            continue
        c = CITE_RE.match(line)
        if c:
            path, regex = c.group(1), c.group(2)
            try:
                first, last, quoted = resolve_cite(path, regex)
            except BookError as e:
                raise BookError(f"book/{name}:{i + 1}: cite {path} /{regex}/: {e}")
            i += 1
            caption = caption_of(lines, i)
            why = check_caption(path, quoted, caption)
            if why:
                raise BookError(f"book/{name}:{i}: cite {path} /{regex}/: {why}")
            caption = [expand_prose(name, i + 1 + k, cl) for k, cl in enumerate(caption)]  # as any prose line
            i += len(caption)
            out += listing_md(path, first, last, quoted, caption, edition)
            continue
        if "<!-- cite:" in line:
            raise BookError(f"book/{name}:{i + 1}: malformed citation: {line.strip()}")
        line = expand_prose(name, i + 1, line)
        # links to other chapters: X.md -> X.html (README.md is the front page)
        line = re.sub(r"\]\((\w[\w.-]*)\.md(#[\w-]*)?\)",
                      lambda mm: "](%s%s)" % ("index.html" if mm.group(1) == "README" else mm.group(1) + ".html",
                                              mm.group(2) or ""), line)
        # images under plots/: copied next to the HTML
        def img(mm):
            rel = mm.group(2)
            src = os.path.join(ROOT, rel)
            if not os.path.isfile(src):
                raise BookError(f"book/{name}:{i + 1}: image {rel} does not exist (run `make plots`?)")
            images.add(rel)
            return f"![{mm.group(1)}]({rel})"
        # generated figures (tools/book/figures.py): figures/NAME.svg, drawn at build time
        def fig(mm):
            known = mm.group(2) in figures.FIGURES if mm.group(3) == "svg" else mm.group(2) == "bench"
            if not known:
                raise BookError(f"book/{name}:{i + 1}: no figure {mm.group(2)}.{mm.group(3)} (tools/book/figures.py "
                                f"knows {', '.join(sorted(figures.FIGURES))}.svg; bench.py draws bench.png)")
            images.add(f"figures/{mm.group(2)}.{mm.group(3)}")
            return f"![{mm.group(1)}](figures/{mm.group(2)}.{mm.group(3)})"
        parts = re.split(r"(`+[^`]*`+)", line)  # never inside inline code
        line = "".join(p if p.startswith("`") else
                       re.sub(r"!\[([^\]]*)\]\((?:\.\./)?figures/([\w-]+)\.(svg|png)\)", fig, p) for p in parts)
        line = "".join(p if p.startswith("`") else
                       re.sub(r"!\[([^\]]*)\]\((?:\.\./)?(plots/[\w.-]+\.png)\)", img, p) for p in parts)
        out.append(line)
        for rel in re.findall(r"`(plots/[\w.-]+\.png)`", line):
            mentioned.add(rel)
        # a paragraph that names a chart in backticks and shows no image gets the figure
        end_of_para = i + 1 >= len(lines) or not lines[i + 1].strip()
        if end_of_para and mentioned:
            for rel in sorted(mentioned - shown):
                if os.path.isfile(os.path.join(ROOT, rel)):
                    images.add(rel)
                    shown.add(rel)
                    out += ["", f"![`{rel}`]({rel})"]
            mentioned.clear()
        i += 1
    return title or name, "\n".join(out) + "\n"


def inline_html(t):
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(t))


def nav_html(chapters, titles, current):
    items = ['<li class="%s"><a href="index.html">About this book</a></li>'
             % ("current" if current == "README.md" else "")]
    for ch in chapters:
        cls = "current" if ch == current else ""
        if ch.startswith(("A-", "appendix")) or re.match(r"[A-Z]-", ch):
            cls += " appendix"
        items.append(f'<li class="{cls.strip()}"><a href="{html_name(ch)}">{inline_html(titles[ch])}</a></li>')
    return "<ol>" + "".join(items) + "</ol>"


def pandoc(md, dest, title, nav, prev, nxt, toc=True):
    args = ["pandoc", "--from=markdown", "--to=html5",
            "--standalone", f"--template={TEMPLATE}", "--highlight-style=tango",
            "--metadata", f"title={title}", "--metadata", f"pagetitle={title} — {BOOK_TITLE}",
            "-V", f"book-title={BOOK_TITLE}", "-V", f"book-nav={nav}", "-o", dest]
    if toc:
        args += ["--toc", "--toc-depth=2"]
    if prev:
        args += ["-V", f"prev-href={prev[0]}", "-V", f"prev-title={inline_html(prev[1])}"]
    if nxt:
        args += ["-V", f"next-href={nxt[0]}", "-V", f"next-title={inline_html(nxt[1])}"]
    r = subprocess.run(args, input=md, text=True, capture_output=True)
    if r.returncode != 0:
        raise BookError(f"pandoc failed for {dest}:\n{r.stderr}")
    for w in r.stderr.splitlines():
        if w.strip():
            print(f"  pandoc: {os.path.basename(dest)}: {w}", file=sys.stderr)


def build(edition="student"):
    if edition not in ("student", "teacher"):
        raise BookError(f"EDITION={edition}: the editions are student (the default) and teacher")
    out_dir = OUT if edition == "student" else OUT + "-teacher"
    if shutil.which("pandoc") is None:
        raise BookError("pandoc is not installed (make deps installs it)")
    chapters = chapter_order()
    texts = {ch: chapter_source(ch) for ch in chapters}
    titles = {ch: title_of(texts[ch], ch) for ch in chapters}
    os.makedirs(out_dir, exist_ok=True)
    write(os.path.join(out_dir, "md", ERRORS_MD), texts[ERRORS_MD])
    images, bodies = set(), {}
    errors = all_xref_errors(chapters, texts) + bench_errors() + handout_errors()
    for ch in chapters:
        try:
            bodies[ch] = preprocess(ch, texts[ch], chapters, images, edition)
        except BookError as e:
            errors.append(str(e))
    if errors:
        raise BookError("\n".join(errors))
    for k, ch in enumerate(chapters):
        title, md = bodies[ch]
        write(os.path.join(out_dir, "md", ch), md)
        prev = (html_name(chapters[k - 1]), titles[chapters[k - 1]]) if k > 0 else ("index.html", "About this book")
        nxt = (html_name(chapters[k + 1]), titles[chapters[k + 1]]) if k + 1 < len(chapters) else None
        pandoc(md, os.path.join(out_dir, html_name(ch)), title, nav_html(chapters, titles, ch), prev, nxt)
    # the front page: the contents with each chapter's sections, then book/README.md
    front = ["::: {.contents}", "## Contents", ""]
    for ch in chapters:
        front.append(f"- [{titles[ch]}]({html_name(ch)})")
        secs = sections_of(texts[ch])
        if secs and not re.match(r"[A-Z]-", ch):
            front[-1] += "\\\n  [" + " · ".join(re.sub(r"([\\`*_\[\]])", r"\\\1", s) for s in secs) + "]{.secs}"
    front += [":::", ""]
    readme_src = read(os.path.join(BOOK, "README.md"))
    if "<!-- chapters -->" not in readme_src:
        raise BookError("book/README.md: the <!-- chapters --> line (where the generated chapter list goes) is missing")
    readme_src = readme_src.replace("<!-- chapters -->", chapter_table(chapters, texts))
    readme_title, readme = preprocess("README.md", readme_src, chapters, images)
    readme = readme.replace("\n## ", "\n### ")  # README sections sit under "About this book"
    front_md = "\n".join(front) + "\n## About this book\n" + readme
    pandoc(front_md, os.path.join(out_dir, "index.html"), readme_title, nav_html(chapters, titles, "README.md"),
           None, (html_name(chapters[0]), titles[chapters[0]]), toc=False)
    shutil.copy(os.path.join(BOOK, "style.css"), os.path.join(out_dir, "style.css"))
    for rel in sorted(r for r in images if r.startswith("figures/")):
        try:
            if rel == "figures/bench.png":
                bench.chart(os.path.join(out_dir, rel))
            else:
                figures.render(rel[len("figures/"):-len(".svg")], os.path.join(out_dir, "figures"),
                               os.path.join(out_dir, "work"))
        except (figures.FigureError, bench.BenchError) as e:
            raise BookError(str(e))
    for rel in sorted(r for r in images if not r.startswith("figures/")):
        dest = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.join(ROOT, rel), dest)
    ncites = sum(len(cites_of(texts[ch])) for ch in chapters)
    print(f"book ({edition} edition): {len(chapters)} chapters, {ncites} citations resolved, {len(images)} charts "
          f"-> {os.path.relpath(out_dir, ROOT)}/index.html")


# ------------------------------------------------------------------ runnable sessions

def sessions_of(text):
    """[(line_no, script, expected)] for each `sh runnable` block and the `output` block
    after it (None when there is none: a test failure)."""
    lines = text.splitlines()
    blocks, i, fence = [], 0, None
    cur = None
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if m and fence is None:
            fence, info, start, body = m.group(2), m.group(3).strip(), i + 1, []
            i += 1
            while i < len(lines):
                e = FENCE_RE.match(lines[i])
                if e and e.group(2)[0] == fence[0] and len(e.group(2)) >= len(fence) and not e.group(3):
                    break
                body.append(lines[i])
                i += 1
            fence = None
            if info == "sh runnable":
                cur = [start, "\n".join(body) + "\n", None]
                blocks.append(cur)
            elif info == "output" and cur is not None and cur[2] is None:
                cur[2] = body
            else:
                cur = None
        i += 1
    return [tuple(b) for b in blocks]


def output_matches(expected, actual):
    """`...` inside a line matches any text; a line that is only `...` any number of lines
    (zero included). Trailing blanks on lines and blank lines at the end are ignored."""
    exp = [l.rstrip() for l in expected]
    act = [l.rstrip() for l in actual]
    while exp and not exp[-1]:
        exp.pop()
    while act and not act[-1]:
        act.pop()
    pats = [None if l.strip() == "..." else
            re.compile("^" + ".*".join(re.escape(p) for p in l.split("...")) + "$") for l in exp]
    memo = {}

    def go(i, j):
        if (i, j) in memo:
            return memo[i, j]
        if i == len(pats):
            r = j == len(act)
        elif pats[i] is None:
            r = any(go(i + 1, k) for k in range(j, len(act) + 1))
        else:
            r = j < len(act) and bool(pats[i].match(act[j])) and go(i + 1, j + 1)
        memo[i, j] = r
        return r
    return go(0, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A fresh build/minijet-server on a free port with its own store folder."""

    def __init__(self):
        self.store = tempfile.mkdtemp(prefix="minijet-book-")
        self.log = open(os.path.join(self.store, "server.log"), "w")
        binary = os.path.join(ROOT, "build", "minijet-server")
        if not os.access(binary, os.X_OK):
            raise BookError("build/minijet-server is not built (make)")
        for attempt in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                          "-sd", os.path.join(self.store, "data")],
                                         stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
            deadline = time.time() + 5
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise BookError("minijet-server did not start (see its log)")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.store, ignore_errors=True)


# A session that names a fixed resource (a path under /tmp, or a port other than 4222, which
# run_block rewrites to the session server's free port) runs holding a machine-wide lock, so two
# book tests at once (two `make test` runs) never share its files or ports. The sessions keep
# the literal paths and ports a reader types.
FIXED_RESOURCE = re.compile(r"/tmp/|\b1[0-9]{4}\b")
FIXED_LOCK = os.path.join(tempfile.gettempdir(), "minijet-book-fixed-resources.lock")


def run_block(script, port, timeout_s=60):
    script = script.replace("4222", str(port))
    if not FIXED_RESOURCE.search(script):
        return run_script(script, timeout_s)
    with open(FIXED_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return run_script(script, timeout_s)


def run_script(script, timeout_s):
    try:
        r = subprocess.run(["bash", "-c", script], cwd=ROOT, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s,
                           start_new_session=True)
        return r.stdout.decode("utf-8", "replace"), None
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode("utf-8", "replace"), f"timed out after {timeout_s} s"


def test_chapter(ch, text):
    """[(ok, name, diagnostics)] for one chapter: its citations, then its sessions."""
    results = []
    bad = [m for ok, m in check_cites(ch, text) if not ok]
    n = len(cites_of(text))
    results.append((not bad, f"{ch}: {n} citations resolve", bad))
    blocks = sessions_of(text)
    if not blocks:
        return results
    try:
        server = Server()
    except BookError as e:
        return results + [(False, f"{ch}:{no}", [str(e)]) for no, _, _ in blocks]
    try:
        for no, script, expected in blocks:
            if server.proc.poll() is not None:
                results.append((False, f"{ch}:{no}", ["the server exited before this block"]))
                continue
            actual, err = run_block(script, server.port)
            if expected is None:
                results.append((False, f"{ch}:{no}", ["no ```output block follows this runnable block"]))
                continue
            exp = [l.replace("4222", str(server.port)) for l in expected]
            ok = err is None and output_matches(exp, actual.splitlines())
            diag = [] if ok else ([err] if err else []) + ["expected:"] + ["  " + l for l in exp] + \
                ["got:"] + ["  " + l for l in actual.splitlines()]
            results.append((ok, f"{ch}:{no}", diag))
    finally:
        server.close()
    return results


def tap(results):
    print(f"1..{len(results)}")
    fails = 0
    for k, (ok, name, diag) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {k} - {name}")
        if not ok:
            fails += 1
            for d in diag:
                print(f"# {d}")
    print(f"# {len(results) - fails} passed, {fails} failed")
    return 1 if fails else 0


def bench_errors():
    try:
        stale = bench.sync(write=False)
    except bench.BenchError as e:
        return [str(e)]
    return [f"{f}: the generated table '{name}' differs from the results in {bench.LATEST}; run "
            f"python3 tools/book/book.py bench-sync (never edit those numbers by hand)" for f, name in stale]


HANDOUTS = "labs/*/README.md"


def handout_errors():
    """[error] for the labs' handouts: they cite code by anchor like the book, and every
    citation must resolve (and its caption name its symbol)."""
    import glob
    errors = []
    for path in sorted(glob.glob(os.path.join(ROOT, HANDOUTS))):
        rel = os.path.relpath(path, ROOT)
        for ok, msg in check_cites(rel, read(path)):
            if not ok:
                errors.append(msg.replace(f"book/{rel}", rel))
    return errors


def whole_book_tests():
    """The checks that need every chapter: numbering and cross-references, both editions,
    the benchmark figures, the handouts' citations."""
    err = bench_errors()
    out = [(not err, "benchmark figures match the results file", err)]
    herr = handout_errors()
    out.append((not herr, "lab handouts' citations resolve", herr))
    try:
        chapters = chapter_order()
        xerr = all_xref_errors(chapters, {ch: chapter_source(ch) for ch in chapters})
        out.append((not xerr, "numbering, cross-references and limits resolve", xerr))
    except BookError as e:
        out.append((False, "numbering, cross-references and limits resolve", [str(e)]))
    for edition in ("student", "teacher"):
        try:
            out.append(edition_test(edition))
        except BookError as e:
            out.append((False, f"{edition} edition", [str(e)]))
    return out


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "build"
    try:
        if cmd == "bench-sync":
            for f, name in bench.sync(write=True):
                print(f"bench-sync: {f}: regenerated '{name}'")
            return 0
        if cmd == "build":
            edition = "student"
            if "--edition" in argv:
                edition = argv[argv.index("--edition") + 1]
            build(edition)
            return 0
        chapters = [c for c in chapter_order() if c != ERRORS_MD]
        only = argv[2:]
        if only:
            chapters = [c for c in chapters if c in only or c.split("-")[0] in only]
        texts = {ch: read(os.path.join(BOOK, ch)) for ch in chapters}
        if cmd == "cites":
            results = []
            for ch in chapters:
                bad = [m for ok, m in check_cites(ch, texts[ch]) if not ok]
                results.append((not bad, f"{ch}: {len(cites_of(texts[ch]))} citations resolve", bad))
            if not only:
                results += whole_book_tests()
            try:
                errors_appendix()
                results.append((True, f"{ERRORS_MD}: generated from {ERRORS_DEF}", []))
            except BookError as e:
                results.append((False, f"{ERRORS_MD}: generated from {ERRORS_DEF}", [str(e)]))
            return tap(results)
        if cmd == "test":
            # chapters in parallel (each has its own server and store); results in book order
            with ThreadPoolExecutor(max_workers=4) as pool:
                per = list(pool.map(lambda ch: test_chapter(ch, texts[ch]), chapters))
            results = [r for rs in per for r in rs]
            if not only:
                results += whole_book_tests()
            return tap(results)
        print(f"usage: {argv[0]} build | test [CHAPTER...] | cites", file=sys.stderr)
        return 64
    except BookError as e:
        print(f"book: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
