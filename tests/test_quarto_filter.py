"""Unit tests of the nbdev -> Quarto notebook filter (`toymodels.quarto_filter`)."""
import copy, json, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))

from toymodels.quarto_filter import filter_cell, filter_notebook, split_directives, bare_directive


def _code(src, outputs=None, cid='c'):
    "A code cell as nbformat stores it on disk: `source` is a list of lines."
    return {'cell_type': 'code', 'execution_count': 3, 'id': cid, 'metadata': {'tags': ['keep-me']},
            'outputs': outputs or [], 'source': src.splitlines(keepends=True)}


def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']


FIG_OUTPUT = {'output_type': 'display_data', 'metadata': {},
              'data': {'image/png': 'iVBORw0KGgo=', 'text/plain': ['<Figure size 640x480 with 1 Axes>']}}


@pytest.fixture
def nb():
    return {
        'nbformat': 4, 'nbformat_minor': 5,
        'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}},
        'cells': [
            {'cell_type': 'markdown', 'id': 'm1', 'metadata': {}, 'source': ['# Chapter {#sec-chapter}\n', '\n', 'See @fig-demo.']},
            _code('#| default_exp core\n', cid='dexp'),
            _code('#| hide\nimport torch\n', cid='hide'),
            _code('#| export\nimport math\n\ndef _helper(): pass\n\nclass ModelConfig:\n    n: int = 5\n', cid='exp'),
            _code('#|exporti\ndef _internal(x):\n    return x\n', cid='expi'),
            _code('#| export core\nX = 1\n', cid='exparg'),
            _code('#| label: fig-demo\n#| fig-cap: "A demo: with a colon"\n#| slow\nplot()\n',
                  outputs=[FIG_OUTPUT], cid='fig'),
            _code('#| notest\n#| echo: false\nrun_long()', outputs=[{'output_type': 'stream', 'name': 'stdout', 'text': ['done\n']}], cid='nt'),
            _code('#| export\n#| code-fold: show\ndef shown(): pass\n', cid='ownfold'),
            _code('#| fig-cap:\n#|   - "first"\n#|   - "second"\n#| export\nsubplots()\n', cid='yaml'),
            _code('x = 1\n#| export\n', cid='late'),
            {'cell_type': 'raw', 'id': 'r1', 'metadata': {}, 'source': '#| export\nraw text'},
        ]}


def _by_id(nb): return {c['id']: c for c in nb['cells']}


def test_default_exp_cell_dropped(nb):
    out = filter_notebook(nb)
    assert 'dexp' not in _by_id(out)
    assert not any('default_exp' in _src(c) for c in out['cells'])
    assert len(out['cells']) == len(nb['cells']) - 1


def test_hide_becomes_include_false(nb):
    src = _src(_by_id(filter_notebook(nb))['hide'])
    assert src == '#| include: false\nimport torch\n'


def test_export_stripped_and_folded(nb):
    cells = _by_id(filter_notebook(nb))
    assert _src(cells['exp']).splitlines()[:3] == [
        '#| code-fold: true', '#| code-summary: "Source: ModelConfig"', 'import math']
    assert _src(cells['expi']) == '#| code-fold: true\n#| code-summary: "Source: _internal"\ndef _internal(x):\n    return x\n'
    assert _src(cells['exparg']) == '#| code-fold: true\n#| code-summary: "Source: exported code"\nX = 1\n'
    # a cell that chooses its own folding keeps it, and gets nothing added
    assert _src(cells['ownfold']) == '#| code-fold: show\ndef shown(): pass\n'


def test_quarto_options_kept_verbatim(nb):
    cells = _by_id(filter_notebook(nb))
    assert _src(cells['fig']) == '#| label: fig-demo\n#| fig-cap: "A demo: with a colon"\nplot()\n'
    assert _src(cells['nt']) == '#| echo: false\nrun_long()'
    # multi-line YAML options survive; the export directive after them is still removed
    assert _src(cells['yaml']).startswith('#| fig-cap:\n#|   - "first"\n#|   - "second"\n#| code-fold: true\n')
    assert '#| export' not in _src(cells['yaml'])


def test_outputs_metadata_and_untouched_cells_kept(nb):
    out = filter_notebook(nb)
    cells = _by_id(out)
    assert cells['fig']['outputs'] == [FIG_OUTPUT]
    assert cells['nt']['outputs'] == nb['cells'][7]['outputs']
    for cid in ['hide', 'exp', 'fig']:
        assert cells[cid]['metadata'] == {'tags': ['keep-me']}
        assert cells[cid]['execution_count'] == 3
    assert out['metadata'] == nb['metadata']
    assert cells['m1'] == nb['cells'][0]           # markdown untouched
    assert cells['r1'] == nb['cells'][-1]          # raw untouched
    assert cells['late'] == _by_id(nb)['late']     # `#|` below code is not a directive
    assert all(isinstance(c['source'], list) for c in out['cells'] if c['cell_type'] == 'code')


def test_no_bare_directive_survives(nb):
    for c in filter_notebook(nb)['cells']:
        if c['cell_type'] != 'code': continue
        directives, _ = split_directives(_src(c))
        assert [d for d in directives if bare_directive(d)] == [], c['id']


def test_idempotent_and_pure(nb):
    before = copy.deepcopy(nb)
    once = filter_notebook(nb)
    assert filter_notebook(once) == once
    assert nb == before


def test_string_sources_and_no_directives():
    cell = {'cell_type': 'code', 'metadata': {}, 'outputs': [], 'execution_count': None,
            'source': '#| export\ndef f(): pass'}
    assert filter_cell(cell)['source'] == '#| code-fold: true\n#| code-summary: "Source: f"\ndef f(): pass'
    plain = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {},
             'cells': [_code('print(1)'), {'cell_type': 'markdown', 'metadata': {}, 'source': 'text'}]}
    assert filter_notebook(plain) == plain
    assert filter_notebook({'cells': []}) == {'cells': []}


def _run(args, nb):
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    return subprocess.run([sys.executable, *args], input=json.dumps(nb).encode('utf-8'),
                          capture_output=True, cwd=ROOT / 'chapters' if (ROOT / 'chapters').is_dir() else ROOT,
                          env=env, timeout=120, check=True)


def test_command_line_entry(nb):
    "The console entry reads notebook JSON on stdin and writes the filtered notebook on stdout."
    nb['cells'][0]['source'].append(' Greek: αβγ.')
    res = _run(['-c', 'from toymodels.quarto_filter import main; main()'], nb)
    out = json.loads(res.stdout.decode('utf-8'))
    assert out == filter_notebook(nb)
    assert 'αβγ' in res.stdout.decode('utf-8')


def test_module_runs_with_python_m(nb):
    res = _run(['-m', 'toymodels.quarto_filter'], nb)
    assert json.loads(res.stdout) == filter_notebook(nb)
