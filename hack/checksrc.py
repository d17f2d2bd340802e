#!/usr/bin/env python3
"""checksrc: the style and safety checks of docs/conventions in code form,
in the manner of curl's checksrc. Comments and string and character
literals are blanked out before any rule looks at the code, so prose that
says "gets" or a log message that says "exit(" is never a hit.

Rules (name: what it refuses):
  BANNEDFUNC       sprintf, vsprintf, strcpy, strcat, strncat, atoi, atol,
                   gets, strtok: unbounded or unchecked; use pkg/core helpers
  SNPRINTFUNCHECKED a statement that is a bare snprintf()/vsnprintf() call
                   (also cast to void): its result is dropped, so truncation
                   goes unseen. `if (snprintf(...) >= (int)sizeof b)`,
                   `n = snprintf(...)` and `return snprintf(...)` pass.
  EXITINPKG        exit() in pkg/: a library returns an easel_err instead
  TABS             a tab character
  TRAILINGSPACE    spaces, tabs or a carriage return at the end of a line
  NOENDNEWLINE     the file does not end with a newline
  LONGLINE         a line over --max-line columns (off unless asked)

A line that holds the comment `/* checksrc: allow */` is not checked; with
rule names, `/* checksrc: allow SNPRINTFUNCHECKED,TABS: why */`, only those
rules are skipped there. Give the reason after a colon.

usage: checksrc.py [--max-line N] [--summary] [FILE...]
Without files it checks the tracked pkg/, cmd/ and include/ C sources.
Prints "file:line:col: message [RULE]" with the line and a caret under the
spot, then "checksrc: N problems in M files (K files checked)" or
"checksrc: ok (K files checked)"; --summary adds counts by rule and by file.
Exit 0 when clean, 1 when not, 2 on bad usage or an unreadable file.
"""

import os
import re
import subprocess
import sys
from collections import Counter

BANNED = ("sprintf", "vsprintf", "strcpy", "strcat", "strncat", "atoi", "atol", "gets", "strtok")
BANNED_RE = re.compile(r"(?<![\w.>])(" + "|".join(BANNED) + r")\s*\(")
SNPRINTF_RE = re.compile(r"(?<![\w.>])(v?snprintf)\s*\(")
EXIT_RE = re.compile(r"(?<![\w.>])exit\s*\(")
ALLOW_RE = re.compile(r"/\*\s*checksrc:\s*allow\b([^*:]*)[^*]*\*/")


