# Copyright (c) mmalfm contributors. All rights reserved.
"""The scripts under ``tools/`` are thin command lines over package
functions: nothing imports a tool file as a module (the package module it
calls is imported instead), and a tool stays short.

Both lists of exceptions below name what has not moved yet and why; they
may only shrink."""
import glob
import os.path as osp
import re

from conftest import REPO

#: Tool lines above which the logic belongs in a package module.
MAX_TOOL_LINES = 150

#: Tools still holding their logic: ``path -> reason``.
LONG_TOOLS = {}

#: Files that still load tool files as modules: ``path -> reason``.
TOOL_LOADERS = {
    'tests/conftest.py':
    'load_tool / fork_tool run a tool file\'s main in the test process '
    '(the fork_tool callers pass tool paths); tiny_demo_data loads '
    'tools/data/make_demo_data.py',
}

#: A call that executes a file as a module.
LOADER = re.compile(r'\b(spec_from_file_location|run_path|run_module|'
                    r'load_tool)\(')
#: A tool file named in a string: ``'tools/x/y.py'`` or path parts
#: ``'tools' / 'x' / 'y.py'``.
TOOL_PATH = re.compile(r"""['"]tools/[\w/]+\.py['"]|['"]tools['"]\s*[/,]""")


def _rel(path: str) -> str:
    return osp.relpath(path, REPO)


def _python_files(*folders: str) -> list:
    return sorted(
        _rel(p) for folder in folders for p in glob.glob(
            osp.join(REPO, folder, '**', '*.py'), recursive=True))


def tool_loaders() -> dict:
    """``{file: [lines]}`` of the files under ``mmalfm/``, ``tools/`` and
    ``tests/`` that call a module loader and name a tool file."""
    found = {}
    for path in _python_files('mmalfm', 'tools', 'tests'):
        if path == _rel(__file__):  # names tools in its patterns
            continue
        with open(osp.join(REPO, path)) as f:
            text = f.read()
        if LOADER.search(text) and TOOL_PATH.search(text):
            found[path] = [
                line.strip() for line in text.splitlines()
                if LOADER.search(line) or TOOL_PATH.search(line)
            ]
    return found


def test_the_checks_find_what_they_look_for():
    """The patterns match the ways tool files were loaded."""
    assert LOADER.search("load_tool('tools/train.py')")
    assert LOADER.search('importlib.util.spec_from_file_location(n, p)')
    assert LOADER.search('runpy.run_path(str(path))')
    assert TOOL_PATH.search("load_tool('tools/data/make_demo_data.py')")
    assert TOOL_PATH.search("REPO / 'tools' / 'data' / 'x.py'")
    assert not TOOL_PATH.search("'configs/tools.py'")
    assert 'tests/conftest.py' in tool_loaders()


def test_no_file_loads_a_tool_as_a_module():
    """The demo and the tests call package functions
    (:mod:`mmalfm.apis`), not tool files executed as modules."""
    found = tool_loaders()
    new = {path: lines for path, lines in found.items()
           if path not in TOOL_LOADERS}
    assert not new, (
        'tool files loaded as modules; import the package module the tool '
        f'is the command line of instead: {new}')
    stale = sorted(set(TOOL_LOADERS) - set(found))
    assert not stale, f'no longer load tools, drop from TOOL_LOADERS: {stale}'
    package = [p for p in found if p.startswith(('mmalfm/', 'tools/'))]
    assert package == [], package


def test_tools_are_thin():
    """Every script under ``tools/`` is a short command line."""
    lengths = {}
    for path in _python_files('tools'):
        with open(osp.join(REPO, path)) as f:
            lengths[path] = len(f.read().splitlines())
    assert 'tools/demo/run_demo.py' in lengths
    assert lengths['tools/demo/run_demo.py'] < 60
    long = {p: n for p, n in lengths.items() if n > MAX_TOOL_LINES}
    assert sorted(set(long) - set(LONG_TOOLS)) == [], (
        f'tools over {MAX_TOOL_LINES} lines; move their logic into a '
        f'package module: {long}')
    short = sorted(set(LONG_TOOLS) - set(long))
    assert short == [], f'now thin, drop from LONG_TOOLS: {short}'
