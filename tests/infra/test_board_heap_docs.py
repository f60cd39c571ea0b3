"""The board heap figures in README.md and boards/README.md are the ones bench/board_heap.py
measured last (bench/board_heap.json): a doc figure the bench contradicts is a bug. Rerun
`.venv/bin/python bench/board_heap.py --docs` after a change that moves them."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import board_heap  # noqa: E402


def figures():
    with open(board_heap.JSON_FILE) as f:
        return json.load(f)


@pytest.mark.parametrize("doc", board_heap.DOCS, ids=os.path.basename)
def test_the_docs_carry_the_benchs_table(doc):
    with open(doc) as f:
        block = board_heap.doc_block(f.read())
    assert block is not None, doc + ": no table between the bench's markers"
    assert block == board_heap.table(figures()), \
        doc + " differs from bench/board_heap.json: run bench/board_heap.py --docs"


def test_a_changed_figure_is_caught():
    f = figures()
    f["smallest_heap_kb"]["mqtt"] = (f["smallest_heap_kb"]["mqtt"] or 0) + 4
    with open(board_heap.DOCS[0]) as fh:
        assert board_heap.doc_block(fh.read()) != board_heap.table(f)


def test_the_realmp_lanes_word_size_ratio_is_the_benchs():
    # realboard.heap_for scales the 64-bit figures of the "too small" tests by this ratio
    sys.path.insert(0, os.path.join(ROOT, "tests", "realmp"))
    import realboard
    assert abs(realboard.RATIO_32_64 - figures()["ratio_32_64"]) < 0.005
