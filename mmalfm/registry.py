# Copyright (c) mmalfm contributors. All rights reserved.
"""The ``mmalfm`` registry scope.

Every registry is a child of MMPretrain's (which are children of MMEngine's
roots), so a config in the ``mmalfm`` scope finds MMPretrain's modules without
a prefix and MMDetection's with ``mmdet.``. Each registry knows where its
modules live (``locations``): the first lookup imports them, so building
``type='mmalfm.SoCo'`` from an MMDetection config works as soon as ``mmalfm``
has been imported (``custom_imports=dict(imports=['mmalfm'])``).

MMEngine builds a looked-up class under the *caller's* default scope. Our
algorithms (``RegionSelfSupervisor`` subclasses) enter the ``mmalfm`` scope
while building their children, so ``type='mmalfm.SoCo'`` builds fully from
any scope; an MMPretrain composite module reached through us (``BYOL``,
which builds ``'SelfSupDataPreprocessor'``, ``'ResNet'``... by name) needs
``_scope_='mmalfm'`` next to its ``type`` in a foreign-scope config.
"""
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry
from mmpretrain.registry import BATCH_AUGMENTS as MMPRETRAIN_BATCH_AUGMENTS
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import \
    RUNNER_CONSTRUCTORS as MMPRETRAIN_RUNNER_CONSTRUCTORS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS
from mmpretrain.registry import \
    WEIGHT_INITIALIZERS as MMPRETRAIN_WEIGHT_INITIALIZERS

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'BATCH_AUGMENTS', 'TASK_UTILS',
    'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS', 'FUNCTIONS'
]

SCOPE = 'mmalfm'


class _MmalfmRegistry(Registry):
    """A Registry whose own-scope keys (``'mmalfm.BYOL'`` looked up while the
    default scope is ``mmalfm``) also search the parent registries, as
    unprefixed keys do. MMEngine skips the parents for such keys."""

    def get(self, key: str):
        obj = super().get(key)
        if obj is None:
            scope, real_key = self.split_scope_key(key)
            if scope == self._scope:
                obj = super().get(real_key)
        return obj


def _child(name: str, parent: Registry, locations: list) -> Registry:
    """A registry of the ``mmalfm`` scope under MMPretrain's ``parent``.

    MMEngine resolves a scoped key such as ``'mmalfm.SoCo'`` (from an
    MMDetection config, say) only among the *direct* children of the root
    registry (``Registry.get`` looks in ``root._children``), while our
    registries are grandchildren of the root (root -> mmpretrain -> mmalfm).
    We therefore also index each of them in its root's children under our
    scope: the tree and unprefixed look-ups are unchanged, and
    ``type='mmalfm.<Name>'`` works from every scope.
    """
    registry = _MmalfmRegistry(
        name, parent=parent, scope=SCOPE, locations=locations)
    root = registry._get_root_registry()
    root._children.setdefault(SCOPE, registry)
    return registry


# Runner machinery.
RUNNERS = _child('runner', MMPRETRAIN_RUNNERS, ['mmalfm.engine'])
RUNNER_CONSTRUCTORS = _child('runner constructor',
                             MMPRETRAIN_RUNNER_CONSTRUCTORS, ['mmalfm.engine'])
LOOPS = _child('loop', MMPRETRAIN_LOOPS, ['mmalfm.engine'])
HOOKS = _child('hook', MMPRETRAIN_HOOKS, ['mmalfm.engine'])
LOG_PROCESSORS = _child('log processor', MMPRETRAIN_LOG_PROCESSORS,
                        ['mmalfm.engine'])
# MMPretrain has no FUNCTIONS registry (collate functions): MMEngine's root.
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS, ['mmalfm.datasets'])

# Optimisation.
OPTIMIZERS = _child('optimizer', MMPRETRAIN_OPTIMIZERS, ['mmalfm.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMPRETRAIN_OPTIM_WRAPPERS,
                        ['mmalfm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
                                    ['mmalfm.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMPRETRAIN_PARAM_SCHEDULERS,
                          ['mmalfm.engine'])

# Data.
DATASETS = _child('dataset', MMPRETRAIN_DATASETS, ['mmalfm.datasets'])
DATA_SAMPLERS = _child('data sampler', MMPRETRAIN_DATA_SAMPLERS,
                       ['mmalfm.datasets'])
TRANSFORMS = _child('transform', MMPRETRAIN_TRANSFORMS,
                    ['mmalfm.datasets.transforms'])

# Models.
MODELS = _child('model', MMPRETRAIN_MODELS, ['mmalfm.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMPRETRAIN_MODEL_WRAPPERS,
                        ['mmalfm.models'])
WEIGHT_INITIALIZERS = _child('weight initializer',
                             MMPRETRAIN_WEIGHT_INITIALIZERS, ['mmalfm.models'])
BATCH_AUGMENTS = _child('batch augment', MMPRETRAIN_BATCH_AUGMENTS,
                        ['mmalfm.models'])
TASK_UTILS = _child('task util', MMPRETRAIN_TASK_UTILS, ['mmalfm.models'])

# Evaluation and visualisation.
METRICS = _child('metric', MMPRETRAIN_METRICS, ['mmalfm.evaluation'])
EVALUATORS = _child('evaluator', MMPRETRAIN_EVALUATORS, ['mmalfm.evaluation'])
VISUALIZERS = _child('visualizer', MMPRETRAIN_VISUALIZERS,
                     ['mmalfm.visualization'])
VISBACKENDS = _child('vis_backend', MMPRETRAIN_VISBACKENDS,
                     ['mmalfm.visualization'])
