"""One strict ``from_dict`` for the frozen config dataclasses (STYLE 6 and 14).

    @classmethod
    def from_dict(cls, d):
        return strict_from_dict(cls, d, "serve options")

A mistyped key is an error that names it, the class and the valid keys (with the closest match:
"did you mean 'lr'?"), so a recipe, a sidecar or a JSON file never runs with a setting silently
dropped. Keys a class once had and no longer has are listed by the class as ``retired`` and dropped,
so files written by older versions still load. Validation stays in the class's ``__post_init__``.

Sits at the bottom of the import graph: only the standard library and ``edgefashion.errors``.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Collection, Iterable, Mapping, TypeVar

from edgefashion.errors import BadInput

T = TypeVar("T")


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _required_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)
            if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _with_suggestion(key: Any, valid: list[str]) -> str:
    close = difflib.get_close_matches(str(key), valid, n=1)
    return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)


def reject_unknown_keys(cls: type, keys: Iterable, what: str | None = None,
                        retired: Collection[str] = ()) -> None:
    """BadInput when ``keys`` holds a name that is not a field of ``cls`` (nor a retired one)."""
    valid = _field_names(cls)
    unknown = sorted((k for k in keys if k not in valid and k not in retired), key=str)
    if unknown:
        names = ", ".join(_with_suggestion(k, valid) for k in unknown)
        raise BadInput(f"unknown {what or 'keys'} {names} for {cls.__name__}; "
                       f"valid: {', '.join(sorted(valid))}")


def strict_from_dict(cls: type[T], d: Any, what: str | None = None, *,
                     convert: Mapping[str, Callable[[Any], Any]] | None = None,
                     retired: Collection[str] = ()) -> T:
    """``cls(**d)`` for a config dataclass, refusing what it cannot mean.

    d: a mapping of field names to values. what: how the error names the keys ("build settings").
    convert: field name -> function applied to that value first (e.g. a JSON list -> tuple).
    retired: keys older versions wrote that the class no longer has; dropped without a word.
    """
    what = what or "keys"
    if not isinstance(d, Mapping):
        raise BadInput(f"{what} for {cls.__name__} must be a mapping (a dict of field: value); "
                       f"got {type(d).__name__}")
    reject_unknown_keys(cls, d, what, retired)
    missing = [k for k in _required_names(cls) if k not in d]
    if missing:
        raise BadInput(f"{what} for {cls.__name__} lack the required {', '.join(map(repr, missing))}")
    kwargs = {k: v for k, v in d.items() if k not in retired}
    for key, fn in (convert or {}).items():
        if key in kwargs:
            try:
                kwargs[key] = fn(kwargs[key])
            except BadInput:
                raise
            except (TypeError, ValueError) as e:
                raise BadInput(f"{what} for {cls.__name__}: {key}={kwargs[key]!r} is malformed ({e})") from e
    return cls(**kwargs)


def parse_options(items: list[str] | None) -> dict:
    """``["width=0.25", "stages=1,2,4", "batch_norm=true"]`` -> typed dict."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise BadInput(f"option {item!r} must look like key=value")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = _typed(value.strip())
    return out


def _typed(v: str):
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if "," in v:
        return tuple(_typed(x) for x in v.split(",") if x)
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v
