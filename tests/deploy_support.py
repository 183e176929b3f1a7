"""Checks for deploy/: a renderer of the Helm template subset the chart uses, and setting names."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pydantic import BaseModel

from idproof.config import Settings

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}")
_IF_BLOCK = re.compile(r"\{\{-?\s*if\s+(\S+)\s*-?\}\}\n?(.*?)\{\{-?\s*end\s*-?\}\}\n?", re.S)


class TemplateError(ValueError):
    """The template uses a construct outside the subset, or names a value that is not set."""


def _lookup(path: str, scope: dict[str, Any]) -> Any:
    if not path.startswith("."):
        raise TemplateError(f"not a value path: {path}")
    node: Any = scope
    for part in path[1:].split("."):
        if not isinstance(node, dict) or part not in node:
            raise TemplateError(f"{path} is not set")
        node = node[part]
    return node


def _expr(expr: str, scope: dict[str, Any]) -> str:
    """`.A.b`, `.A.b | quote`, `toYaml .A.b | nindent N`: what the chart's templates use."""
    parts = [p.strip() for p in expr.split("|")]
    head = parts[0].split()
    if head[0] == "toYaml" and len(head) == 2:
        text: str = yaml.safe_dump(_lookup(head[1], scope), default_flow_style=False).rstrip()
        value: Any = text
    elif len(head) == 1:
        value = _lookup(head[0], scope)
        text = str(value).lower() if isinstance(value, bool) else str(value)
    else:
        raise TemplateError(f"unsupported action: {expr}")
    for pipe in parts[1:]:
        if pipe == "quote":
            text = json.dumps(text)
        elif pipe.startswith("nindent "):
            pad = " " * int(pipe.split()[1])
            text = "\n" + "\n".join(pad + line for line in text.splitlines())
        else:
            raise TemplateError(f"unsupported pipe: {pipe}")
    return text


def render(template: str, values: dict[str, Any], release: str = "idp",
           chart: dict[str, Any] | None = None) -> str:
    """Render `template` like `helm template` would, for the constructs above and
    `if .Values.x ... end` blocks; anything else raises `TemplateError`."""
    meta = chart or {}
    scope = {"Values": values, "Release": {"Name": release, "Namespace": "default"},
             "Chart": {"Name": meta.get("name", ""), "Version": meta.get("version", ""),
                       "AppVersion": meta.get("appVersion", "")}}

    def block(m: re.Match[str]) -> str:
        return m.group(2) if _lookup(m.group(1), scope) else ""

    text = _IF_BLOCK.sub(block, template)

    def action(m: re.Match[str]) -> str:
        return _expr(m.group(2), scope)

    # `{{-` trims the whitespace (and newline) before the action, as in Go templates.
    text = re.sub(r"[ \t]*\n?[ \t]*\{\{-", "{{-", text)
    return _ACTION.sub(action, text)


def setting_path(env_name: str) -> list[str]:
    """The Settings field path an IDPROOF_ variable sets (`*_FILE` reads its target), or
    raise KeyError when no such setting exists."""
    name = env_name.upper()
    if not name.startswith("IDPROOF_"):
        raise KeyError(env_name)
    name = name[len("IDPROOF_"):]
    if name.endswith("_FILE") and name != "MASTER_KEY_FILE":
        name = name[: -len("_FILE")]
    parts = name.lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            raise KeyError(env_name)
        ann = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                raise KeyError(env_name)
            model = ann
    return parts
