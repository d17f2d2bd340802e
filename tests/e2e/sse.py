#!/usr/bin/env python3
"""Reads a Server-Sent Events stream saved to a file, as the tests need it.

  sse.py ids FILE        the events' ids, space-separated (events without one skipped)
  sse.py names FILE      the events' names, space-separated
  sse.py jobs FILE       the job_id of each event with an id, space-separated
  sse.py done FILE       the done event's job status, or "none"
  sse.py comments FILE   how many comment lines (": ...") the stream had
  sse.py retry FILE      the retry: value, or "none"

Parsed by the rules of the HTML standard's event-stream format: fields
"name: value", a blank line ends an event, a line starting with ":" is a
comment. A malformed line makes it exit 1 naming the line.
"""
import json
import sys


def parse(path):
    events, comments, retry = [], 0, None
    cur = {}
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            if cur:
                events.append(cur)
            cur = {}
            continue
        if line.startswith(":"):
            comments += 1
            continue
        if ":" not in line:
            sys.exit(f"line {n}: not a field: {line!r}")
        name, value = line.split(":", 1)
        value = value[1:] if value.startswith(" ") else value
        if name == "retry":
            retry = value
        elif name in ("id", "event", "data"):
            cur[name] = value
        else:
            sys.exit(f"line {n}: unknown field {name!r}")
    return events, comments, retry


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    events, comments, retry = parse(path)
    if cmd == "ids":
        print(" ".join(e["id"] for e in events if "id" in e))
    elif cmd == "names":
        print(" ".join(e.get("event", "message") for e in events))
    elif cmd == "jobs":
        print(" ".join(json.loads(e["data"])["job_id"] for e in events if "id" in e))
    elif cmd == "done":
        d = [e for e in events if e.get("event") == "done"]
        print(json.loads(d[-1]["data"])["status"] if d else "none")
    elif cmd == "comments":
        print(comments)
    elif cmd == "retry":
        print(retry if retry is not None else "none")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
