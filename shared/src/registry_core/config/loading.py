"""Reading the YAML file and the environment into :class:`Settings`, every problem as one :class:`ConfigError`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsError

from registry_core.config.base import _SECRET_KEYS, DRIVERS, ENV_PREFIX, ConfigError
from registry_core.config.settings import _ENVIRON, Settings


def load_settings(path: str | os.PathLike[str] | None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file at ``path`` (none: defaults only), apply ``env`` (default ``os.environ``), validate."""
    environ = dict(os.environ if env is None else env)
    data = _read_yaml(path) if path is not None else {}
    driver = next((v for k, v in environ.items() if k.upper() == ENV_PREFIX + "STORAGE"), None)
    if driver:
        storage = data.get("storage")
        storage = {k: v for k, v in storage.items() if k not in DRIVERS} if isinstance(storage, dict) else {}
        data["storage"] = {**storage, driver: {}}  # an unsupported name is reported as unknown, then "none"
    token = _ENVIRON.set(environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = [_describe(error, environ) for error in exc.errors()]
        where = os.fspath(path) if path is not None else "defaults"
        raise ConfigError(
            f"invalid configuration ({where} and {ENV_PREFIX}* environment):\n  " + "\n  ".join(problems), problems
        ) from None
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid configuration in the {ENV_PREFIX}* environment: {exc}{cause}") from None
    finally:
        _ENVIRON.reset(token)


class _YamlLoader(yaml.SafeLoader):
    """Refuses duplicate keys, which plain YAML loading silently resolves to the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool | None):
                continue  # unhashable: the base class reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{os.fspath(path)}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{os.fspath(path)}: cannot read the configuration file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{os.fspath(path)}:{mark.line + 1}:{mark.column + 1}" if mark else os.fspath(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{os.fspath(path)}: the top level must be a mapping of keys, got {type(data).__name__}")
    bad = [str(key) for key in data if not isinstance(key, str) or key.startswith("_")]
    if bad:
        raise ConfigError(f"{os.fspath(path)}: invalid top-level keys: {', '.join(bad)}")
    return data


def _describe(error: ErrorDetails, environ: Mapping[str, str]) -> str:
    """One ``"dotted.key: problem"`` line for a pydantic error (cross-key checks already name their keys)."""
    loc = [str(part) for part in error["loc"]]
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error":
        message = str(ctx.get("error", error["msg"]))
    elif error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":  # sections that refuse unknown keys (retention rules)
        message = "unknown key, not allowed here"
    else:
        message = error["msg"].replace("Input should be", "must be", 1)
        shown = "(hidden)" if set(loc) & _SECRET_KEYS else repr(error["input"])
        message += f", got {shown if len(shown) <= 80 else shown[:77] + '...'}"
    env_name = ENV_PREFIX + "_".join(loc).upper()
    if loc and any(name.upper() == env_name for name in environ):
        message += f" (from {env_name})"
    if loc and message.startswith(".".join(loc) + "."):  # a section's own check names its key in full
        return message
    return f"{'.'.join(loc)}: {message}" if loc else message
