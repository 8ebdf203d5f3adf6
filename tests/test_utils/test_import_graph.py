# Copyright (c) mmalfm contributors. All rights reserved.
"""``mmalfm.utils`` is the bottom layer: none of its modules imports the
packages built on it (models, datasets, engine, evaluation, apis,
visualization), neither at module level nor inside a function.

Read from the source with :mod:`ast` (nothing is imported), so a lazy
import inside a function counts as much as a module-level one.
"""
import ast
from pathlib import Path
from typing import List, Optional

import pytest

UTILS = Path(__file__).resolve().parents[2] / 'mmalfm' / 'utils'

#: The packages above ``mmalfm.utils``.
UPPER = ('models', 'datasets', 'engine', 'evaluation', 'apis',
         'visualization')

#: ``register_all_modules`` imports every package to fill the registries:
#: that is its job (the OpenMMLab pattern, as
#: ``mmdet.utils.register_all_modules``), and it is only called by entry
#: points (tools, tests), never by a lower module.
ALLOWED = {('setup_env.py', 'register_all_modules')}


def _absolute(node: ast.AST, module_parts: List[str]) -> List[str]:
    """The absolute module names an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    # ``from X import a, b``: X, plus X.a / X.b (``from mmalfm import models``)
    if node.level:
        base = module_parts[:len(module_parts) - node.level]
        base = base + (node.module.split('.') if node.module else [])
    else:
        base = node.module.split('.')
    prefix = '.'.join(base)
    return [prefix] + [f'{prefix}.{alias.name}' for alias in node.names]


def _upper_package(name: str) -> Optional[str]:
    parts = name.split('.')
    if len(parts) >= 2 and parts[0] == 'mmalfm' and parts[1] in UPPER:
        return f'mmalfm.{parts[1]}'
    return None


def upward_imports(path: Path) -> List[str]:
    """``'file:line: imports mmalfm.X (in function f)'`` for every import
    of an upper package in ``path`` (allowed ones excepted)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = ['mmalfm', 'utils', path.stem]
    problems = []

    def visit(node: ast.AST, function: Optional[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, function or child.name)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found = sorted({
                    p
                    for name in _absolute(child, module_parts)
                    for p in [_upper_package(name)] if p
                })
                if found and (path.name, function) not in ALLOWED:
                    where = f' (in function {function})' if function else ''
                    problems.append(
                        f'mmalfm/utils/{path.name}:{child.lineno}: imports '
                        f'{", ".join(found)}{where}')
            visit(child, function)

    visit(tree, None)
    return problems


def test_utils_imports_no_upper_package():
    files = sorted(UTILS.glob('*.py'))
    assert files, UTILS
    problems = [p for f in files for p in upward_imports(f)]
    assert not problems, (
        'mmalfm.utils is the bottom layer; move this code up (e.g. to '
        'mmalfm/apis/) or the needed piece down:\n  ' +
        '\n  '.join(problems))


def test_the_only_exception_is_register_all_modules():
    """The allowed function does import the upper packages (else the
    exception is stale and must go)."""
    path = UTILS / 'setup_env.py'
    saved = set(ALLOWED)
    ALLOWED.clear()
    try:
        problems = upward_imports(path)
    finally:
        ALLOWED.update(saved)
    assert problems and all('(in function register_all_modules)' in p
                            for p in problems)


@pytest.mark.parametrize('source,expected', [
    ('import mmalfm.models\n', '3: imports mmalfm.models'),
    ('from mmalfm.apis.export import ExportError\n', '3: imports mmalfm.apis'),
    ('from mmalfm import datasets\n', '3: imports mmalfm.datasets'),
    ('from ..engine import hooks\n', '3: imports mmalfm.engine'),
    ('from .. import evaluation\n', '3: imports mmalfm.evaluation'),
    ('def f():\n    from ..visualization import x\n',
     '4: imports mmalfm.visualization (in function f)'),
])
def test_upward_imports_are_found(tmp_path, source, expected):
    path = tmp_path / 'bad.py'
    path.write_text('import os\nfrom .checkpoint import safe_load\n' +
                    source)
    assert upward_imports(path) == ['mmalfm/utils/bad.py:' + expected]


def test_bottom_layer_imports_pass(tmp_path):
    path = tmp_path / 'ok.py'
    path.write_text('import mmalfm.registry\nfrom mmalfm import utils\n'
                    'from .checkpoint import safe_load\n'
                    'from mmalfm.structures import box_ops\n')
    assert upward_imports(path) == []
