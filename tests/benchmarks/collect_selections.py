"""Which GPU tests each of several pytest ``-k`` expressions selects, in one process.

    python tests/benchmarks/collect_selections.py ANSWER_FILE < QUERIES

QUERIES is JSON, a list of ``[expression, [path, ...]]``; ANSWER_FILE receives, in the same order, each
one's collected test ids, as ``pytest -q --collect-only -m gpu -k EXPRESSION PATH...`` lists them.
Each collection after the first reuses the test modules the first imported: a few tenths of a second,
where a process a collection spends over a second importing them again.
"""

import json
import sys

import pytest


class Selection:
    """A pytest plugin that keeps the ids of the tests a collection selected."""

    def __init__(self):
        self.ids = []

    def pytest_collection_finish(self, session):
        self.ids = [item.nodeid for item in session.items]


def main(answer_file: str) -> int:
    answers = []
    for expression, paths in json.load(sys.stdin):
        selection = Selection()
        status = pytest.main(["-q", "--collect-only", "-p", "no:cacheprovider", "-m", "gpu", "-k", expression, *paths],
                             plugins=[selection])
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            print(f"collecting -k {expression!r} in {paths} ended with {status!r}", file=sys.stderr)
            return 1
        answers.append(selection.ids)
    with open(answer_file, "w") as file:
        json.dump(answers, file)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
