# Copyright (c) mmalfm contributors. All rights reserved.
"""Check a training config's keyword arguments before any work is done.

MMEngine builds the model and the hooks when the runner is created, the
datasets, optimizer and schedulers when training starts, and some keywords
only where they are finally used: ``default_hooks.checkpoint.intervall=1``
is accepted by ``CheckpointHook(**kwargs)`` and fails in ``save_checkpoint``
after a whole epoch, without writing a checkpoint. A misspelt model argument
fails at once but as a bare ``TypeError`` without the key path.

:func:`check_config` walks every section the runner builds, resolves each
``type`` in its registry (the config's default scope and any ``_scope_``)
and compares the keys with the signature of the class. Unknown keys are
reported together, each with its key path, the class and the closest valid
names. It only reports what it can prove: a class whose ``**kwargs`` goes
to somewhere it cannot follow accepts anything, a type it cannot resolve is
left to the registry's own error (:func:`explain_registry_error`).
"""
import ast
import difflib
import functools
import inspect
import textwrap
from typing import (Any, Callable, Dict, Iterable, List, NamedTuple, Optional,
                    Sequence, Set, Tuple)

from mmengine.config import Config
from mmengine.registry import (DATA_SAMPLERS, DATASETS, FUNCTIONS, HOOKS,
                               LOG_PROCESSORS, LOOPS, MODELS,
                               OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                               TASK_UTILS, TRANSFORMS, VISBACKENDS,
                               VISUALIZERS, Registry)

__all__ = ['ConfigKeyError', 'check_config', 'accepted_keywords']

#: Keys MMEngine's builders consume themselves.
_META_KEYS = frozenset({'type', '_scope_', '_delete_'})

#: Keys a builder pops before the class sees them, by class family.
#: ``build_norm_layer`` pops ``requires_grad``.
_NORM_POPPED = frozenset({'requires_grad'})

#: ``Runner.build_dataloader`` pops these before ``DataLoader(**rest)``.
_DATALOADER_POPPED = frozenset({
    'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn',
    'num_batch_per_epoch', 'disable_subprocess_warning'
})


class ConfigKeyError(KeyError):
    """A config passes a keyword argument no component accepts."""

    def __str__(self) -> str:  # KeyError would repr() the message.
        return str(self.args[0])


class _Accepted(NamedTuple):
    """What a callable accepts: ``names``, and ``open`` when ``**kwargs``
    goes somewhere that cannot be followed (anything may be valid)."""
    names: Tuple[str, ...]
    open: bool


class Problem(NamedTuple):
    """One unknown key."""
    path: str
    key: str
    owner: str
    close: Tuple[str, ...]

    def __str__(self) -> str:
        hint = (' Did you mean ' + ', '.join(repr(c) for c in self.close) +
                '?') if self.close else ''
        return f'{self.path}: {self.owner} has no argument {self.key!r}.' \
            f'{hint}'


# ``**kwargs`` that reaches a known place. CheckpointHook keeps its extra
# keywords for ``Runner.save_checkpoint``, whose every parameter the hook
# already passes itself: no extra keyword can be valid there.
_PASS_ON: Dict[str, Tuple[str, ...]] = {
    'mmengine.hooks.checkpoint_hook.CheckpointHook': (),
}


def _qualname(obj: Any) -> str:
    return f'{obj.__module__}.{obj.__qualname__}'


def accepted_keywords(obj: Any) -> _Accepted:
    """The keyword arguments a class (its ``__init__``) or function accepts.

    ``**kwargs`` is followed into the next ``__init__`` of the class's MRO
    when the source passes it to ``super().__init__``, into the table of
    known pass-ons, and is otherwise open.

    Args:
        obj (type | callable): A registered class or function.

    Returns:
        _Accepted: ``(names, open)``.
    """
    if inspect.isclass(obj):
        return _class_accepts(obj, 0)
    return _callable_accepts(obj, None, 0)


@functools.lru_cache(maxsize=None)
def _class_accepts(cls: type, start: int) -> _Accepted:
    """What the first ``__init__`` of ``cls.__mro__[start:]`` accepts."""
    for i in range(start, len(cls.__mro__)):
        klass = cls.__mro__[i]
        if '__init__' in vars(klass):
            if klass is object:
                return _Accepted((), False)
            return _callable_accepts(vars(klass)['__init__'], cls, i)
    return _Accepted((), False)


