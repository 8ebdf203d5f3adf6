# Copyright (c) mmalfm contributors. All rights reserved.
"""Turn registry look-up failures into errors that name the config file."""
import difflib
import re
from typing import List, Optional

from mmengine.registry import DefaultScope, Registry

__all__ = ['ConfigTypeError', 'explain_registry_error']

# MMEngine words most failures "X is not in the mmalfm::model registry" but
# runner and (convert_to_iter_based) scheduler failures without the scope.
_NOT_IN_REGISTRY = re.compile(
    r"(?P<type>[\w.]+) is not in the (?:(?P<scope>[\w.]+)::)?"
    r'(?P<name>[\w ]+) registry')


class ConfigTypeError(KeyError):
    """A config names a module type that no registry knows."""

    def __str__(self) -> str:  # KeyError would repr() the message.
        return str(self.args[0])


def _registry_tree(root: Registry) -> List[Registry]:
    """Every registry under ``root`` once (mmalfm's are indexed twice)."""
    found, stack, seen = [], [root], set()
    while stack:
        reg = stack.pop()
        if id(reg) not in seen:
            seen.add(id(reg))
            found.append(reg)
            stack += list(reg.children.values())
    return found


def _known_names(scope: str, registry_name: str) -> List[str]:
    """Every type name of the registry family ``registry_name``, spelled as a
    config in ``scope`` would write it (other scopes get their prefix)."""
    import mmengine.registry.root as roots

    # Children may be named differently from their root ('log processor'
    # under 'log_processor'): take the tree that holds the name.
    tree: List[Registry] = []
    for root in vars(roots).values():
        if isinstance(root, Registry) and root.parent is None:
            nodes = _registry_tree(root)
            if any(reg.name == registry_name for reg in nodes):
                tree = nodes
                break
    if not tree:
        return []
    # The scope's own registry and its ancestors need no prefix.
    unprefixed = set()
    node = tree[0]._search_child(scope)
    while node is not None:
        unprefixed.add(id(node))
        node = node.parent
    names: List[str] = []
    for reg in tree:
        prefix = '' if id(reg) in unprefixed else f'{reg.scope}.'
        names += [prefix + key for key in reg.module_dict]
    return list(dict.fromkeys(names))


def explain_registry_error(err: KeyError,
                           config_path: str) -> Optional[ConfigTypeError]:
    """Wrap a registry ``KeyError`` into one naming the config file.

    Args:
        err (KeyError): The error raised while building from the config.
        config_path (str): The config file the run was started with.

    Returns:
        ConfigTypeError | None: The explained error, or None if ``err`` is
        not a registry look-up failure.
    """
    message = str(err.args[0]) if err.args else str(err)
    match = _NOT_IN_REGISTRY.search(message)
    if match is None:
        return None
    bad = match.group('type')
    scope = match.group('scope')
    if scope is None:
        current = DefaultScope.get_current_instance()
        scope = current.scope_name if current is not None else 'mmengine'
    candidates = _known_names(scope, match.group('name'))
    close = difflib.get_close_matches(bad, candidates, n=3, cutoff=0.6)
    hint = f' Did you mean {", ".join(repr(c) for c in close)}?' if close else ''
    return ConfigTypeError(
        f'{config_path}: unknown {match.group("name")} type {bad!r} '
        f'(looked up in the {scope!r} scope).{hint} '
        f'Fix the `type` in {config_path} (or add the package that registers '
        'it to `custom_imports`).\n  registry said: ' + message)
