#!/usr/bin/env bash
# make checksrc: the conventions' style and safety rules (banned calls,
# unchecked snprintf, exit() in pkg/, whitespace) over the C sources we own,
# with comments and strings blanked first. The rules and the per-line
# escape are described in hack/checksrc.py.
#   hack/checksrc.sh [--summary] [--max-line N] [FILE...]
exec python3 "$(dirname "$0")/checksrc.py" "$@"