def _callable_accepts(fn: Callable, cls: Optional[type],
                      index: int) -> _Accepted:
    """What ``fn`` accepts; ``cls.__mro__[index]`` defines it (methods)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return _Accepted((), True)
    if cls is not None:
        params = params[1:]  # self
    names = tuple(p.name for p in params
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        return _Accepted(names, False)
    if cls is None:
        return _Accepted(names, True)
    owner = _qualname(cls.__mro__[index])
    if owner in _PASS_ON:
        return _Accepted(names + _PASS_ON[owner], False)
    read = _kwargs_use(fn)
    if read is not None:
        inherited = _class_accepts(cls, index + 1)
        return _Accepted(names + read + inherited.names, inherited.open)
    return _Accepted(names, True)


def _kwargs_use(fn: Callable) -> Optional[Tuple[str, ...]]:
    """How ``fn`` uses its ``**kwargs``: the literal keys it reads itself
    when it only reads them (``kwargs.get('k')``, ``kwargs.pop('k')``,
    ``'k' in kwargs``, ``kwargs['k']``) and hands the rest to
    ``super().__init__(..., **kwargs)``; None when it does anything else
    (stores it, passes it elsewhere) or the source is unavailable.
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    func = tree.body[0]
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or \
            func.args.kwarg is None:
        return None
    name = func.args.kwarg.arg
    parents = {
        id(c): n
        for n in ast.walk(func) for c in ast.iter_child_nodes(n)
    }
    read: List[str] = []
    to_super = False
    for node in ast.walk(func):
        if not (isinstance(node, ast.Name) and node.id == name):
            continue
        parent = parents.get(id(node))
        if isinstance(parent, ast.keyword) and parent.arg is None:
            call = parents.get(id(parent))
            if _is_super_init(call):
                to_super = True
                continue
            return None
        if isinstance(parent, ast.Attribute) and parent.attr in ('get',
                                                                 'pop'):
            call = parents.get(id(parent))
            if isinstance(call, ast.Call) and call.args:
                read += _literal(call.args[0])
                continue
            return None
        if isinstance(parent, ast.Compare) and len(parent.ops) == 1 and \
                isinstance(parent.ops[0], (ast.In, ast.NotIn)):
            read += _literal(parent.left)
            continue
        if isinstance(parent, ast.Subscript) and parent.value is node:
            read += _literal(parent.slice)
            continue
        return None
    return tuple(read) if to_super else None


def _is_super_init(call: Any) -> bool:
    """Whether ``call`` is ``super().__init__(...)``."""
    return isinstance(call, ast.Call) and \
        isinstance(call.func, ast.Attribute) and \
        call.func.attr == '__init__' and \
        isinstance(call.func.value, ast.Call) and \
        isinstance(call.func.value.func, ast.Name) and \
        call.func.value.func.id == 'super'


