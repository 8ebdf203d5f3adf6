# Copyright (c) mmalfm contributors. All rights reserved.
"""Reading configs and checkpoints of the flat model layout.

Before the heads, SoCo and ALFM held every part at the top of the model
(``model.projector``, ``model.cdlp_loss``, state-dict keys ``projector.*``,
``target_net.module.cdlp_head.*``). An algorithm declares where those keys
live now (:class:`LegacyLayout`); its constructor moves flat config keys
into ``heads`` (with a warning naming the new paths) and a load-state-dict
pre-hook renames old checkpoint keys, so old configs build and old
checkpoints resume. The config dump test applies the same declaration to
the recorded dumps (docs/advanced_guides/heads.md).
"""
import copy
import warnings
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

__all__ = ['LegacyLayout']

#: Where an algorithm's EMA target keeps the copies of its modules.
TARGET_PREFIX = 'target_net.module.'


def _set_path(tree: dict, path: str, value) -> None:
    """``tree['a']['b']['c'] = value`` for ``path='a.b.c'`` (dicts made
    on the way); a dict value updates a dict already there, as a child
    config (or ``--cfg-options``) updates its base."""
    *parents, leaf = path.split('.')
    for key in parents:
        if tree.get(key) is None:
            tree[key] = {}
        tree = tree[key]
    old = tree.get(leaf)
    if isinstance(value, dict) and isinstance(old, dict):
        for key, item in value.items():
            _set_path(old, key, item)
    else:
        tree[leaf] = value


def _get_path(tree: dict, path: str):
    """``tree['a']['b']`` for ``path='a.b'``; None if absent."""
    for key in path.split('.'):
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


@dataclass(frozen=True)
class LegacyLayout:
    """Where the flat layout's keys of one algorithm live now.

    Attributes:
        heads (Mapping[str, dict]): The heads the flat layout implies, as
            config skeletons (``type`` and nested ``type`` s); the moved
            keys are filled in.
        config (Mapping[str, str]): Flat model key -> its new dotted path
            under ``model`` (e.g. ``'projector'`` ->
            ``'heads.region.embedding.projector'``).
        state (Mapping[str, str]): Old state-dict key prefix -> new one;
            the EMA target's copies (``target_net.module.<prefix>``) are
            renamed the same way.
        optional_heads (Mapping[str, tuple]): A head switched off (None)
            when every listed path (relative to the head) ends up None or
            absent, e.g. ALFM's CDLP head without ``embedding.projector``,
            ``loss`` and ``redundancy_loss``.
    """
    heads: Mapping[str, dict]
    config: Mapping[str, str]
    state: Mapping[str, str]
    optional_heads: Mapping[str, Tuple[str, ...]] = field(
        default_factory=dict)

    def upgrade_config(self, model: dict, name: str = 'model') -> dict:
        """A copy of the model config ``model`` with its flat keys moved
        into ``heads``; unchanged when it has none.

        Without ``heads`` the flat keys fill the declared skeleton (an old
        config). With ``heads`` they update it at their new paths (a flat
        ``--cfg-options`` key on a current config, e.g.
        ``model.assigned_level_only=True``).

        Raises:
            ValueError: A flat key belongs to a head switched off (None).
        """
        flat = [k for k in self.config if k in model]
        if not flat:
            return dict(model)
        out = {k: v for k, v in model.items() if k not in self.config}
        given = model.get('heads')
        heads = copy.deepcopy(dict(given if given is not None else
                                   self.heads))
        for key in flat:
            head, path = self.config[key].split('.', 2)[1:]
            if given is not None and heads.get(head) is None:
                raise ValueError(f'{name}: model.{key} belongs to '
                                 f'model.heads.{head}, which is off (None)')
            heads.setdefault(head, {})
            _set_path(heads[head], path, copy.deepcopy(model[key]))
        for head, paths in self.optional_heads.items():
            if heads.get(head) is not None and all(
                    _get_path(heads[head], p) is None for p in paths):
                heads[head] = None
        out['heads'] = heads
        return out

    def consume(self, cls: str, heads: Optional[dict],
                kwargs: dict) -> Optional[dict]:
        """Move the flat keys of a constructor's ``kwargs`` (removed from
        it) into ``heads``, with a deprecation warning; returns the heads.
        """
        if not any(k in kwargs for k in self.config):
            return heads
        self.warn_moved(cls, kwargs)
        model = self.upgrade_config(dict(kwargs, heads=heads), cls)
        for key in self.config:
            kwargs.pop(key, None)
        return model['heads']

    def warn_moved(self, cls: str, model: dict) -> None:
        """Warn that ``model`` uses the flat layout, naming the new paths."""
        moves = ', '.join(f'model.{k} -> model.{self.config[k]}'
                          for k in self.config if k in model)
        warnings.warn(
            f'{cls}: flat model keys are deprecated; read as {moves} '
            '(docs/advanced_guides/heads.md)', DeprecationWarning)

    def rename_state(self, state: Dict, prefix: str = '') -> int:
        """Rename old keys of ``state`` (under ``prefix``) in place; returns
        how many were renamed."""
        renamed = 0
        for key in list(state):
            rest = key[len(prefix):] if key.startswith(prefix) else None
            if rest is None:
                continue
            new = self._new_key(rest)
            if new is not None and prefix + new not in state:
                state[prefix + new] = state.pop(key)
                renamed += 1
        return renamed

    def _new_key(self, key: str) -> Optional[str]:
        return self._map(key, self.state.items())

    def old_key(self, key: str) -> Optional[str]:
        """The flat layout's name of the current state-dict ``key`` (None
        when it did not move)."""
        return self._map(key, ((n, o) for o, n in self.state.items()))

    @staticmethod
    def _map(key: str, pairs) -> Optional[str]:
        pairs = list(pairs)
        for pre in ('', TARGET_PREFIX):
            for src, dst in pairs:
                if key.startswith(pre + src):
                    return pre + dst + key[len(pre + src):]
        return None
