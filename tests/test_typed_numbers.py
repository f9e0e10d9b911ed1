"""Numbers typed by hand outside the chapters must be numbers the book computes.

The preface's summary of findings and the README state results in prose that no notebook executes. Each number in them
must appear, to the precision it is written with, among the outputs that the cited chapters computed from the stored
results (their Markdown, text and printed outputs), or be a number of the set-up listed in `SETUP` with its reason.
When a result is regenerated and a chapter's computed numbers move, this test names every stale typed number."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUM = re.compile(r"(?<![\w.^{])\d+(?:\.\d+)?(?![\w])")

# Numbers of the set-up rather than of a result (importances, step counts of training conditions, grid sizes, …), by
# the section that states them: these are choices, not measurements, so no output computes them.
SETUP = {
    "sec-introduction": {"0.9": "importances 0.9^i"},
    "sec-robustness": {"1000": "the shortest training condition's steps", "3000": "a training condition's steps",
                       "30000": "the longest training condition's steps"},
}


def _text(s: str) -> str:
    "Prose with its thousands separators removed ('10 000' -> '10000') and LaTeX powers of ten kept whole."
    s = s.replace("\u2009", " ").replace("\u202f", " ")
    return re.sub(r"(?<=\d) (?=\d{3}\b)", "", s)


def _numbers(s: str) -> list[str]:
    return NUM.findall(_text(s))


def _sections() -> dict[str, Path]:
    m = {}
    for p in sorted(ROOT.glob("chapters/*.ipynb")):
        for c in json.loads(p.read_text(encoding="utf-8"))["cells"]:
            if c["cell_type"] == "markdown":
                for sid in re.findall(r"\{#(sec-[\w-]+)", "".join(c["source"])): m[sid] = p
    return m


def _computed(p: Path) -> set[float]:
    "Every number in a notebook's stored outputs."
    out = []
    for c in json.loads(p.read_text(encoding="utf-8"))["cells"]:
        for o in c.get("outputs", []):
            d = o.get("data", {})
            out += ["".join(d[k]) for k in ("text/markdown", "text/plain") if k in d]
            if o.get("output_type") == "stream": out.append("".join(o["text"]))
    return {float(x) for x in _numbers("\n".join(out))}


def _bench() -> set[float]:
    "The engine measurements recorded by `benchmarks/bench.py` in benchmarks/README.md (the methods appendix cites them)."
    return {float(x) for x in _numbers((ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8"))}


def _matches(typed: str, computed: set[float]) -> bool:
    "The typed number equals a computed one rounded to the typed precision."
    dec = len(typed.split(".")[1]) if "." in typed else 0
    return any(round(v, dec) == float(typed) for v in computed)


def _summary_bullets() -> list[tuple[list[str], str]]:
    "(cited sections, text) for each bullet of the preface's summary; a bullet without a citation continues the previous one."
    text = (ROOT / "index.qmd").read_text(encoding="utf-8")
    summary = text.split("## Summary of findings", 1)[1].split("\n## ", 1)[0]
    out, cur = [], []
    for b in summary.split("\n- ")[1:]:
        cur = re.findall(r"@(sec-[\w-]+)", b) or cur
        out.append((cur, b))
    return out


def _stale(text: str, secs: list[str], sections: dict[str, Path], extra: set[float] = frozenset()) -> list[str]:
    computed = set(extra)
    for s in secs: computed |= _computed(sections[s])
    setup = {k for s in secs for k in SETUP.get(s, {})}
    return [x for x in _numbers(re.sub(r"@sec-[\w-]+", "", text)) if x not in setup and not _matches(x, computed)]


def test_the_summary_has_bullets_that_cite_chapters():
    bullets = _summary_bullets()
    sections = _sections()
    assert len(bullets) >= 10 and bullets[0][0], "the first bullet cites its chapter"
    for secs, _ in bullets: assert all(s in sections for s in secs), secs


@pytest.mark.parametrize("k", range(len(_summary_bullets())))
def test_every_number_in_the_preface_summary_is_computed_by_its_chapter(k):
    secs, text = _summary_bullets()[k]
    stale = _stale(text, secs, _sections(), _bench() if "sec-fast" in secs else set())
    assert not stale, f"typed numbers {stale} of the summary bullet {text[:60]!r} are not computed by {secs}"


def test_every_number_in_the_readme_results_paragraph_is_computed():
    "The README's paragraph on regeneration times and engine speed: from the reproducibility and methods appendices."
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    para = next(p for p in readme.split("\n\n") if "toymodels reproduce --force" in p and "minutes" in p)
    stale = _stale(para, ["sec-compute", "sec-fast"], _sections(), _bench())
    assert not stale, f"typed numbers {stale} in the README are not computed"


def test_the_checker_catches_a_stale_number():
    "A number the chapter does not compute (or computes with other digits) is reported; a rounded computed one is not."
    sections = _sections()
    assert _stale("a loss 123.457× higher", ["sec-introduction"], sections) == ["123.457"]
    computed = _computed(sections["sec-introduction"])
    v = next(v for v in computed if v != int(v))
    assert _stale(f"about {round(v, 1)}", ["sec-introduction"], sections) == []
