#!/usr/bin/env bash
# The Makefile keeps its promises: `make help` lists every target that has a
# rule of its own (names with digits such as test-e2e included), every
# .PHONY name has a rule, and no Python byte code is tracked.
. "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
# named targets: rule lines that start with a plain name (not $(BUILD)/...,
# not a pattern, not a variable assignment)
rules=$(sed -n 's/^\([a-zA-Z0-9_.-][a-zA-Z0-9_.-]*\):\([^=].*\)\?$/\1/p' Makefile | grep -v '^\.' | sort -u)
phony=$(sed -n '/^\.PHONY:/,/[^\\]$/p' Makefile | sed 's/^\.PHONY://; s/\\$//' | tr ' ' '\n' | grep . | sort -u)
listed=$(make --no-print-directory help | awk '{print $1}' | sort -u)
check "make help prints some targets" test -n "$listed"
check "make help lists every named target (missing: $(comm -23 <(echo "$rules") <(echo "$listed") | tr '\n' ' '))" \
  eq "$(comm -23 <(echo "$rules") <(echo "$listed"))" ""
check "test-e2e is in make help" grep -qx test-e2e <<<"$listed"
check "every .PHONY name has a rule (without: $(comm -23 <(echo "$phony") <(echo "$rules") | tr '\n' ' '))" \
  eq "$(comm -23 <(echo "$phony") <(echo "$rules"))" ""
check "every named target is .PHONY" eq "$(comm -13 <(echo "$phony") <(echo "$rules"))" ""
check "no __pycache__ or .pyc file is tracked" eq "$(git ls-files | grep -E '(^|/)__pycache__/|\.pyc$')" ""
check ".gitignore keeps them out" bash -c "git check-ignore -q tests/providers/__pycache__/x.cpython-311.pyc"
finish
