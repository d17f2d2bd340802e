#!/usr/bin/env bash
# hack/checksrc.sh finds exactly what it should: on tests/checksrc/pkg/
# fixture.c every line marked "/* HIT RULE... */" (or "HIT@-N" for the line
# N above) is reported with those rules and nothing else is, though the
# fixture also names banned calls in comments and strings, uses allowed
# look-alikes (my_atoi, r->gets, strtok_r, atexit, _exit), checked snprintf
# calls, and the per-line allow escape. Needs no build and no servers.
. "$(dirname "$0")/lib.sh"
FIX=tests/checksrc/pkg/fixture.c
cd "$ROOT" || exit 1
# expected "LINE RULE" pairs from the markers
awk '{
  if (match($0, /\/\* HIT(@-[0-9]+)?( [A-Z]+)+ \*\//)) {
    m = substr($0, RSTART + 6, RLENGTH - 9); off = 0
    if (m ~ /^@-/) { off = substr(m, 3, index(m, " ") - 3) + 0 }
    n = split(substr(m, index(m, " ") + 1), r, " ")
    for (i = 1; i <= n; i++) print FNR - off, r[i]
  }
}' "$FIX" | sort >"$WORK/want.txt"
got() { sed -n 's/^[^:]*:\([0-9]*\):[0-9]*: .* \[\([A-Z]*\)\]$/\1 \2/p' "$WORK/out.txt" | sort; }

./hack/checksrc.sh --max-line 100 "$FIX" >"$WORK/out.txt"; rc=$?
check "the fixture has markers for every rule" eq \
  "$(awk '{print $2}' "$WORK/want.txt" | sort -u | tr '\n' ' ')" \
  "BANNEDFUNC EXITINPKG LONGLINE NOENDNEWLINE SNPRINTFUNCHECKED TABS TRAILINGSPACE "
check "exactly the marked hits, no more, no fewer" eq "$(got)" "$(cat "$WORK/want.txt")"
check "hits: exit status 1" eq "$rc" 1
check "the summary counts them" grep -qx "checksrc: $(wc -l <"$WORK/want.txt") problems in 1 files (1 files checked)" "$WORK/out.txt"
check "each hit shows the line and a caret" bash -c "grep -A2 ':43:5: use of sprintf() is banned' '$WORK/out.txt' | tail -1 | grep -qx '      ^'"

./hack/checksrc.sh "$FIX" >"$WORK/out.txt"
check "LONGLINE only with --max-line" eq "$(got)" "$(grep -v LONGLINE "$WORK/want.txt")"

mkdir -p "$WORK/cmd"
printf '/* gets(b) and exit(1) in prose */\nint f(void) { const char *s = "sprintf("; exit(1); return s[0]; }\n' >"$WORK/cmd/ok.c"
./hack/checksrc.sh "$WORK/cmd/ok.c" >"$WORK/out.txt"; rc=$?
check "outside pkg/ exit() is allowed, comments and strings never count: exit 0" eq "$rc/$(tail -1 "$WORK/out.txt")" "0/checksrc: ok (1 files checked)"
./hack/checksrc.sh "$WORK/nope.c" >/dev/null 2>&1; rc=$?
check "an unreadable file is exit 2" eq "$rc" 2
finish
