"""What every benchmark result file records besides its numbers: the machine, the versions and the
git commit, so that a number can always be traced to what produced it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def git_commit(repo: Path = RESULTS.parent.parent) -> str:
    """``$CNN_GPU_GIT_COMMIT`` if set, else ``git rev-parse HEAD`` (+uncommitted if tracked files
    changed), else .git read by hand: the GPU machine gets a copy of the tree that may have no
    working git or no .git at all (then the caller names the commit in ``$CNN_GPU_GIT_COMMIT``)."""
    if os.environ.get("CNN_GPU_GIT_COMMIT"):
        return os.environ["CNN_GPU_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=repo, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=repo).stdout.strip()
        return out + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return read_git_head(repo)


def read_git_head(repo: Path) -> str:
    """The commit .git/HEAD points to, without git: follows a worktree's gitdir file, refs, packed-refs."""
    git = repo / ".git"
    if git.is_file():  # a worktree: ".git" holds "gitdir: <path>"
        git = Path(git.read_text().split("gitdir:", 1)[1].strip())
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return "unknown (no git metadata)"
    if not head.startswith("ref:"):
        return head
    ref = head.split(":", 1)[1].strip()
    common = git / "commondir"
    roots = [git] + ([git / common.read_text().strip()] if common.is_file() else [])
    for root in roots:
        if (root / ref).is_file():
            return (root / ref).read_text().strip()
        packed = root / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    return f"unknown ({ref} not found)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(*packages: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# BLAS and OpenMP thread counts change both speed and the float rounding of every product.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def describe_run(*packages: str) -> dict:
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "system": platform.platform()},
        "versions": versions("numpy", *packages),
        "thread_settings": {v: os.environ.get(v, "unset") for v in THREAD_VARIABLES},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def load_results(pattern: str) -> list[dict]:
    """Every result file matching ``pattern``, each with its name under ``result_file``."""
    return [{**json.loads(path.read_text()), "result_file": path.stem}
            for path in sorted(RESULTS.glob(f"{pattern}.json"))]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """The README's tables, printed from result files rather than typed."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
