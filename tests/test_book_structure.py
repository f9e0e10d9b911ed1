"""Quarto-free checks of the book: `_quarto.yml`, chapter files, cross-references and directives.

Quarto itself is not needed: we parse `_quarto.yml` with PyYAML and read the chapters as JSON/text.
Every helper takes the repository root, so the checks can be pointed at any checkout.
"""
import json, re, sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

from toymodels.quarto_filter import filter_notebook, split_directives, bare_directive

# ---------------------------------------------------------------- helpers

def load_config(root: Path) -> dict:
    "The parsed `_quarto.yml` at `root`."
    return yaml.safe_load((Path(root) / '_quarto.yml').read_text(encoding='utf-8'))


def _flatten(items) -> list[str]:
    out = []
    for it in items or []:
        if isinstance(it, str): out.append(it)
        elif isinstance(it, dict):
            part = it.get('part')
            # `part:` is either a plain title or a .qmd file holding the part's title page
            if isinstance(part, str) and part.endswith(('.qmd', '.ipynb', '.md')): out.append(part)
            out += _flatten(it.get('chapters'))
    return out


def book_files(root: Path) -> list[str]:
    "Every file listed under `book: chapters` (recursing into parts) and `book: appendices`, in order."
    book = load_config(root)['book']
    return _flatten(book.get('chapters')) + _flatten(book.get('appendices'))


def existing_files(root: Path) -> list[Path]:
    return [p for p in (Path(root) / f for f in book_files(root)) if p.exists()]


def chapter_notebooks(root: Path) -> list[Path]:
    return sorted((Path(root) / 'chapters').glob('*.ipynb'))


def _src(cell) -> str:
    s = cell.get('source', '')
    return ''.join(s) if isinstance(s, list) else s


def read_nb(path: Path) -> dict: return json.loads(Path(path).read_text(encoding='utf-8'))


_re_fence = re.compile(r'^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$', re.MULTILINE | re.DOTALL)
_re_inline_code = re.compile(r'(`+)(?!`).+?(?<!`)\1(?!`)', re.DOTALL)

def strip_code(md: str) -> str:
    "Markdown with fenced code blocks and inline code spans removed."
    return _re_inline_code.sub(' ', _re_fence.sub('\n', md))


def _qmd_code_blocks(text: str) -> list[str]:
    "Bodies of executable ```{python} blocks in a .qmd file."
    return [m.group(1) for m in re.finditer(r'^```+\s*\{python[^}]*\}[^\n]*\n(.*?)^```+\s*$', text, re.MULTILINE | re.DOTALL)]


def prose_and_code(path: Path) -> tuple[str, list[str]]:
    "The markdown prose of a chapter (code removed; computed Markdown outputs included) and the sources of its code cells."
    path = Path(path)
    if path.suffix == '.ipynb':
        cells = read_nb(path)['cells']
        outputs = [''.join(o['data']['text/markdown']) for c in cells if c['cell_type'] == 'code'
                   for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})]
        prose = '\n\n'.join([_src(c) for c in cells if c['cell_type'] == 'markdown'] + outputs)
        return strip_code(prose), [_src(c) for c in cells if c['cell_type'] == 'code']
    text = path.read_text(encoding='utf-8')
    return strip_code(text), _qmd_code_blocks(text)


_kinds = r'(?:fig|sec|tbl|eq)'
_re_attr_block = re.compile(r'\{[^{}\n]*\}')
_re_attr_label = re.compile(rf'(?<![\w-])#({_kinds}-[\w-]*\w)')
_re_code_label = re.compile(rf'^label:\s*["\']?({_kinds}-[\w-]*\w)["\']?\s*$')
_re_ref = re.compile(r'(?<![\w@.\\])@((?i:fig|sec|tbl|eq)-[\w-]*\w)')
_re_cite = re.compile(r'(?<![\w@.\\/])@([A-Za-z_][\w:.#$%&+?<>~/-]*\w)')


def _directives(code: str) -> list[str]: return split_directives(code)[0]

def _option(line: str):
    "(key, value) of a `#| key: value` line, else None."
    m = re.match(r'^\s*#\|\s?([\w.-]+)\s*:\s*(.*?)\s*$', line)
    return (m.group(1), m.group(2)) if m else None


