"""Render the documented sample ``strata.toml`` from the typed config (see tests)."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import typing
from typing import Any

from common.config import StrataConfig, option_fields, section_types

HEADER = """\
# Strata configuration. Every option is shown commented out with its default;
# uncomment to change it. Each option can also be set from the environment:
# STRATA_<OPTION> for top-level options, STRATA_<SECTION>_<OPTION> for the
# others (e.g. STRATA_IDENTITY_PORT=5001). Relative paths are resolved against
# the Strata home (the repository root when run through ./strata).
# Secrets left empty are generated on first start into <var_dir>/secrets.json
# (mode 0600).
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _options(cls: type, obj: Any) -> list[str]:
    hints = typing.get_type_hints(cls)
    lines: list[str] = []
    for f in option_fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            continue
        for doc_line in textwrap.wrap(f.metadata["doc"], 76):
            lines.append(f"# {doc_line}")
        lines.append(f"# {f.name} = {_toml_value(getattr(obj, f.name))}")
        lines.append("")
    return lines


def render() -> str:
    cfg = StrataConfig()
    lines = [HEADER]
    lines += _options(StrataConfig, cfg)
    for name, cls in section_types().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        lines += [f"# {doc}", f"[{name}]", ""]
        lines += _options(cls, getattr(cfg, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