def _literal(node: Any) -> List[str]:
    """``['k']`` for a string constant node, else ``[]``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    return []


def _is_norm(cls: Any) -> bool:
    import torch.nn as nn
    from torch.nn.modules.batchnorm import _NormBase
    return inspect.isclass(cls) and issubclass(
        cls, (_NormBase, nn.GroupNorm, nn.LayerNorm))


class _Checker:
    """Walks the sections of one config and collects :class:`Problem` s."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.problems: List[Problem] = []

    # ------------------------------------------------------------ lookup
    def _resolve(self, registries: Sequence[Registry], type_: Any,
                 scope: str) -> List[Any]:
        """Every distinct object ``type_`` names in ``registries``."""
        if not isinstance(type_, str):
            return [type_] if callable(type_) else []
        found: List[Any] = []
        for registry in registries:
            try:
                with registry.switch_scope_and_registry(scope) as reg:
                    obj = reg.get(type_)
            except Exception:  # an unimportable scope: the build will say
                obj = None
            if obj is not None and all(obj is not f for f in found):
                found.append(obj)
        return found

    def check(self,
              cfg: Any,
              path: str,
              registries: Sequence[Registry],
              scope: Optional[str] = None,
              extra: Set[str] = frozenset(),
              default_type: Optional[str] = None,
              skip: Set[str] = frozenset(),
              nested: Optional[Sequence[Registry]] = None) -> None:
        """Check one buildable dict (and its nested buildable dicts).

        Args:
            cfg (dict): The config of one component.
            path (str): Its key path, e.g. ``'model.backbone'``.
            registries (Sequence[Registry]): Where its ``type`` is looked
                up; the key must be accepted by one of the resolved objects.
            scope (str, optional): The scope to look up in; default: the
                config's, or ``_scope_`` of the dict.
            extra (set[str]): Keys the builder consumes itself.
            default_type (str, optional): The type when the dict has none.
            skip (set[str]): Keys not to check nor descend into.
            nested (Sequence[Registry], optional): Registries of nested
                dicts; default: ``registries`` plus MODELS and TASK_UTILS.
        """
        if not isinstance(cfg, dict):
            return
        scope = cfg.get('_scope_', scope or self.scope)
        type_ = cfg.get('type', default_type)
        if type_ is not None:
            self._check_keys(cfg, path, registries, type_, scope, extra | skip)
        inner = list(nested or registries)
        for reg in (MODELS, TASK_UTILS, TRANSFORMS):
            if reg not in inner:
                inner.append(reg)
        for key, value in cfg.items():
            if key in skip or key in _META_KEYS or key == 'init_cfg':
                continue
            self._descend(value, f'{path}.{key}', inner, scope)

    def _descend(self, value: Any, path: str, registries, scope) -> None:
        if isinstance(value, dict) and 'type' in value:
            self.check(value, path, registries, scope)
        elif isinstance(value, dict):  # e.g. mmdet's train_cfg.rcnn
            for key, item in value.items():
                self._descend(item, f'{path}.{key}', registries, scope)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self._descend(item, f'{path}.{i}', registries, scope)

    def _check_keys(self, cfg: dict, path: str, registries, type_, scope,
                    extra: Set[str]) -> None:
        objs = self._resolve(registries, type_, scope)
        if not objs:
            return  # unknown type: the registry error explains it
        accepted: Set[str] = set(extra)
        for obj in objs:
            got = accepted_keywords(obj)
            if got.open:
                return
            accepted.update(got.names)
            if _is_norm(obj):
                accepted.update(_NORM_POPPED)
        for key in cfg:
            if key in _META_KEYS or key in accepted:
                continue
            close = difflib.get_close_matches(
                key, sorted(accepted), n=3, cutoff=0.6)
            self.problems.append(
                Problem(f'{path}.{key}', key, self._owner(objs[0]),
                        tuple(close)))

    @staticmethod
    def _owner(obj: Any) -> str:
        return f'{obj.__name__} ({obj.__module__})'

    def check_closed(self, cfg: Any, path: str, names: Sequence[str],
                     owner: str) -> None:
        """Check a plain dict against a fixed set of keys."""
        if not isinstance(cfg, dict):
            return
        for key in cfg:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
                self.problems.append(
                    Problem(f'{path}.{key}', key, owner, tuple(close)))


def _dataloader(checker: _Checker, cfg: Any, name: str) -> None:
    """A dataloader config: DataLoader keys, sampler, collate_fn, dataset
    (with its pipeline and wrapped datasets)."""
    if not isinstance(cfg, dict):
        return
    from torch.utils.data import DataLoader
    names = set(accepted_keywords(DataLoader).names) | _DATALOADER_POPPED
    checker.check_closed(cfg, name, sorted(names), 'the dataloader '
                         '(torch DataLoader + Runner.build_dataloader)')
    checker.check(cfg.get('sampler'), f'{name}.sampler', [DATA_SAMPLERS],
                  extra={'dataset', 'seed'})
    checker.check(cfg.get('batch_sampler'), f'{name}.batch_sampler',
                  [DATA_SAMPLERS], extra={'sampler', 'batch_size'})
    collate = cfg.get('collate_fn')
    if isinstance(collate, dict):
        checker.check(collate, f'{name}.collate_fn', [FUNCTIONS],
                      extra={'data_batch'})
    checker.check(cfg.get('dataset'), f'{name}.dataset', [DATASETS],
                  nested=[DATASETS, TRANSFORMS, TASK_UTILS])


def _loop(checker: _Checker, cfg: Any, name: str, by_epoch: str,
          by_iter: str) -> None:
    """``train_cfg``/``val_cfg``/``test_cfg`` (``type`` or ``by_epoch``)."""
    if not isinstance(cfg, dict) or not cfg:
        return
    default = None
    if 'type' not in cfg:
        default = by_epoch if cfg.get('by_epoch', True) else by_iter
    checker.check(cfg, name, [LOOPS], default_type=default,
                  extra={'by_epoch'} if default else set())


