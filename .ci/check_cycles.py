#!/usr/bin/env python3
"""Fail CI when the modules of a crate form an import cycle.

Why: every module (file) of a crate has one owner and sits in one layer
(domain below store below service below api, and so on).  A layer can only be
changed, tested and reviewed on its own if the modules it uses do not use it
back.  Once files import each other in a cycle there are no layers left: a
change to any file in the cycle can break every other one, and none of them
can be moved, split or owned alone.  This check keeps the module graph acyclic
and, when it is not, prints the edges of each cycle so the owner can see which
import to cut.

How: each `.rs` file under a crate's `src` directory is one node
(`lib.rs`/`main.rs` -> `crate`, `foo.rs` or `foo/mod.rs` -> `crate::foo`,
`foo/bar.rs` -> `crate::foo::bar`).  Comments, string/char literals and
`#[cfg(test)] mod ... { }` blocks are blanked out, then every path that starts
with `crate::`, `super::`, `self::` or the name of a child module declared in
that scope (`mod x;` makes `x::...` a path into the child) becomes an edge to
the longest prefix of the path that is a module file.  `use` trees, grouped
ones included, are expanded leaf by leaf.  `mod x;` declarations themselves are
not edges, and neither is any path from a module into its own submodules:
they are its parts (`plates` uses `plates::committer`), so only the way back
up (`committer` using `plates`) and paths between siblings and layers count.
Strongly connected components (Tarjan) of more than one node are cycles.

Limits: this is a lexical scan, not a compiler.  Files under `tests/`,
`benches/` and `src/bin/` are skipped; `#[path]` attributes are not followed;
when a crate has both `lib.rs` and `main.rs` they are one node, `crate`.

Usage: python3 .ci/check_cycles.py [CRATE_SRC_DIR ...]
       (no argument: the src directory of every crate of the repository)
Exit status: 1 if any crate has a cycle, 0 otherwise (2 on bad arguments).
"""

from __future__ import annotations

import bisect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"tests", "benches"}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


# --------------------------------------------------------------------------
# Lexical clean-up
# --------------------------------------------------------------------------

def _is_ident_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _blank(chars: list[str], start: int, end: int) -> None:
    """Replace chars[start:end] by spaces, keeping newlines (so offsets and
    line numbers stay valid)."""
    for k in range(start, end):
        if chars[k] != "\n":
            chars[k] = " "


_RAW_STR = re.compile(r'r(#*)"')


def strip_comments_and_literals(text: str) -> str:
    """Blank out comments (line, doc, nested block) and string, raw string,
    byte string and char literals.  Lifetimes are left alone."""
    chars = list(text)
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        # line comment (also /// and //!)
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            j = n if j == -1 else j
            _blank(chars, i, j)
            i = j
            continue
        # block comment, Rust block comments nest
        if c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            _blank(chars, i, j)
            i = j
            continue
        # raw string r"..", r#".."#, br"..", cr".."
        if c == "r":
            prev = text[i - 1] if i else ""
            prev2 = text[i - 2] if i >= 2 else ""
            at_token_start = not _is_ident_char(prev) or (
                prev in "bc" and not _is_ident_char(prev2)
            )
            m = _RAW_STR.match(text, i) if at_token_start else None
            if m:
                closing = '"' + m.group(1)
                j = text.find(closing, m.end())
                j = n if j == -1 else j + len(closing)
                _blank(chars, i, j)
                i = j
                continue
        # normal string (b".." and c".." leave a harmless b/c behind)
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            _blank(chars, i, j)
            i = j
            continue
        # char literal vs lifetime / label
        if c == "'":
            if nxt == "\\":
                j = text.find("'", i + 3)
                j = n if j == -1 else j + 1
                _blank(chars, i, j)
                i = j
                continue
            if i + 2 < n and text[i + 2] == "'":
                _blank(chars, i, i + 3)
                i += 3
                continue
        i += 1
    return "".join(chars)


