"""Layered configuration: default.yaml < user file < SHANHAI_* env < explicit overrides."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = PROJECT_ROOT / "configs" / "default.yaml"
ENV_PREFIX = "SHANHAI_"
# Env shortcuts for the settings people change most.
ENV_SHORTCUTS = {
    "SHANHAI_HOME": "home",
    "SHANHAI_INDEX": "index_dir",
    "SHANHAI_CORPUS": "corpus",
    "SHANHAI_BACKEND": "answer.backend",
}


class ConfigError(ValueError):
    """A configuration value is missing or malformed."""


def _merge(base: dict, over: Mapping) -> dict:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"配置项 {dotted} 的上级不是一个分组")
    node[parts[-1]] = value


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name in ENV_SHORTCUTS:
            out[ENV_SHORTCUTS[name]] = _parse_scalar(raw)
        elif "__" in name:
            dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
            out[dotted] = _parse_scalar(raw)
    return out


class Config:
    """Resolved settings with dotted access: ``cfg.get("retrieval.top_k")`` or ``cfg["retrieval"]["top_k"]``."""

    def __init__(self, data: dict):
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Config":
        """Return a copy with dotted-key overrides applied (None values are ignored)."""
        data = copy.deepcopy(self.data)
        for dotted, value in overrides.items():
            if value is not None:
                _set_dotted(data, dotted, value)
        return Config(data)

    @property
    def home(self) -> Path:
        return Path(os.path.expanduser(str(self.data["home"])))

    @property
    def index_dir(self) -> Path:
        value = self.data.get("index_dir")
        return Path(os.path.expanduser(str(value))) if value else self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def corpus_dir(self) -> Path:
        path = Path(os.path.expanduser(str(self.data.get("corpus") or "sample_corpus")))
        return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path

    def dump(self) -> str:
        """YAML text of the resolved config, for run folders and `shanhai config`."""
        return yaml.safe_dump(self.data, allow_unicode=True, sort_keys=False)


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the resolved config.

    Args:
        path: optional user YAML file layered over ``configs/default.yaml``.
        overrides: dotted keys (``"retrieval.top_k"``) from CLI flags; None values are skipped.
        environ: environment to read ``SHANHAI_*`` from (defaults to ``os.environ``).

    Returns:
        The merged ``Config``.
    """
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8")) or {}
    if path:
        user_file = Path(path)
        if not user_file.is_file():
            raise ConfigError(f"找不到配置文件：{user_file}")
        _merge(data, yaml.safe_load(user_file.read_text(encoding="utf-8")) or {})
    for dotted, value in _env_overrides(os.environ if environ is None else environ).items():
        _set_dotted(data, dotted, value)
    return Config(data).with_overrides(overrides or {})
