"""Reading a configuration: YAML files (unique keys), typed building of the sections, dotted keys.

``training.config`` holds the sections and the public ``load_config``; this module turns YAML
text and nested mappings into them, coercing each value to its field's type and naming the key
of every mistake.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from trainguard.training.errors import ConfigError

__all__ = ["ALIASES", "build", "is_open_mapping", "is_string_field", "read_yaml", "text_value", "to_plain",
           "unknown_key_message"]

# Other spellings accepted on input (XGBoost's scikit-learn names) and the key each stands for.
ALIASES = {"xgboost.reg_lambda": "xgboost.lambda", "xgboost.reg_alpha": "xgboost.alpha"}



def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; pass a YAML file with --config.")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file with --config.")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line "
                          f"{line}); save it as UTF-8 and pass it again.") from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader(path))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections at the top level.")
    return data


def _unique_key_loader(path: Path) -> Any:
    """A SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key: YAML itself refuses it below
                    continue
                if first is not None:
                    where = f"twice on line {line}" if first == line else f"on line {first} and line {line}"
                    raise ConfigError(f"config file {path}: key {key!r} is given twice in one section, "
                                      f"{where}; keep one (YAML would silently use the last).")
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_scalar(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


_YAML11_WORDS = {False: "off", True: "on"}


def text_value(raw: str, *, string_field: bool) -> Any:
    """A command-line value: text for string fields (``null`` or ``~`` clears an optional one),
    otherwise a YAML scalar, so ``3`` is an integer and ``false`` a boolean."""
    if string_field:
        return None if raw in ("null", "~") else raw
    return _yaml_scalar(raw)


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts and lists (``lambda`` for ``reg_lambda``)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            name = "lambda" if f.name == "reg_lambda" else f.name
            out[name] = to_plain(getattr(obj, f.name))
        return out
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def _field_names(cls: type) -> dict[str, dataclasses.Field[Any]]:
    out = {}
    for f in dataclasses.fields(cls):
        out["lambda" if f.name == "reg_lambda" else f.name] = f
    return out


def build(cls: type, data: Any, path: str) -> Any:
    """The dataclass ``cls`` from a mapping, every value coerced to its field type; ConfigError names the key."""
    where = path or "the config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys to values; got {_describe(data)}.")
    fields = _field_names(cls)
    hints = typing.get_type_hints(cls)
    unknown = [k for k in data if k not in fields and f"{path}.{k}".lstrip(".") not in ALIASES]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(unknown_key_message(key, key, sorted(fields)))
    kwargs = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        canonical = ALIASES.get(full, full).rsplit(".", 1)[-1]
        name = fields[canonical].name
        kwargs[name] = _coerce(hints[name], value, full)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _coerce(opt, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key} must be {_type_name(tp)}; got {_describe(value)}.")
    if origin is Literal:
        allowed = get_args(tp)
        if isinstance(value, bool) and _YAML11_WORDS[value] in allowed:
            value = _YAML11_WORDS[value]  # YAML 1.1 reads a bare off/on as false/true
        if value not in allowed:
            raise ConfigError(
                f"{key} must be one of {', '.join(repr(a) for a in allowed)}; got {_describe(value)}."
            )
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list of {_type_name(item_tp)}; got {_describe(value)}.")
        return [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping; got {_describe(value)}.")
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false; got {_describe(value)}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer; got {_describe(value)}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number; got {_describe(value)}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string; got {_describe(value)}.")
        return value
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - a bug in Config


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def unknown_key_message(key: str, given: str, known: list[str] | None = None) -> str:
    """The message for an unknown key, listing the known keys beside it."""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if known is None:
        known = _known_keys(parent)
    hint = f" Known keys{' under ' + parent if parent else ''}: {', '.join(known)}." if known else ""
    return f"unknown config key {given!r}.{hint}"


def _known_keys(parent: str) -> list[str]:
    from trainguard.training.config import Config

    cls: Any = Config
    for part in [p for p in parent.split(".") if p]:
        fields = _field_names(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return []
        cls = typing.get_type_hints(cls)[fields[part].name]
    return sorted(_field_names(cls)) if dataclasses.is_dataclass(cls) else []


def is_open_mapping(parts: list[str]) -> bool:
    """True where the key names an entry of a free-form mapping (tags, tuning ranges)."""
    joined = ".".join(parts)
    return joined in ("security.tags", "tuning.ranges")


def is_string_field(parts: list[str]) -> bool:
    """True where the dotted key names a text field (its command-line value stays text)."""
    from trainguard.training.config import Config

    cls: Any = Config
    for part in parts:
        if not dataclasses.is_dataclass(cls):
            return False
        fields = _field_names(cls)
        if part not in fields:
            return False
        cls = typing.get_type_hints(cls)[fields[part].name]
    if get_origin(cls) is Literal:
        return all(isinstance(a, str) for a in get_args(cls))
    return cls is str or (get_origin(cls) in (typing.Union, types.UnionType)
                          and set(get_args(cls)) == {str, type(None)})
