"Every chapter notebook executes (cells flagged `#| notest` or `#| slow` are skipped), as nbdev-test would run it."
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("*.ipynb"))


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes(path):
    ok, seconds = run_notebook(path, skip_flags=["notest", "slow"], cell_timeout=600)
    assert ok, f"{path.name} failed to execute (see the traceback above)"
