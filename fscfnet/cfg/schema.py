"""Typed config dataclasses from plain dicts, with did-you-mean errors for unknown keys."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Sequence, TypeVar

import yaml

from ..errors import UserError

T = TypeVar("T")


def did_you_mean(word: str, choices: Sequence[str] | dict) -> str:
    """``"; did you mean 'X'?"`` for the closest choice (case-insensitive), or ``""``."""
    lowered = {str(c).lower(): c for c in choices}
    match = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean {lowered[match[0]]!r}?" if match else ""


def _check_type(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def from_dict(cls: type[T], data: dict, source: str) -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys, missing required keys and wrong types raise
    :class:`UserError` naming ``source`` (a file name) and the key."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in fields:
            raise UserError(f"{source}: unknown key {key!r}{did_you_mean(key, fields)}")
        if not _check_type(value, hints[key]):
            raise UserError(f"{source}: key {key!r} must be {hints[key]}, got {value!r}")
    missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise UserError(f"{source}: missing required key(s) {', '.join(missing)}")
    return cls(**data)


def parse_overrides(items: Sequence[str], flag: str = "--set") -> dict:
    """``["optimizer=SGD", "loss.nwd_ratio=1"]`` -> ``{"optimizer": "SGD", "loss": {"nwd_ratio": 1}}`` (values
    parsed as YAML scalars). A key given twice with different values is a one-line error: which one was meant
    cannot be told."""
    out: dict = {}
    given: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {item!r}: expected KEY=VALUE")
        value = yaml.safe_load(raw)
        if key in given and given[key] != value:
            raise UserError(f"{flag}: {key} is given twice, as {given[key]!r} and {value!r}; keep one")
        given[key] = value
        outer, _, inner = key.partition(".")
        if inner:
            out.setdefault(outer, {})[inner] = value
        else:
            out[key] = value
    return out
