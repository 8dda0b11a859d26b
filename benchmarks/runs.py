"""Where each benchmark run's files are in git, and a check that every figure's source named in the
code and docs is one of them.

A figure is quoted with the file and the commit it was measured at ("benchmarks/results/gemm.json,
commit ac366b0"). A later run overwrites that file, so the run's own copy lies in the commit that
committed it, which the quote does not name. This module reads git's history of
``benchmarks/results/*.json``: for every commit that added or changed one, each file's recorded
``git_commit`` (the commit measured) and device. ``git show HOLDER:benchmarks/results/FILE`` then
prints the file a quote came from.

    python -m benchmarks.runs            a row a run: the commit measured, the device, where its files are
    python -m benchmarks.runs --check    every commit the tracked sources name is one, and every file
                                         quoted "at" or "commit" a commit was written by that run or is in
                                         git at that commit (exit 1, naming each that is not)

Both read the whole history: a shallow clone holds only part of it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = "benchmarks/results"
# The tracked files whose prose quotes figures and commits; not the results themselves, nor the tests
# (whose made-up commits are their cases).
QUOTING = ("*.md", "*.py", "*.cu", "*.cuh", "*.sh")
NOT_QUOTING = (RESULTS + "/", "tests/")

# A commit as the docs abbreviate it: 7 to 40 hex digits, at least one a letter (7-digit numbers
# such as 2097152 are sizes), standing alone (not part of 0x7fc00000 or a longer word).
COMMIT = re.compile(r"(?<![0-9A-Za-z_])(?=[0-9]*[a-f])[0-9a-f]{7,40}(?![0-9A-Za-z_])")
# A results file, then, within the same clause, "at" or "commit" and a commit: "gemm.json, commit
# ac366b0", "conv2d.json at ba54884", "gemm.json, in git at 7dc9295".
QUOTE = re.compile(r"\b([a-z0-9_]+(?:-[a-z0-9_]+)*\.json)\b[^.;:()\n]{0,60}?\b(?:at|commit) ([0-9a-f]{7,40})\b")


@dataclass
class Run:
    """One benchmark run: the commit it measured, its device, and the commits holding its files."""

    commit: str
    device: str
    # A file's name -> the commits that wrote it, the newest first.
    files: dict[str, list[str]] = field(default_factory=dict)


def git(*args: str, repo: Path = REPO, stdin: str = "") -> str:
    return subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=True).stdout


def measured_at(document: dict) -> tuple[str, str]:
    """The commit and device a result file records (benchmarks write them under ``environment``;
    the CPU training and accuracy scripts at the top level and under ``machine``)."""
    environment = document.get("environment", document)
    machine = document.get("machine") or {}
    commit = environment.get("git_commit") or document.get("git_commit") or ""
    device = environment.get("device") or environment.get("gpu") or machine.get("cpu") or "unknown"
    return commit.split("+")[0], device


def runs(repo: Path = REPO) -> list[Run]:
    """Every run whose JSON git holds, the newest committed first."""
    found: dict[str, Run] = {}
    for holder in git("log", "--format=%H", "--diff-filter=AM", "--", f"{RESULTS}/*.json", repo=repo).split():
        names = git("show", "--name-only", "--diff-filter=AM", "--format=", holder, "--", RESULTS, repo=repo).split()
        for path in (name for name in names if name.endswith(".json")):
            try:
                document = json.loads(git("show", f"{holder}:{path}", repo=repo))
            except json.JSONDecodeError:
                continue  # not a result written by a script: nothing to trace
            commit, device = measured_at(document)
            if commit:
                run = found.setdefault(commit[:7], Run(commit[:7], device))
                run.files.setdefault(Path(path).name, []).append(holder[:7])
    return list(found.values())


def quoting_files(repo: Path = REPO) -> list[Path]:
    tracked = git("ls-files", "--", *QUOTING, repo=repo).splitlines()
    return [repo / name for name in tracked if not name.startswith(NOT_QUOTING)]


def problems(repo: Path = REPO) -> list[str]:
    """Every commit named in the tracked sources that git does not know, and every quote of a results
    file at a commit that neither ran it nor holds it."""
    known_runs = {run.commit: run for run in runs(repo)}
    held = {(name, holder) for run in known_runs.values()
            for name, holders in run.files.items() for holder in holders}
    named = {}
    quotes = []
    for path in quoting_files(repo):
        text = path.read_text(errors="replace")
        where = path.relative_to(repo)
        for match in COMMIT.finditer(text):
            named.setdefault(match[0], where)
        quotes += [(where, name, commit[:7]) for name, commit in QUOTE.findall(text)]
    found = []
    if named:
        checked = git("cat-file", "--batch-check", repo=repo, stdin="".join(f"{c}^{{commit}}\n" for c in named))
        for (commit, where), line in zip(named.items(), checked.splitlines(), strict=True):
            if line.endswith("missing") or " commit " not in line:
                found.append(f"{where}: {commit} is not a commit of this repository")
    for where, name, commit in quotes:
        run = known_runs.get(commit)
        if not (run and name in run.files) and (name, commit) not in held:
            found.append(f"{where}: {name} quoted at {commit}, which neither wrote nor committed it")
    return found


def table(found: list[Run]) -> str:
    """A row a run: where to read each of its files (``git show HOLDER:benchmarks/results/FILE``)."""
    rows = ["| measured at | device | files, each in git at |", "|---|---|---|"]
    for run in found:
        by_holder: dict[str, list[str]] = {}
        for name, holders in sorted(run.files.items()):
            by_holder.setdefault(holders[0], []).append(name)
        where = "; ".join(f"{', '.join(names)} at {holder}" for holder, names in by_holder.items())
        rows.append(f"| {run.commit} | {run.device} | {where} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check every commit and quoted file the sources name")
    args = parser.parse_args(argv)
    if not args.check:
        print(table(runs()))
        return 0
    found = problems()
    print("\n".join(found) if found else "every commit named is one, and every quoted file is its run's")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