def labels_in(path: Path) -> list[str]:
    "Cross-reference labels defined in one chapter: `{#sec-..}`/`{#fig-..}`/`{#tbl-..}`/`{#eq-..}` and `#| label:`."
    prose, codes = prose_and_code(path)
    out = [l for blk in _re_attr_block.findall(prose) for l in _re_attr_label.findall(blk)]
    for code in codes:
        for line in _directives(code):
            o = _option(line)
            if o and o[0] == 'label':
                m = _re_code_label.match(f'label: {o[1]}')
                if m: out.append(m.group(1))
    return out


def refs_in(path: Path) -> list[str]:
    "Cross-references `@fig-..`, `@sec-..`, `@tbl-..`, `@eq-..` in the prose of one chapter (lower-cased prefix)."
    prose, _ = prose_and_code(path)
    return [r[0:3].lower() + r[3:] if r[:3].lower() in ('fig', 'sec', 'tbl') else 'eq' + r[2:]
            for r in _re_ref.findall(prose)]


def citations_in(path: Path) -> list[str]:
    "Citation keys (`@key` that is not a cross-reference) in the prose of one chapter."
    prose, _ = prose_and_code(path)
    return [k for k in _re_cite.findall(prose) if not re.match(rf'(?i){_kinds}-', k)]


def bib_keys(root: Path) -> set[str]:
    bib = load_config(root).get('bibliography')
    files = [bib] if isinstance(bib, str) else (bib or [])
    return {k for f in files for k in re.findall(r'@\w+\s*\{\s*([^,\s]+)\s*,', (Path(root) / f).read_text(encoding='utf-8'))}


def all_labels(root: Path) -> Counter: return Counter(l for p in existing_files(root) for l in labels_in(p))

# ---------------------------------------------------------------- config

def test_book_project_config():
    cfg = load_config(ROOT)
    assert cfg['project']['type'] == 'book'
    assert cfg['book'].get('title')
    author = cfg['book'].get('author')
    assert author and (isinstance(author, str) or all(author)), 'Typst books need book.author'
    assert book_files(ROOT)[0] == 'index.qmd', 'index.qmd must be the first chapter of a Quarto book'
    assert {'html', 'typst'} <= set(cfg.get('format', {}))


def test_ipynb_filter_registered():
    cfg = load_config(ROOT)
    filters = cfg.get('ipynb-filters') or cfg.get('execute', {}).get('ipynb-filters') or []
    assert 'toymodels-quarto-filter' in filters
    pyproject = (ROOT / 'pyproject.toml').read_text(encoding='utf-8')
    assert re.search(r'^toymodels-quarto-filter\s*=\s*"toymodels\.quarto_filter:main"', pyproject, re.MULTILINE)


def test_bibliography_exists():
    assert bib_keys(ROOT) >= {'elhage2022toy'}


@pytest.mark.parametrize('fname', book_files(ROOT))
def test_listed_file_exists(fname):
    assert (ROOT / fname).is_file(), f'{fname} is listed in _quarto.yml but does not exist (yet)'


def test_every_chapter_notebook_is_listed():
    listed = {str(Path(f)) for f in book_files(ROOT)}
    orphans = [p.relative_to(ROOT).as_posix() for p in chapter_notebooks(ROOT) if str(p.relative_to(ROOT)) not in listed]
    assert orphans == [], f'notebooks in chapters/ missing from _quarto.yml: {orphans}'

# ---------------------------------------------------------------- cross-references

