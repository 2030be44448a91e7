"""What ``--help`` and ``mmc-bench describe METHOD`` print: the methods with a line each, and every key with
its default and the sentence its schema's comments give it (the comments are the one source of both)."""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import textwrap
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import MISSING

FIELD = re.compile(r"^\s+(\w+):\s")


def _comment_block(lines: list[str]) -> str:
    return " ".join(line.strip().lstrip("#").strip() for line in lines)


def field_comments(schema: type) -> dict[str, str]:
    """Per field of a dataclass (and its bases), the comment lines above it and its inline comment."""
    comments: dict[str, str] = {}
    for cls in reversed(schema.__mro__):
        if not dataclasses.is_dataclass(cls) or cls is object:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#"):
                above.append(stripped)
                continue
            match = FIELD.match(line)
            if match:
                inline = line.split("#", 1)[1].strip() if "#" in line.split("=", 1)[-1] else ""
                text = " ".join(t for t in (_comment_block(above), inline) if t)
                if text:
                    comments[match.group(1)] = text
            above = []
    return comments


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if value is MISSING:
        return "(required)"
    return getattr(value, "value", value)


def describe_schema(schema: type, prefix: str = "", values: Any = None, width: int = 100) -> str:
    """One block per key: ``prefix.key = default`` and the key's sentence (with its allowed range).
    ``values`` (an instance of ``schema``) supplies defaults that a YAML sets over the schema's."""
    comments = field_comments(schema)
    blocks = []
    for f in dataclasses.fields(schema):
        if f.name.startswith("_") or f.name == "name":
            continue
        text = comments.get(f.name, "")
        allowed = f.metadata.get("range")
        if allowed is not None:
            text = f"{text} (must be {allowed})".strip()
        choices = _enum_of(schema, f.name)
        if choices:
            text = f"{text} Choices: {', '.join(choices)}.".strip()
        default = _default(f)
        head = f"  {prefix}{f.name} = {default}"
        if values is not None:
            value = getattr(getattr(values, f.name), "value", getattr(values, f.name))
            if value != default:
                head = f"  {prefix}{f.name} = {value}  (schema default {default})"
        body = textwrap.fill(text, width, initial_indent="      ", subsequent_indent="      ") if text else ""
        blocks.append(head + ("\n" + body if body else ""))
    return "\n".join(blocks)


def _enum_of(schema: type, name: str) -> list[str] | None:
    """The choices of an Enum-typed field (the schemas' annotations are strings: resolve them)."""
    hint = typing.get_type_hints(schema).get(name)
    return list(hint.__members__) if isinstance(hint, type) and issubclass(hint, Enum) else None