def blank(text):
    """Returns text with every comment, string literal and character literal
    replaced by spaces (the quotes are kept), newlines and columns unchanged,
    so positions in the result are positions in the file."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for k in range(i, end):
                if out[k] != "\n":
                    out[k] = " "
            i = end
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            # a line comment ends at a newline not escaped by a backslash
            k = i
            while k < n and not (text[k] == "\n" and text[k - 1] != "\\"):
                if text[k] != "\n":
                    out[k] = " "
                k += 1
            i = k
        elif c in "\"'":
            k = i + 1
            while k < n and text[k] != c and text[k] != "\n":
                if text[k] == "\\" and k + 1 < n:
                    if text[k + 1] != "\n":
                        out[k + 1] = " "
                    out[k] = " "
                    k += 2
                    continue
                out[k] = " "
                k += 1
            i = k + 1
        else:
            i += 1
    return "".join(out)


STMT_KEYWORDS = ("if", "while", "for", "switch")


def matching_open(code, close):
    """Index of the "(" that the ")" at close pairs with, or -1."""
    depth = 0
    for k in range(close, -1, -1):
        if code[k] == ")":
            depth += 1
        elif code[k] == "(":
            depth -= 1
            if depth == 0:
                return k
    return -1


def word_before(code, pos):
    k = pos - 1
    while k >= 0 and code[k].isspace():
        k -= 1
    end = k + 1
    while k >= 0 and (code[k].isalnum() or code[k] == "_"):
        k -= 1
    return code[k + 1:end], k + 1


def starts_statement(code, pos):
    """True when the expression at pos is a whole statement: what comes
    before it is a statement boundary (; { } a label, else, do, the ")" of
    if/while/for, or a (void) cast in one of those places)."""
    k = pos - 1
    while k >= 0 and code[k].isspace():
        k -= 1
    if k < 0:
        return True
    c = code[k]
    if c in ";{}":
        return True
    if c == ")":
        o = matching_open(code, k)
        if o < 0:
            return False
        inside = code[o + 1:k].strip()
        if inside == "void":
            return starts_statement(code, o)
        word, _ = word_before(code, o)
        return word in STMT_KEYWORDS
    if c == ":":
        # a label or "case X:"/"default:", not the ":" of a ?: expression
        line_start = code.rfind("\n", 0, k) + 1
        head = code[line_start:k].strip()
        return bool(re.fullmatch(r"(case\b.*|default|[A-Za-z_]\w*)", head)) and "?" not in head
    word, _ = word_before(code, k + 1)
    return word in ("else", "do")


def line_col(starts, pos):
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1, pos - starts[lo] + 1


def check_file(path, max_line):
    """Returns [(line, col, rule, message)] for path."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    code = blank(text)
    lines = text.split("\n")
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)
    hits = []

    for m in BANNED_RE.finditer(code):
        hits.append((m.start(1), "BANNEDFUNC", f"use of {m.group(1)}() is banned"))
    for m in SNPRINTF_RE.finditer(code):
        if starts_statement(code, m.start(1)):
            hits.append((m.start(1), "SNPRINTFUNCHECKED",
                         f"{m.group(1)}() result unchecked: truncation goes unseen"))
    norm = path.replace(os.sep, "/")
    if norm.startswith("pkg/") or "/pkg/" in norm:
        for m in EXIT_RE.finditer(code):
            hits.append((m.start(), "EXITINPKG", "exit() inside pkg/: return an easel_err"))
    out = [(*line_col(starts, p), rule, msg) for p, rule, msg in hits]

    for no, ln in enumerate(lines, 1):
        t = ln.find("\t")
        if t >= 0:
            out.append((no, t + 1, "TABS", "tab character"))
        stripped = ln.rstrip(" \t\r")
        if len(stripped) != len(ln):
            out.append((no, len(stripped) + 1, "TRAILINGSPACE", "trailing whitespace"))
        if max_line and len(ln) > max_line:
            out.append((no, max_line + 1, "LONGLINE", f"line is {len(ln)} columns, more than {max_line}"))
    if text and not text.endswith("\n"):
        out.append((len(lines), len(lines[-1]) + 1, "NOENDNEWLINE", "no newline at end of file"))

    kept = []
    for no, col, rule, msg in sorted(out):
        m = ALLOW_RE.search(lines[no - 1]) if no <= len(lines) else None
        if m:
            names = m.group(1).replace(",", " ").split()
            if not names or rule in names:
                continue
        kept.append((no, col, rule, msg))
    return kept, lines


def default_files():
    try:
        res = subprocess.run(["git", "ls-files", "pkg/*.[ch]", "cmd/*.[ch]", "include/*.h"],
                             capture_output=True, text=True, check=True)
        return res.stdout.split()
    except (OSError, subprocess.CalledProcessError):
        found = []
        for top in ("pkg", "cmd", "include"):
            for d, _, names in os.walk(top):
                found += [os.path.join(d, n) for n in names if n.endswith((".c", ".h"))]
        return sorted(found)


def main(argv):
    max_line, summary, files = 0, False, []
    it = iter(argv)
    for a in it:
        if a == "--max-line":
            try:
                max_line = int(next(it))
            except (StopIteration, ValueError):
                print("checksrc: --max-line needs a number", file=sys.stderr)
                return 2
        elif a == "--summary":
            summary = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("-"):
            print(f"checksrc: unknown option {a}", file=sys.stderr)
            return 2
        else:
            files.append(a)
    if not files:
        os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        files = default_files()
    by_rule, by_file = Counter(), Counter()
    for path in files:
        try:
            hits, lines = check_file(path, max_line)
        except OSError as e:
            print(f"checksrc: {path}: {e.strerror}", file=sys.stderr)
            return 2
        for no, col, rule, msg in hits:
            print(f"{path}:{no}:{col}: {msg} [{rule}]")
            print(f"  {lines[no - 1]}")
            print(f"  {' ' * (col - 1)}^")
            by_rule[rule] += 1
            by_file[path] += 1
    total = sum(by_rule.values())
    if summary and total:
        for rule, n in sorted(by_rule.items(), key=lambda x: (-x[1], x[0])):
            print(f"  {n:5d} {rule}")
        for path, n in sorted(by_file.items(), key=lambda x: (-x[1], x[0])):
            print(f"  {n:5d} {path}")
    if total:
        print(f"checksrc: {total} problems in {len(by_file)} files ({len(files)} files checked)")
        return 1
    print(f"checksrc: ok ({len(files)} files checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
