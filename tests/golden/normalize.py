#!/usr/bin/env python3
"""Normalises an ATOF event stream so runs from different languages compare.

Reads JSON Lines (one canonical event per line) on stdin and:

* replaces every string that is a UUID by ``uuid-N``, N being the order of
  first appearance (events in order; inside an event, object keys in sorted
  order, depth first, arrays in order), so parent links stay consistent;
* replaces the top-level ``timestamp`` of every event by ``"ts"``.

Usage::

    normalize.py < run.jsonl                  # print the normalised stream
    normalize.py --check agent_run.jsonl < run.jsonl   # compare, exit 1 on difference
    normalize.py --write agent_run.jsonl < run.jsonl   # (re)generate the golden file

The comparison parses both sides and compares JSON values line by line, so
whitespace and key order never matter. Go re-implements the same rules in
crates/ffi/go/golden_test.go; keep the two in step.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, List

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize(events: List[Any]) -> List[Any]:
    """The normalised copy of a list of parsed events."""
    ids: Dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(value[key]) for key in sorted(value)}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str) and UUID.match(value):
            return ids.setdefault(value, f"uuid-{len(ids)}")
        return value

    out = []
    for event in events:
        event = walk(event)
        if isinstance(event, dict) and "timestamp" in event:
            event["timestamp"] = "ts"
        out.append(event)
    return out


def parse_lines(text: str) -> List[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dump(events: List[Any]) -> str:
    return "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in events)


def compare(actual: List[Any], expected: List[Any]) -> List[str]:
    """Human-readable differences; empty when the streams are equal."""
    problems = []
    for i in range(max(len(actual), len(expected))):
        got = actual[i] if i < len(actual) else None
        want = expected[i] if i < len(expected) else None
        if got != want:
            problems.append(f"event {i}:\n  expected {json.dumps(want, sort_keys=True)}\n"
                            f"  actual   {json.dumps(got, sort_keys=True)}")
    if len(actual) != len(expected):
        problems.append(f"expected {len(expected)} events, got {len(actual)}")
    return problems


def main(argv: List[str]) -> int:
    events = normalize(parse_lines(sys.stdin.read()))
    if len(argv) == 3 and argv[1] == "--check":
        with open(argv[2], encoding="utf-8") as f:
            expected = parse_lines(f.read())
        problems = compare(events, expected)
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"golden stream matches {argv[2]} ({len(events)} events)")
        return 1 if problems else 0
    if len(argv) == 3 and argv[1] == "--write":
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(dump(events))
        return 0
    if len(argv) == 1:
        sys.stdout.write(dump(events))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