def _as_list(cfg: Any) -> List[Any]:
    if cfg is None:
        return []
    return list(cfg) if isinstance(cfg, (list, tuple)) else [cfg]


def find_problems(cfg: Config) -> List[Problem]:
    """Every unknown keyword of the sections a runner builds.

    Args:
        cfg (Config): A training config (after ``--cfg-options``).

    Returns:
        list[Problem]: The unknown keys, in config order.
    """
    from mmengine.runner import Runner
    checker = _Checker(cfg.get('default_scope') or 'mmengine')
    checker.check(cfg.get('model'), 'model', [MODELS])
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        _dataloader(checker, cfg.get(name), name)
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict):
        checker.check(
            optim,
            'optim_wrapper', [OPTIM_WRAPPERS],
            default_type='OptimWrapper',
            skip={'optimizer', 'constructor', 'paramwise_cfg'})
        checker.check(optim.get('optimizer'), 'optim_wrapper.optimizer',
                      [OPTIMIZERS])
    for i, sched in enumerate(_as_list(cfg.get('param_scheduler'))):
        path = 'param_scheduler' + (f'.{i}' if isinstance(
            cfg.get('param_scheduler'), (list, tuple)) else '')
        checker.check(sched, path, [PARAM_SCHEDULERS],
                      extra={'convert_to_iter_based'})
    for name, hook in (cfg.get('default_hooks') or {}).items():
        checker.check(hook, f'default_hooks.{name}', [HOOKS])
    for i, hook in enumerate(_as_list(cfg.get('custom_hooks'))):
        checker.check(hook, f'custom_hooks.{i}', [HOOKS])
    _loop(checker, cfg.get('train_cfg'), 'train_cfg', 'EpochBasedTrainLoop',
          'IterBasedTrainLoop')
    _loop(checker, cfg.get('val_cfg'), 'val_cfg', 'ValLoop', 'ValLoop')
    _loop(checker, cfg.get('test_cfg'), 'test_cfg', 'TestLoop', 'TestLoop')
    for name in ('val_evaluator', 'test_evaluator'):
        for i, metric in enumerate(_as_list(cfg.get(name))):
            from mmengine.registry import METRICS
            checker.check(metric, f'{name}.{i}' if isinstance(
                cfg.get(name), (list, tuple)) else name, [METRICS])
    checker.check(cfg.get('log_processor'), 'log_processor',
                  [LOG_PROCESSORS], default_type='LogProcessor')
    checker.check(cfg.get('visualizer'), 'visualizer', [VISUALIZERS],
                  nested=[VISBACKENDS])
    checker.check_closed(
        cfg.get('randomness'), 'randomness',
        accepted_keywords(Runner.set_randomness).names[1:],
        'Runner.set_randomness')
    checker.check_closed(cfg.get('auto_scale_lr'), 'auto_scale_lr',
                         ('base_batch_size', 'enable'), 'auto_scale_lr')
    return checker.problems


def check_config(cfg: Config,
                 filename: Optional[str] = None,
                 cli_keys: Iterable[str] = ()) -> None:
    """Raise :class:`ConfigKeyError` listing every unknown keyword.

    Args:
        cfg (Config): A training config (after ``--cfg-options``).
        filename (str, optional): The file to name; default
            ``cfg.filename``.
        cli_keys (Iterable[str]): The keys set by ``--cfg-options``; their
            problems are marked as such.

    Raises:
        ConfigKeyError: With one line per unknown key: its path, the class
        it would reach, the closest valid names.
    """
    problems = find_problems(cfg)
    if not problems:
        return
    filename = filename or cfg.filename or '<config>'
    cli = set(cli_keys)
    lines = '\n'.join(f'  {p}' + (' (set by --cfg-options)'
                                   if p.path in cli else '')
                       for p in problems)
    raise ConfigKeyError(
        f'{filename}: {len(problems)} unknown config key'
        f'{"s" if len(problems) > 1 else ""} (checked before training, '
        f'nothing was run):\n{lines}\nFix the key in {filename} or in the '
        '--cfg-options that set it.')

