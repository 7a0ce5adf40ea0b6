"""Plugins: code of the user's own, named by import path, and the fingerprints of its source.

A config names a function of the user's own (a model factory, a dataset loader) by import path:
``"package.module:function"`` (the module imported as Python would, with the working directory on
the path) or ``"path/to/file.py:function"`` (that file loaded as a module). :func:`resolve_function`
finds it; a module whose file changed since it was loaded is loaded again, so the code that runs is
the code whose :func:`source_fingerprint` (the SHA-256 of its source file) keys the stages of the
store. :mod:`landform.data` and :mod:`landform.models` both resolve their plugins here.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from landform.errors import ConfigError


def is_import_path(reference: Any) -> bool:
    """Whether ``reference`` looks like ``module:function`` (or ``file.py:function``)."""
    if not isinstance(reference, str) or reference.count(":") != 1:
        return False
    module, function = reference.split(":")
    return bool(module.strip()) and function.strip().isidentifier()


def resolve_function(reference: str, what: str = "dataset") -> Callable[..., Any]:
    """The function named by ``module:function`` (the module imported as Python would, with the
    working directory on the path, as ``python -m`` has it) or ``path/to/file.py:function`` (that
    file loaded as a module). Raises :class:`ConfigError` (one line, starting with ``what`` and
    ``reference``) when the module does not import or has no such function."""
    if not is_import_path(reference):
        raise ConfigError(
            f"{what} {reference!r} is not an import path; write 'package.module:function' or 'path/to/file.py:function'"
        )
    module_name, function_name = (part.strip() for part in reference.split(":"))
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"{what} {reference!r}: the file {str(path)!r} does not exist")
            unique = "landform_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
            module = sys.modules.get(unique)
            if module is None or _changed(module):
                spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[unique] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[unique]
                    raise
                _LOADED[unique] = _stat(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.append(os.getcwd())
            module = importlib.import_module(module_name)
            if module_name not in _LOADED:
                _LOADED[module_name] = _stat(module)
            elif _changed(module, module_name):
                module = importlib.reload(module)
                _LOADED[module_name] = _stat(module)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(
            f"{what} {reference!r}: module {module_name!r} cannot be imported ({one_line(error)}); give "
            "'package.module:function' importable from the working directory, or 'path/to/file.py:function'"
        ) from None
    function = getattr(module, function_name, None)
    if function is None:
        raise ConfigError(f"{what} {reference!r}: module {module_name!r} has no attribute {function_name!r}")
    if not callable(function):
        raise ConfigError(f"{what} {reference!r} is a {type(function).__name__}, not a function")
    return function


#: (size, modification time) of the source file of each module :func:`resolve_function` loaded,
#: when it loaded it: a module whose file changed since is loaded again, so that the code that
#: runs is the code whose fingerprint keys the stages (a long-lived session sees the user's edits).
_LOADED: dict[str, tuple[int, int] | None] = {}


def _stat(module: Any) -> tuple[int, int] | None:
    path = getattr(module, "__file__", None)
    try:
        stat = os.stat(path) if path else None
    except OSError:
        return None
    return None if stat is None else (stat.st_size, stat.st_mtime_ns)


def _changed(module: Any, name: str | None = None) -> bool:
    recorded = _LOADED.get(name or module.__name__)
    return recorded is not None and _stat(module) != recorded


def one_line(error: BaseException) -> str:
    """``"ErrorType: first line of the message"``."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, size: int, modified: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def source_fingerprint(function: Callable[..., Any]) -> str:
    """SHA-256 of the source file of the module that defines ``function`` (of the function's own
    source when the module has no file; of its qualified name when neither can be read)."""
    target = inspect.unwrap(function)
    try:
        path = inspect.getsourcefile(target) or inspect.getfile(target)
    except TypeError:
        path = None
    if path and os.path.isfile(path):
        stat = os.stat(path)
        return _file_digest(os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        text = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
    return hashlib.sha256(text.encode()).hexdigest()


__all__ = ["is_import_path", "one_line", "resolve_function", "source_fingerprint"]
