"""Typed configuration: dataclasses are the source of truth.

A config is a (nested) dataclass. It can be built from a YAML file, overridden from the command line with
dotted arguments (``--model.d_model=512``), validated (errors name the field and the rule), and saved as YAML
beside every artifact that depends on it.

Each dataclass may define ``validate(self) -> None`` raising :class:`ConfigError`; :func:`validate` walks the
tree and calls them, children first, prefixing the field path so the message says where the problem is.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type, or breaks a rule.

    ``field`` is the dotted path of the offending field (``model.d_model``), ``rule`` a short human sentence.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}" if field else rule)

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable with its two arguments, so an error raised in a pool worker reaches the parent
        return (type(self), (self.field, self.rule))

    def prefixed(self, prefix: str) -> ConfigError:
        field = f"{prefix}.{self.field}" if self.field else prefix
        return ConfigError(field, self.rule)


# ---------------------------------------------------------------------------------------------- parsing


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Turn a YAML/CLI value into an instance of the annotated type ``tp`` or raise ConfigError."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [arg for arg in args if arg is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own error names the exact nested field and its rule
            return _coerce(value, real[0], path)
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, path)
            except ConfigError as err:
                errors.append(err.rule)
        raise ConfigError(path, f"expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(path, f"must be one of {list(choices)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, _prefix=path)
    if origin in (list, Sequence, typing.Sequence) or tp is list:
        (item_tp,) = get_args(tp) or (Any,)
        if isinstance(value, str) or not isinstance(value, Sequence):
            value = [value] if not isinstance(value, Sequence) or isinstance(value, str) else value
        return [_coerce(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(path, f"expected a list of {len(args)} values, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(path, f"expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin in (dict, Mapping) or tp is dict:
        key_tp, val_tp = get_args(tp) or (Any, Any)
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a mapping, got {value!r}")
        return {_coerce(k, key_tp, path): _coerce(v, val_tp, _join(path, str(k))) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(path, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(path, f"expected an integer, got {value!r}")
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            raise ConfigError(path, f"expected an integer, got {value!r}") from None
        if int(number) != number:
            raise ConfigError(path, f"expected an integer, got {value!r}")
        return int(number)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(path, f"expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(path, f"expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(path, f"expected a string, got {value!r}")
        return str(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(path, f"unsupported type {_type_name(tp)} for value {value!r}")


def from_dict(cls: type[T], data: Mapping[str, Any], *, _prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys are errors (with a did-you-mean hint)."""
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(_join(_prefix, str(key)), f"unknown field for {cls.__name__}{hint}")
        kwargs[key] = _coerce(value, hints[key], _join(_prefix, key))
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ConfigError(_join(_prefix, missing[0]), "is required")
    return cls(**kwargs)


def to_dict(config: Any) -> Any:
    """A plain, YAML-safe representation (tuples become lists)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Path):
        return str(config)
    return config


# -------------------------------------------------------------------------------------------- overrides


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """``["--a.b=1", "--c", "x"]`` -> ``{"a": {"b": 1}, "c": "x"}``. Values are parsed as YAML scalars."""
    result: dict[str, Any] = {}
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        if not arg.startswith("--"):
            raise ConfigError("", f"expected an override like --field.name=value, got {arg!r}")
        body = arg[2:]
        if "=" in body:
            key, raw = body.split("=", 1)
        elif i + 1 < len(items) and not items[i + 1].startswith("--"):
            key, raw = body, items[i + 1]
            i += 1
        else:
            key, raw = body, "true"
        i += 1
        value = yaml.safe_load(raw) if raw != "" else ""
        node = result
        parts = key.replace("-", "_").split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(key, "conflicting overrides")
        node[parts[-1]] = value
    return result


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    from lmforge.io import open_file

    with open_file(str(path), "rt") as handle:
        try:
            data = yaml.safe_load(handle) or {}
        except yaml.YAMLError as err:
            raise ConfigError("", f"{path}: invalid YAML: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError("", f"{path}: invalid UTF-8 at byte {err.start}") from None
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


# ------------------------------------------------------------------------------------------- validation


def validate(config: Any, _prefix: str = "") -> None:
    """Call ``validate()`` on every dataclass in the tree, children first; errors carry the full path."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        return
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            validate(v, _join(_prefix, f.name))
        if isinstance(value, Mapping):
            for k, v in value.items():
                validate(v, _join(_join(_prefix, f.name), str(k)))
    check = getattr(config, "validate", None)
    if callable(check):
        try:
            check()
        except ConfigError as err:
            raise err.prefixed(_prefix) if _prefix else err from None


def build_config(
    cls: type[T],
    yaml_path: str | Path | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    base: Mapping[str, Any] | None = None,
) -> T:
    """The one entry point: ``base`` dict <- YAML file <- overrides, coerced, validated."""
    data: dict[str, Any] = dict(base or {})
    if yaml_path is not None:
        data = merge(data, load_yaml(yaml_path))
    update = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
    data = merge(data, update)
    config = from_dict(cls, data)
    validate(config)
    return config


def require(condition: bool, field: str, rule: str) -> None:
    """Shorthand for validators: ``require(d % h == 0, "d_model", "must be divisible by n_heads")``."""
    if not condition:
        raise ConfigError(field, rule)


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, default_flow_style=None)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    from lmforge.io import atomic_write

    with atomic_write(str(path), "wt") as handle:
        handle.write(dump_yaml(config))