def test_helpers_on_examples(tmp_path):
    "The label/reference scanners themselves, on a tiny fake book."
    (tmp_path / '_quarto.yml').write_text('project: {type: book}\nbook:\n  author: me\n  chapters:\n'
                                          '    - index.qmd\n    - part: "P"\n      chapters: [c.ipynb]\n'
                                          '  appendices: [a.qmd]\n')
    (tmp_path / 'index.qmd').write_text('# Hi {.unnumbered #sec-hi}\n\nSee @sec-c, [-@fig-x], @Fig-x and\n'
                                        '`@fig-not-a-ref` or me@fig-mail.org.\n\n```python\n@fig-nope\n```\n'
                                        '$$\na=b\n$$ {#eq-ab}\n\n![cap](x.png){#fig-img width=50%}\n')
    nb = {'cells': [{'cell_type': 'markdown', 'metadata': {}, 'source': ['# C {#sec-c}\n', 'Table @tbl-t.']},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'source': ['#| label: fig-x\n', '#| fig-cap: "X"\n', 'plot()']}]}
    (tmp_path / 'c.ipynb').write_text(json.dumps(nb))
    assert book_files(tmp_path) == ['index.qmd', 'c.ipynb', 'a.qmd']
    assert sorted(labels_in(tmp_path / 'index.qmd')) == ['eq-ab', 'fig-img', 'sec-hi']
    assert labels_in(tmp_path / 'c.ipynb') == ['sec-c', 'fig-x']
    assert refs_in(tmp_path / 'index.qmd') == ['sec-c', 'fig-x', 'fig-x']
    assert refs_in(tmp_path / 'c.ipynb') == ['tbl-t']


def test_labels_are_unique():
    dups = [l for l, n in all_labels(ROOT).items() if n > 1]
    assert dups == [], f'labels defined more than once: {dups}'


@pytest.mark.parametrize('fname', book_files(ROOT))
def test_cross_references_resolve(fname):
    path = ROOT / fname
    if not path.exists(): pytest.skip(f'{fname} does not exist yet')
    labels = set(all_labels(ROOT))
    missing = sorted(set(refs_in(path)) - labels)
    assert missing == [], f'{fname} refers to undefined labels: {missing}'


@pytest.mark.parametrize('fname', book_files(ROOT))
def test_citations_resolve(fname):
    path = ROOT / fname
    if not path.exists(): pytest.skip(f'{fname} does not exist yet')
    missing = sorted(set(citations_in(path)) - bib_keys(ROOT))
    assert missing == [], f'{fname} cites keys missing from the bibliography: {missing}'

# ---------------------------------------------------------------- chapter notebooks

@pytest.mark.parametrize('path', chapter_notebooks(ROOT), ids=lambda p: p.name)
def test_figure_cells_have_captions(path):
    bad = []
    for code in prose_and_code(path)[1]:
        opts = dict(o for o in map(_option, _directives(code)) if o)
        if opts.get('label', '').strip('"\'').startswith('fig-') and 'fig-cap' not in opts: bad.append(opts['label'])
    assert bad == [], f'{path.name}: figure cells without fig-cap: {bad}'


@pytest.mark.parametrize('path', chapter_notebooks(ROOT), ids=lambda p: p.name)
def test_first_markdown_cell_is_titled(path):
    md = [c for c in read_nb(path)['cells'] if c['cell_type'] == 'markdown']
    assert md, f'{path.name} has no markdown cell'
    first = _src(md[0]).lstrip().splitlines()[0]
    assert re.match(r'^# \S.*\{[^}]*#sec-[\w-]+[^}]*\}\s*$', first), f'{path.name}: first line is {first!r}'


@pytest.mark.parametrize('path', chapter_notebooks(ROOT), ids=lambda p: p.name)
def test_no_bare_directive_survives_filter(path):
    nb = read_nb(path)
    out = filter_notebook(nb)
    json.dumps(out, ensure_ascii=False)   # still serialisable notebook JSON
    left = [(c.get('id'), d) for c in out['cells'] if c['cell_type'] == 'code'
            for d in _directives(_src(c)) if bare_directive(d)]
    assert left == [], f'{path.name}: nbdev directives left after filtering: {left}'
    assert not any('default_exp' in ''.join(_directives(_src(c))) for c in out['cells'] if c['cell_type'] == 'code')


# ---------------------------------------------------------------- cell options parse as Quarto reads them

def option_block(code: str) -> str:
    "The YAML Quarto reads from a cell: its `#|` option lines (bare nbdev directives dropped), joined."
    return '\n'.join(re.sub(r'^\s*#\|\s?', '', l) for l in _directives(code) if not bare_directive(l))


