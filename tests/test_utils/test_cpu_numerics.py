# Copyright (c) mmalfm contributors. All rights reserved.
"""pinned_cpu_env: the demo's pinned thread count and kernel ISA."""
import pytest

from mmalfm.utils.cpu_numerics import pinned_cpu_env


def test_pins_threads_and_isa_without_touching_the_input():
    base = {'PATH': '/bin'}
    env = pinned_cpu_env(2, base)
    assert env == {
        'PATH': '/bin',
        'OMP_NUM_THREADS': '2',
        'MKL_NUM_THREADS': '2',
        'ATEN_CPU_CAPABILITY': 'avx2',
        'ONEDNN_MAX_CPU_ISA': 'AVX2',
        'MKL_CBWR': 'AVX2',
    }
    assert base == {'PATH': '/bin'}


def test_explicit_user_values_win():
    env = pinned_cpu_env(2, {'OMP_NUM_THREADS': '8',
                             'ATEN_CPU_CAPABILITY': 'default'})
    assert env['OMP_NUM_THREADS'] == '8' and env['MKL_NUM_THREADS'] == '2'
    assert env['ATEN_CPU_CAPABILITY'] == 'default'


def test_bad_thread_count():
    with pytest.raises(ValueError, match='threads must be >= 1'):
        pinned_cpu_env(0, {})
