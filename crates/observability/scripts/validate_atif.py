#!/usr/bin/env python3
"""Validate every ATIF trajectory file of a directory with Harbor's own models.

Usage: validate_atif.py DIR [DIR ...]

Each ``*.json`` file is loaded with ``atif.Trajectory.model_validate`` from the
``atif`` package on PyPI (``pip install atif``), which holds the pydantic
models of Harbor's RFC 0001 (``extra="forbid"`` everywhere, so any field
outside the spec that is not under ``extra`` fails). On top of the models'
own checks, a few rules of the RFC that the models leave to producers are
checked here: the schema tag, ``final_metrics.total_steps`` and token sums,
and that every embedded subagent is referenced from an observation result.

Exit status: 0 when every file is valid, 1 otherwise, 2 on usage errors.
"""

from __future__ import annotations

import json
import pathlib
import sys

try:
    from atif import Trajectory
except ImportError:  # pragma: no cover - environment problem, not a data one
    print("validate_atif: the 'atif' package is missing (pip install atif)", file=sys.stderr)
    sys.exit(2)


def _refs(traj: Trajectory) -> set[str]:
    ids = set()
    for step in traj.steps:
        if step.observation is None:
            continue
        for result in step.observation.results:
            for ref in result.subagent_trajectory_ref or []:
                if ref.trajectory_id is not None:
                    ids.add(ref.trajectory_id)
    return ids


def _check(traj: Trajectory, where: str) -> list[str]:
    problems = []
    if traj.schema_version != "ATIF-v1.7":
        problems.append(f"{where}: schema_version {traj.schema_version!r}, expected 'ATIF-v1.7'")
    if not traj.steps:
        problems.append(f"{where}: no steps")
    fm = traj.final_metrics
    if fm is not None:
        if fm.total_steps != len(traj.steps):
            problems.append(f"{where}: total_steps {fm.total_steps} != {len(traj.steps)} steps")
        for total, field in (
            ("total_prompt_tokens", "prompt_tokens"),
            ("total_completion_tokens", "completion_tokens"),
            ("total_cached_tokens", "cached_tokens"),
        ):
            values = [getattr(s.metrics, field) for s in traj.steps if s.metrics is not None]
            values = [v for v in values if v is not None]
            expected = sum(values) if values else None
            if getattr(fm, total) != expected:
                problems.append(f"{where}: {total} {getattr(fm, total)} != sum {expected}")
    referenced = _refs(traj)
    for i, sub in enumerate(traj.subagent_trajectories or []):
        if sub.trajectory_id not in referenced:
            problems.append(f"{where}: subagent {sub.trajectory_id} is not referenced")
        problems += _check(sub, f"{where}.subagent_trajectories[{i}]")
    return problems


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    files = sorted(f for d in argv for f in pathlib.Path(d).glob("*.json"))
    if not files:
        print(f"validate_atif: no *.json files in {', '.join(argv)}", file=sys.stderr)
        return 1
    failed = 0
    for path in files:
        try:
            traj = Trajectory.model_validate(json.loads(path.read_text()))
            problems = _check(traj, path.name)
        except Exception as exc:  # pydantic.ValidationError, json errors
            problems = [f"{path.name}: {exc}"]
        if problems:
            failed += 1
            for p in problems:
                print(f"INVALID {p}")
        else:
            print(f"ok {path.name} ({len(traj.steps)} steps, "
                  f"{len(traj.subagent_trajectories or [])} subagents)")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