def option_errors(path: Path) -> list[str]:
    "One message per code cell of `path` whose `#|` option block PyYAML cannot parse (Quarto would fail)."
    bad = []
    for i, code in enumerate(prose_and_code(path)[1]):
        block = option_block(code)
        try: opts = yaml.safe_load(block) if block.strip() else {}
        except yaml.YAMLError as e:
            bad.append(f'cell {i}: {str(e).splitlines()[0]} in {block[:80]!r}'); continue
        if not isinstance(opts, dict): bad.append(f'cell {i}: option block is not a mapping: {block[:80]!r}')
    return bad


def test_option_block_checker_catches_bad_escape():
    "The case that broke the render: `\\ge` inside a double-quoted caption is not valid YAML."
    nb = {'cells': [{'cell_type': 'code', 'metadata': {}, 'outputs': [],
                     'source': ['#| export\n', '#| label: fig-x\n', '#| fig-cap: "for $s \\ge 0.2$"\n', 'plot()']},
                    {'cell_type': 'code', 'metadata': {}, 'outputs': [],
                     'source': ['#| fig-cap: \'for $s \\ge 0.2$\'\n', '#| fig-alt: "a \\\\ge b"\n', 'plot()']}]}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / 'c.ipynb'; p.write_text(json.dumps(nb))
        errs = option_errors(p)
    assert len(errs) == 1 and errs[0].startswith('cell 0:'), errs


@pytest.mark.parametrize('path', chapter_notebooks(ROOT), ids=lambda p: p.name)
def test_cell_options_parse_as_yaml(path):
    "Every `#|` option block parses with PyYAML, as Quarto parses it (e.g. no `\\g` escapes in double quotes)."
    errs = option_errors(path)
    assert errs == [], f'{path.name}: option blocks Quarto cannot parse: {errs}'


def test_title_page_names_the_package_version():
    "The cover of the PDF and the site's title name the package version the book was made with."
    import toymodels
    subtitle = load_config(ROOT)['book']['subtitle']
    assert f'toymodels {toymodels.__version__}' in subtitle, f'book.subtitle must name toymodels {toymodels.__version__}'


def test_pdf_is_the_findings_report():
    "The Typst PDF leaves code to the website and numbers each page once (the book template's header)."
    typst = load_config(ROOT)['format']['typst']
    assert typst.get('echo') is False and typst.get('page-numbering') is False


def test_publish_workflow():
    "The GitHub Actions workflow parses, sets Quarto up and renders with quarto-actions, and deploys _book to Pages."
    wf = yaml.safe_load((ROOT / '.github/workflows/publish.yml').read_text(encoding='utf-8'))
    on = wf.get('on', wf.get(True))          # PyYAML reads the bare key `on` as True
    assert on['push']['branches'] == ['main']
    steps = wf['jobs']['build']['steps']
    uses = [s.get('uses', '') for s in steps]
    assert any(u.startswith('quarto-dev/quarto-actions/setup@') for u in uses)
    assert any(u.startswith('quarto-dev/quarto-actions/render@') for u in uses)
    assert any('torch==' in s.get('run', '') and 'whl/cpu' in s.get('run', '') for s in steps), 'install the CPU build of torch'
    upload = next(s for s in steps if s.get('uses', '').startswith('actions/upload-pages-artifact@'))
    assert upload['with']['path'] == load_config(ROOT)['project']['output-dir']
    assert any(s.get('uses', '').startswith('actions/deploy-pages@') for s in wf['jobs']['deploy']['steps'])
    assert wf['permissions']['pages'] == 'write' and wf['permissions']['id-token'] == 'write'


def test_project_files():
    "LICENSE matches pyproject's licence; CITATION.cff names the package version and cites the paper."
    assert 'MIT License' in (ROOT / 'LICENSE').read_text(encoding='utf-8')
    assert re.search(r'^license = "MIT"', (ROOT / 'pyproject.toml').read_text(encoding='utf-8'), re.M)
    import toymodels
    cff = yaml.safe_load((ROOT / 'CITATION.cff').read_text(encoding='utf-8'))
    assert str(cff['version']) == toymodels.__version__
    assert cff['references'][0]['title'] == 'Toy Models of Superposition'
    assert f'## {toymodels.__version__}' in (ROOT / 'CHANGELOG.md').read_text(encoding='utf-8')