def yaml_summary(path: Path, limit: int = 110) -> str:
    """The first sentence of a YAML's leading comment block."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    text = _comment_block(lines)
    sentence = re.split(r"(?<=\.)\s(?=[A-Z])", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


GROUPS = ("dataset", "method", "experiment", "hparams_search", "logger")


def group_options(config_dirs: list[Path], group: str) -> dict[str, Path]:
    """Every YAML of a config group over the config folders (the package's first; a later folder's file of
    the same name, as on Hydra's search path, wins)."""
    options: dict[str, Path] = {}
    for folder in config_dirs:
        options.update({p.stem: p for p in sorted((folder / group).glob("*.yaml"))})
    return dict(sorted(options.items()))


def searchpath_dirs(entries: Any) -> list[Path]:
    """The local folders of ``hydra.searchpath`` entries (file://DIR or a plain path; pkg:// is skipped)."""
    folders = []
    for entry in entries or ():
        entry = str(entry)
        if entry.startswith("pkg://"):
            continue
        folders.append(Path(entry.removeprefix("file://")).expanduser())
    return folders


def methods_overview(config_dirs: list[Path]) -> str:
    rows = [(name, yaml_summary(path)) for name, path in group_options(config_dirs, "method").items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in rows)


def config_groups(config_dirs: list[Path]) -> str:
    """Each config group and its options, read from the folders (Hydra's own listing composes every option,
    which took seconds)."""
    lines = []
    for group in GROUPS:
        names = ", ".join(group_options(config_dirs, group))
        lines.append(textwrap.fill(f"{group}: {names}", 100, subsequent_indent="    "))
    return "\n".join(lines)


def help_text(config_dirs: list[Path]) -> str:
    from mmc_bench.config import RunConfig

    return (
        "mmc_bench: deep multi-modal clustering experiments (DM2C, DMIM, EAMC, CMMC, JECL and baselines).\n\n"
        "Usage:\n"
        "  python -m mmc_bench [method=NAME] [dataset=NAME] [experiment=NAME] [key=value ...]\n"
        "  python -m mmc_bench -m seed=0,1,2,3,4 [...]        a sweep (one run per value)\n"
        "  python -m mmc_bench hparams_search=eamc dataset=X  a label-free Optuna search\n"
        "  python -m mmc_bench describe METHOD               that method's keys, defaults and meaning\n"
        "  mmc-bench-aggregate outputs/sweeps/NAME           tables from finished runs\n\n"
        f"Methods (method=NAME; keys: describe NAME):\n{methods_overview(config_dirs)}\n\n"
        f"Run keys:\n{describe_schema(RunConfig)}\n\n"
        f"Config groups (GROUP=OPTION; a method of your own: hydra.searchpath=[file://DIR]):\n"
        f"{config_groups(config_dirs)}\n\n"
        "Show a composed config: python -m mmc_bench [...] --cfg job\n"
    )


def describe_method(name: str, config_dir: Path, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """The keys of method ``name`` (a conf/method YAML, also one on a ``hydra.searchpath=[...]`` of
    ``overrides``): what it is, then every key with default and meaning."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from mmc_bench.errors import UserError

    searchpath = [o.value() for o in OverridesParser.create().parse_overrides(overrides=list(overrides))]
    options = group_options([config_dir, *searchpath_dirs(searchpath[-1] if searchpath else ())], "method")
    if name not in options:
        raise UserError(
            f"no method '{name}' (conf/method/{name}.yaml); the methods are: {', '.join(options)}"
        )
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"method={name}", *overrides])
    schema, defaults = method_schema(cfg.method)
    text = describe_schema(schema, "method.", values=defaults)
    intro = _comment_block([line for line in options[name].read_text().splitlines() if line.startswith("#")])
    return (
        f"{name}: {textwrap.fill(intro, 100, subsequent_indent='  ')}\n\nKeys (schema {schema.__name__}, "
        f"set as method.KEY=VALUE):\n{text}\n"
    )


def method_schema(node: Any) -> tuple[type, Any]:
    """A composed method config's schema and its values: the typed node's own, or for a YAML without a
    schema (a method outside the package) its class's ``config_class`` (importing that module)."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    schema = OmegaConf.get_type(node)
    if dataclasses.is_dataclass(schema):
        return schema, OmegaConf.to_object(node)
    schema = get_class(node._target_).config_class
    values = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "_target_"}
    return schema, schema(**values)


def method_page(name: str, config_dir: Path) -> str:
    """A method's documentation page (docs/methods/NAME.md), from its module's and class's docstrings, its
    YAML's comment and its schema's key comments."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    path = config_dir / "method" / f"{name}.yaml"
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"method={name}"])
    method_class = get_class(cfg.method._target_)
    schema, values = OmegaConf.get_type(cfg.method), OmegaConf.to_object(cfg.method)
    module_doc = inspect.getdoc(sys.modules[method_class.__module__]) or ""
    intro = _comment_block([line for line in path.read_text().splitlines() if line.startswith("#")])
    comments = field_comments(schema)
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(schema):
        if f.name in ("_target_", "name"):
            continue
        value = getattr(getattr(values, f.name), "value", getattr(values, f.name))
        text = comments.get(f.name, "")
        if f.metadata.get("range") is not None:
            text = f"{text} (must be {f.metadata['range']})".strip()
        choices = _enum_of(schema, f.name)
        if choices:
            text = f"{text} Choices: {', '.join(choices)}.".strip()
        rows.append(f"| `{f.name}` | `{value}` | {text.replace('|', '/')} |")
    settings = ", ".join(sorted(s.value for s in method_class.supported_settings))
    return "\n".join(
        [
            f"# `{name}`: {inspect.getdoc(method_class).splitlines()[0]}",
            "",
            "<!-- Generated by `python -m mmc_bench describe --markdown docs/methods`; edit the docstrings. -->",
            "",
            intro,
            "",
            module_doc,
            "",
            f"Class `{method_class.__module__}.{method_class.__name__}`; settings: {settings}. From Python:",
            f"`{method_class.__name__}(n_clusters=K, random_state=0, **keys).fit_predict([x_view0, x_view1])`;",
            f"from the command line: `mmc-bench method={name} dataset=NAME method.KEY=VALUE`.",
            "",
            *rows,
            "",
        ]
    )


def write_method_pages(folder: Path, config_dir: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((config_dir / "method").glob("*.yaml")):
        page = folder / f"{path.stem}.md"
        page.write_text(method_page(path.stem, config_dir))
        written.append(page)
    return written
