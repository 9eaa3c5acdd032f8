"""Lets aiogram's Telegram types build their pydantic validators on first use, not at import.

aiogram declares every `TelegramObject` with `defer_build=True`, then defeats it: the end of
`aiogram/types/__init__.py` calls `model_rebuild(_types_namespace=...)` on each of its several
hundred types, only so that the forward references hidden behind `TYPE_CHECKING` resolve. That
builds every schema eagerly and is most of the seconds `import aiogram` costs.

`install()` wraps `model_rebuild` while `aiogram.types` is first imported: for a deferred
type it puts the names the rebuild would have used into the type's module globals (where
pydantic looks first) instead of building. Pydantic then builds each type the standard way the
first time it validates, with every reference resolvable. The API method classes, which
aiogram builds at import, are deferred the same way. `warm()` builds the types the gateway
needs on every update, so that the first update is no slower than the rest, and spares each
object pydantic's nested wrappers of aiogram's `model_post_init` (`bind_bot_directly`).
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    # Types only: importlib.abc pulls in importlib.resources (tempfile, shutil, urllib, ...),
    # and every process that imports `bot` would pay for it.
    from importlib.abc import Loader

    from pydantic import BaseModel


def _deferring_rebuild(original: Any) -> Any:
    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Mapping[str, Any] | None = None,
    ) -> bool | None:
        if _types_namespace is not None and not force and cls.model_config.get("defer_build"):
            module_globals = vars(sys.modules[cls.__module__])
            missing = _types_namespace.keys() - module_globals.keys()
            module_globals.update({name: _types_namespace[name] for name in missing})
            return None
        return original(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth + 1,
            _types_namespace=_types_namespace,
        )

    return classmethod(model_rebuild)


def _import_types(load: Callable[[], None]) -> None:
    # Imported here, not at the top: every `bot` import installs the hook, and processes that
    # never touch aiogram (`townsquare merkle build`) should not pay for pydantic.
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]
    BaseModel.model_rebuild = _deferring_rebuild(original.__func__)  # type: ignore[method-assign]
    try:
        load()
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]


def _import_methods_base(load: Callable[[], None]) -> None:
    load()
    # Every API method class inherits this config as it is created, right after this module.
    base = sys.modules[_METHODS_BASE]
    base.TelegramMethod.model_config["defer_build"] = True


_TYPES = "aiogram.types"
_METHODS_BASE = "aiogram.methods.base"
_HOOKS: dict[str, Callable[[Callable[[], None]], None]] = {
    _TYPES: _import_types,
    _METHODS_BASE: _import_methods_base,
}


class _HookedLoader:
    """Runs the module through its hook; the module keeps its own loader afterwards."""

    def __init__(self, loader: Loader, hook: Callable[[Callable[[], None]], None]):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._hook(lambda: self._loader.exec_module(module))


class _Finder:
    """Hooks the first import of the modules in `_HOOKS`, then steps aside."""

    def __init__(self) -> None:
        self._pending = set(_HOOKS) - set(sys.modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self._pending:
            return None
        self._pending.discard(fullname)
        if not self._pending:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = cast("Loader", _HookedLoader(spec.loader, _HOOKS[fullname]))
        return spec


def install() -> None:
    """Defers the validators when aiogram is first imported; a no-op once it is imported."""
    if _TYPES in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())


def warm() -> None:
    """Builds the validators of incoming updates and of the replies to sent messages, and
    binds objects to their bot in one step (`bind_bot_directly`).

    `Message` first: the larger schemas that contain it then reuse its finished one. That
    includes `Response[Message]`, which is built as soon as it is named: named before `Message`
    is built, it builds a `Message` schema of its own (some 100 ms more).
    """
    from aiogram.methods.base import Response
    from aiogram.types import Message, Update

    bind_bot_directly()
    for model in (Message, Update):
        model.model_rebuild()
    Response[Message].model_rebuild()


_set = object.__setattr__


def _bind_bot(self: Any, context: Any, /) -> None:
    # The private state aiogram's `model_post_init` leaves behind, set at once.
    _set(self, "__pydantic_private__", {"_bot": context.get("bot") if context else None})


def _unwrapped(function: Any) -> Any:
    while hasattr(function, "__wrapped__"):
        function = function.__wrapped__
    return function


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


def bind_bot_directly() -> int:
    """Gives every aiogram object its bot (the private `_bot`) in one step.

    aiogram's objects learn their bot in `BotContextController.model_post_init`, from the
    validation context. As each subclass has private attributes, pydantic wraps the inherited
    `model_post_init` again in every subclass, so a `Message` went through three wrappers, each
    initialising its private attributes, before `_bot` was set: some 20 µs of the 45 µs an
    update's validation took. A class whose `model_post_init` is just those wrappers around
    aiogram's gets one that sets the same private state (`_bot` only) directly. Returns how many
    classes changed (none the second time).
    """
    from aiogram.client.context_controller import BotContextController

    target = _unwrapped(BotContextController.__dict__["model_post_init"])
    changed = 0
    for cls in _subclasses(BotContextController):
        post_init = cls.__dict__.get("model_post_init")
        if post_init is None or post_init is _bind_bot or _unwrapped(post_init) is not target:
            continue
        if set(getattr(cls, "__private_attributes__", {})) != {"_bot"}:
            continue
        cls.model_post_init = _bind_bot  # type: ignore[attr-defined]
        changed += 1
    return changed