def match_brace(code: str, open_idx: int) -> int:
    """Index just past the `}` matching the `{` at open_idx (code must be
    stripped of comments and literals)."""
    depth = 0
    for j in range(open_idx, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


def match_bracket(code: str, open_idx: int) -> int:
    depth = 0
    for j in range(open_idx, len(code)):
        if code[j] == "[":
            depth += 1
        elif code[j] == "]":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(code)


_CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")
_ATTR_START = re.compile(r"\s*#\s*\[")
_MOD_DECL_AFTER_ATTRS = re.compile(
    r"\s*(?:pub\s*(?:\([^)]*\))?\s*)?mod\s+(" + IDENT + r")\s*([{;])"
)


def strip_test_modules(code: str) -> tuple[str, set[str]]:
    """Blank `#[cfg(test)] [#[other]...] mod name { ... }` blocks (found by
    brace matching, so it works whether the block ends the file, as is the
    convention here, or not).  Returns the new code and the names of
    `#[cfg(test)] mod name;` children, whose files are test-only."""
    chars = list(code)
    test_children: set[str] = set()
    for m in _CFG_TEST.finditer(code):
        pos = m.end()
        while True:  # skip further attributes such as #[allow(...)]
            a = _ATTR_START.match(code, pos)
            if not a:
                break
            pos = match_bracket(code, a.end() - 1)
        d = _MOD_DECL_AFTER_ATTRS.match(code, pos)
        if not d:
            continue
        if d.group(2) == "{":
            end = match_brace(code, d.end() - 1)
        else:
            end = d.end()
            test_children.add(d.group(1))
        _blank(chars, m.start(), end)
    return "".join(chars), test_children


# --------------------------------------------------------------------------
# Module files
# --------------------------------------------------------------------------

@dataclass
class Crate:
    src: Path
    # module path ("crate::foo") -> files (lib.rs and main.rs share "crate")
    files_of: dict[str, list[Path]] = field(default_factory=dict)
    module_of: dict[Path, str] = field(default_factory=dict)


def module_path_of(rel: Path) -> str | None:
    parts = list(rel.parts)
    if not parts or not parts[-1].endswith(".rs"):
        return None
    stem = parts[-1][:-3]
    if len(parts) == 1 and stem in ("lib", "main"):
        return "crate"
    if stem == "mod":
        parts = parts[:-1]
    else:
        parts[-1] = stem
    return "::".join(["crate", *parts])


def collect_modules(src: Path) -> Crate:
    crate = Crate(src=src)
    for f in sorted(src.rglob("*.rs")):
        rel = f.relative_to(src)
        if any(p in SKIP_DIRS for p in rel.parts[:-1]):
            continue
        if rel.parts[0] == "bin" and len(rel.parts) > 1:
            continue  # each bin is its own crate root
        mod = module_path_of(rel)
        if mod is None:
            continue
        crate.files_of.setdefault(mod, []).append(f)
        crate.module_of[f] = mod
    return crate


# --------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------

@dataclass
class Ref:
    segments: list[str]  # as written, e.g. ["super", "log", "append"]
    offset: int          # where in the file (for the line number)
    text: str            # as written, for the report


_USE_TOKEN = re.compile(r"::|[{},*]|r#" + IDENT + r"|\$?" + IDENT)
_USE_STMT = re.compile(r"(?<![\w$])use\s")


def parse_use_tree(body: str, base: int) -> list[Ref]:
    """Expand a use tree (the text between `use` and `;`) into leaf paths.
    `{self}` and `*` yield the prefix itself; `as alias` is dropped."""
    toks = [(t.group(), base + t.start()) for t in _USE_TOKEN.finditer(body)]
    out: list[Ref] = []
    pos = 0

    def peek() -> str:
        return toks[pos][0] if pos < len(toks) else ""

    def emit(path: list[str], off: int) -> None:
        out.append(Ref(path, off, "::".join(path)))

    def tree(prefix: list[str]) -> None:
        nonlocal pos
        path = list(prefix)
        if peek() == "::" and not prefix:
            path.append("::")  # leading `::` -> an extern crate
            pos += 1
        while pos < len(toks):
            tok, off = toks[pos]
            if tok == "{":
                pos += 1
                while pos < len(toks) and peek() != "}":
                    if peek() == ",":
                        pos += 1
                    else:
                        before = pos
                        tree(path)
                        pos += pos == before  # never loop on junk
                pos += 1  # the `}`
                return
            if tok == "*":
                pos += 1
                emit(path + ["*"], off)
                return
            if not re.fullmatch(r"\$?(r#)?" + IDENT, tok):
                return  # `,` `}` or junk: let the caller handle it
            pos += 1
            if not (tok == "self" and prefix and path == prefix):
                path.append(tok.removeprefix("r#"))
            if peek() == "::":
                pos += 1
                continue
            if peek() == "as":
                pos += 2
            emit(path, off)
            return

    while pos < len(toks):
        before = pos
        if peek() == ",":
            pos += 1
            continue
        tree([])
        pos += pos == before
    return out


def find_use_statements(code: str) -> list[tuple[int, int, str]]:
    """(start, end, body) of each `use ...;` in the code."""
    res = []
    for m in _USE_STMT.finditer(code):
        end = code.find(";", m.end())
        if end == -1:
            continue
        res.append((m.start(), end + 1, code[m.end():end]))
    return res


_PATH = re.compile(
    r"(?<![\w$])(" + IDENT + r"(?:\s*::\s*" + IDENT + r")+)"
)
_VIS_IN = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
_MOD_DECL = re.compile(
    r"(?<![\w$])mod\s+(" + IDENT + r")\s*([{;])"
)


@dataclass
class Scope:
    start: int
    end: int
    path: list[str]  # module path of this (inline) module


def inline_scopes(code: str, file_mod: list[str]) -> list[Scope]:
    """The file scope plus one Scope per inline `mod x { ... }`, nested."""
    scopes = [Scope(0, len(code), file_mod)]
    for m in _MOD_DECL.finditer(code):
        if m.group(2) != "{":
            continue
        start, end = m.start(), match_brace(code, m.end() - 1)
        outer = innermost(scopes, start)
        scopes.append(Scope(start, end, outer.path + [m.group(1)]))
    return scopes


def innermost(scopes: list[Scope], offset: int) -> Scope:
    best = scopes[0]
    for s in scopes:
        if s.start <= offset < s.end and (s.end - s.start) <= (best.end - best.start):
            best = s
    return best


def resolve(segments: list[str], scope: list[str], children: set[str]) -> list[str] | None:
    """Absolute module path segments for a path as written, or None if it
    does not point into this crate."""
    if not segments:
        return None
    first = segments[0]
    if first == "crate":
        return list(segments)
    if first in ("self", "super"):
        cur = list(scope)
        rest = list(segments)
        while rest and rest[0] in ("self", "super"):
            if rest.pop(0) == "super":
                if len(cur) <= 1:
                    return None  # super above the crate root
                cur.pop()
        return cur + rest
    if first in children:
        return list(scope) + list(segments)
    return None  # extern crate, std, a type, a local `use` name


def longest_module(path: list[str], known: dict[str, list[Path]]) -> str | None:
    for k in range(len(path), 0, -1):
        cand = "::".join(path[:k])
        if cand in known:
            return cand
    return None


@dataclass
class Edge:
    src_file: Path
    line: int
    text: str
    count: int = 1


def scan_crate(crate: Crate) -> dict[tuple[str, str], Edge]:
    """Edges (source module, target module) -> first example + count."""
    edges: dict[tuple[str, str], Edge] = {}
    test_only: set[str] = set()
    per_file: list[tuple[Path, str, str, list[int]]] = []

    for f, mod in crate.module_of.items():
        raw = f.read_text(encoding="utf-8", errors="replace")
        code = strip_comments_and_literals(raw)
        code, test_children = strip_test_modules(code)
        code = _VIS_IN.sub(lambda m: " " * len(m.group()), code)
        for child in test_children:
            test_only.add(f"{mod}::{child}")
        line_starts = [0] + [i + 1 for i, ch in enumerate(raw) if ch == "\n"]
        per_file.append((f, mod, code, line_starts))

    # test-only child files (`#[cfg(test)] mod x;`) and their descendants
    for t in test_only:
        for mod in list(crate.files_of):
            if mod == t or mod.startswith(t + "::"):
                for f in crate.files_of.pop(mod):
                    crate.module_of.pop(f, None)

    for f, mod, code, line_starts in per_file:
        if f not in crate.module_of:
            continue
        scopes = inline_scopes(code, mod.split("::"))
        children: dict[tuple[str, ...], set[str]] = {}
        for m in _MOD_DECL.finditer(code):
            inner = [s for s in scopes[1:] if s.start != m.start()]  # not itself
            sc = innermost([scopes[0], *inner], m.start())
            children.setdefault(tuple(sc.path), set()).add(m.group(1))

        refs: list[Ref] = []
        chars = list(code)
        for start, end, body in find_use_statements(code):
            body_off = end - 1 - len(body)
            refs.extend(parse_use_tree(body, body_off))
            _blank(chars, start, end)
        rest = "".join(chars)
        for m in _PATH.finditer(rest):
            # a continuation of a longer path (`x::y` after `foo::`)?
            k = m.start() - 1
            while k >= 0 and rest[k].isspace():
                k -= 1
            if k >= 1 and rest[k - 1:k + 1] == "::":
                continue
            segs = [s.strip() for s in m.group(1).split("::")]
            refs.append(Ref(segs, m.start(), "::".join(segs)))

        for ref in refs:
            sc = innermost(scopes, ref.offset)
            absolute = resolve(ref.segments, sc.path, children.get(tuple(sc.path), set()))
            if absolute is None:
                continue
            target = longest_module(absolute, crate.files_of)
            if target is None or target == mod:
                continue  # outside the known files, or a self-loop
            if target.startswith(mod + "::") or (mod == "crate" and target != "crate"):
                continue  # a module's own submodules are its parts, not another layer
            line = bisect.bisect_right(line_starts, ref.offset)
            key = (mod, target)
            if key in edges:
                edges[key].count += 1
            else:
                edges[key] = Edge(f, line, ref.text)
    return edges


# --------------------------------------------------------------------------
# Tarjan's strongly connected components (iterative)
# --------------------------------------------------------------------------

def tarjan(nodes: list[str], succ: dict[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(succ.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                sccs.append(comp)
    return sccs


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def show(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def check(src: Path) -> bool:
    """Print the result for one crate; True when it has no cycle."""
    crate = collect_modules(src)
    edges = scan_crate(crate)
    nodes = sorted(crate.files_of)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        succ[a].append(b)
    cycles = [sorted(c) for c in tarjan(nodes, succ) if len(c) > 1]
    name = show(src)
    if not cycles:
        print(f"ok: {name} has no module cycle ({len(nodes)} modules, {len(edges)} edges)")
        return True
    for n, comp in enumerate(sorted(cycles, key=len, reverse=True), 1):
        members = set(comp)
        inner = sorted((k, e) for k, e in edges.items() if k[0] in members and k[1] in members)
        print(f"CYCLE {n} in {name}: {len(comp)} modules import each other "
              f"({len(inner)} edges inside the cycle)")
        print("  files:")
        for m in comp:
            files = ", ".join(show(f) for f in crate.files_of[m])
            print(f"    {files}  ({m})")
        print("  edges (source file:line -> target module, `path as written`, references):")
        for (a, b), e in inner:
            print(f"    {show(e.src_file)}:{e.line} -> {b}  `{e.text}`  x{e.count}")
    print(f"FAIL: {name} has {len(cycles)} module cycle(s) "
          f"({len(nodes)} modules, {len(edges)} edges); cut one edge per cycle")
    return False


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    if argv:
        dirs = [Path(a) for a in argv]
    else:
        # Every crate of the workspace: a directory with a Cargo.toml and a src/.
        dirs = sorted(
            p.parent / "src"
            for p in REPO_ROOT.rglob("Cargo.toml")
            if (p.parent / "src").is_dir() and "target" not in p.parts and not any(x.startswith(".") for x in p.parts)
        )
    bad_args = [d for d in dirs if not d.is_dir()]
    for d in bad_args:
        print(f"error: {d} is not a directory", file=sys.stderr)
    if bad_args or not dirs:
        if not dirs:
            print("error: no crate src directory to check", file=sys.stderr)
        return 2
    results = [check(d) for d in dirs]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
