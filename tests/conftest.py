# Copyright (c) mmalfm contributors. All rights reserved.
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from types import ModuleType
from typing import List

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_DATA = osp.join(REPO, 'tests', 'data')


def load_tool(relpath: str) -> ModuleType:
    """Import a script under ``tools/`` as a module."""
    path = osp.join(REPO, relpath)
    name = 'tool_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def tiny_demo_data(tmp_path_factory) -> str:
    """A tiny copy of the demo data set (12 train / 4 val images, 64-96 px).

    Returns:
        str: The data set root; COCO layout under ``coco/``.
    """
    out = tmp_path_factory.mktemp('demo')
    make = load_tool('tools/data/make_demo_data.py')
    make.make_demo_data(
        out, num_train=12, num_val=4, seed=0, min_size=64, max_size=96)
    return str(out)


def run_tool(args: List[str], *, timeout: int = 300,
             check: bool = True) -> subprocess.CompletedProcess:
    """Run a command from the repository root with the test plugins on the
    path, failing with its output if it fails and ``check`` is set."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO, osp.join(TEST_DATA, 'plugins'),
         env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    proc = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(args)} exited with {proc.returncode}\n'
                    f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                    f'--- stderr ---\n{proc.stderr[-8000:]}')
    return proc


PYTHON = sys.executable
