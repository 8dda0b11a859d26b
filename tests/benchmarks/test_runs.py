"""benchmarks/runs.py: each run's files found in git's history, and every quoted source checked."""

import json
import os
import subprocess

import pytest

from benchmarks import runs

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@t"}


def commit_all(repo, message):
    env = {**os.environ, **GIT_IDENTITY}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True, env=env)
    return runs.git("rev-parse", "HEAD", repo=repo).strip()


def write_result(repo, name, commit, device="NVIDIA H200"):
    path = repo / runs.RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": {"git_commit": commit, "device": device}, "results": []}))


@pytest.fixture
def history(tmp_path):
    """A repository whose code was measured at ``measured``: its gemm.json and pool.json committed at
    ``first``; gemm.json measured again at ``first`` and committed at ``second``."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "kernels").mkdir()
    (tmp_path / "kernels" / "k.cu").write_text("// a kernel\n")
    measured = commit_all(tmp_path, "code")
    write_result(tmp_path, "gemm.json", measured)
    write_result(tmp_path, "pool.json", measured + "+uncommitted")
    first = commit_all(tmp_path, "results")
    write_result(tmp_path, "gemm.json", first, device="NVIDIA H100")
    second = commit_all(tmp_path, "more results")
    return tmp_path, measured[:7], first[:7], second[:7]


def test_each_run_lists_its_files_by_the_commits_that_wrote_them(history):
    repo, measured, first, second = history
    found = {run.commit: run for run in runs.runs(repo)}
    assert set(found) == {measured, first}
    assert found[measured].files == {"gemm.json": [first], "pool.json": [first]}
    assert (found[first].device, found[first].files) == ("NVIDIA H100", {"gemm.json": [second]})
    assert f"| {measured} | NVIDIA H200 | gemm.json, pool.json at {first} |" in runs.table(runs.runs(repo))


def test_a_quote_must_name_a_run_of_that_file_or_a_commit_holding_it(history):
    repo, measured, first, second = history
    quotes = (repo / "kernels" / "k.cu")
    quotes.write_text(f"// Measured (H200, benchmarks/results/gemm.json, commit {measured}): 1 TFLOP/s\n"
                      f"// gemm.json in git at {second}; pool.json at {measured}, 2.0x; "
                      f"0x7fc00000 and 2097152 are no commits\n")
    commit_all(repo, "quotes")
    assert runs.problems(repo) == []
    quotes.write_text(f"// pool.json, commit {second}: a commit that neither measured nor committed it\n"
                      f"// pool.json at {first}, which committed it; gemm.json at {second}, which committed it again\n"
                      "// loss.json at deadbee, a commit that does not exist\n")
    assert runs.problems(repo) == [
        "kernels/k.cu: deadbee is not a commit of this repository",
        f"kernels/k.cu: pool.json quoted at {second}, which neither wrote nor committed it",
        "kernels/k.cu: loss.json quoted at deadbee, which neither wrote nor committed it"]


def test_every_source_this_repository_quotes_is_in_its_history():
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=runs.REPO, capture_output=True,
                             text=True)
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("needs the repository's whole git history")
    assert runs.problems() == []
