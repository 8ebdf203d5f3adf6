# Copyright (c) mmalfm contributors. All rights reserved.
"""Pin what makes CPU training numerically differ from machine to machine.

On one machine a CPU run is bit-identical run to run. Across machines, the
same commit, config and seed diverge because float sums are ordered
differently by:

* the number of threads (parallel reductions split the work per thread);
* the vector ISA of PyTorch's own kernels (``ATEN_CPU_CAPABILITY``:
  default / avx2 / avx512), chosen from the CPU at start-up;
* the ISA oneDNN's JIT convolutions are generated for
  (``ONEDNN_MAX_CPU_ISA``) and MKL's code path (``MKL_CBWR``).

Measured on the demo detector (30 fine-tuning iterations from random init,
2-core AMD EPYC with AVX2): two runs with the same environment give
identical weights; changing only the thread count (1 -> 2), only
``ATEN_CPU_CAPABILITY`` (avx2 -> default) or only ``ONEDNN_MAX_CPU_ISA``
(AVX2 -> SSE41) changes some weights by 1.0-1.2 after 30 iterations (the
first rounding differences grow chaotically), enough to move a 60-image
fine-tune's AP by several points (docs/user_guides/demo.md). ``MKL_CBWR``
made no difference there (MKL is not on that path), and the pinned
environment reproduced the machine's default one bit for bit.

:func:`pinned_cpu_env` fixes all of them to values every x86-64 machine
since 2013 supports (AVX2): an AVX-512 machine then runs the same kernels as
an AVX2 one. What it cannot pin: oneDNN/MKL blocking that depends on cache
sizes, and non-x86 CPUs; identical results across CPU models are therefore
likely, not guaranteed.
"""
import os
from typing import Dict, Mapping, Optional

__all__ = ['PINNED_ISA', 'pinned_cpu_env']

#: The common ISA the kernels are pinned to (the environment variable of
#: each library, and its spelling of AVX2).
PINNED_ISA: Dict[str, str] = {
    'ATEN_CPU_CAPABILITY': 'avx2',
    'ONEDNN_MAX_CPU_ISA': 'AVX2',
    'MKL_CBWR': 'AVX2',
}

#: Thread-count variables of OpenMP and MKL.
_THREADS = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')


def pinned_cpu_env(threads: int,
                   env: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """An environment for a child process with pinned CPU numerics.

    Values already set in ``env`` win (the user's explicit choice), so
    ``OMP_NUM_THREADS=8 make demo`` still uses 8 threads -- and is then
    reproducible only on machines run with 8 threads too. These variables
    are read when the libraries start, so they only apply to new processes.

    Args:
        threads (int): Threads for OpenMP and MKL.
        env (Mapping[str, str], optional): The base environment; default
            ``os.environ``.

    Returns:
        dict[str, str]: A copy of ``env`` with the pins added.
    """
    if threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    out = dict(os.environ if env is None else env)
    for key in _THREADS:
        out.setdefault(key, str(threads))
    for key, value in PINNED_ISA.items():
        out.setdefault(key, value)
    return out
