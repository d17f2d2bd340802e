#!/usr/bin/env bash
# make checksrc: refuses the calls the conventions ban (unbounded string
# functions, atoi-style parsing, exit() inside pkg/) in C sources we own.
set -uo pipefail
cd "$(dirname "$0")/.."
bad=0
files=$(git ls-files 'pkg/*.c' 'pkg/*.h' 'cmd/*.c' 'cmd/*.h' 'include/*.h' 2>/dev/null || find pkg cmd include -name '*.[ch]')
for pat in '\bsprintf\s*\(' '\bvsprintf\s*\(' '\bstrcpy\s*\(' '\bstrcat\s*\(' '\batoi\s*\(' '\batol\s*\(' '\bgets\s*\(' '\bstrtok\s*\('; do
  hits=$(grep -nP "$pat" $files | grep -v 'checksrc: allow' || true)
  if [ -n "$hits" ]; then echo "banned call ($pat):"; echo "$hits"; bad=1; fi
done
hits=$(grep -nP '\bexit\s*\(' $(echo "$files" | tr ' ' '\n' | grep '^pkg/') | grep -v 'checksrc: allow' || true)
if [ -n "$hits" ]; then echo "exit() inside pkg/:"; echo "$hits"; bad=1; fi
[ $bad -eq 0 ] && echo "checksrc: ok ($(echo "$files" | wc -w) files)"
exit $bad
