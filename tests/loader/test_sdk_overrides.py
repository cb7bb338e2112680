"""The loader's seam to singer-sdk: every SDK member it relies on still exists, with the
parameters it was written against; every override is registered; nothing else reaches past
the SDK's public API.

These fail on an SDK upgrade that changes what ``target_dataops_duckdb/sdk_overrides.py``
relies on, naming the member, instead of the loader misbehaving somewhere else.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import target_dataops_duckdb
from target_dataops_duckdb import sdk_overrides
from target_dataops_duckdb.sdk_overrides import SEAMS, Seam
from target_dataops_duckdb.target import TargetDataOpsDuckDB

PACKAGE = Path(target_dataops_duckdb.__file__).parent
# Documented SDK hooks the sink and target implement outside sdk_overrides.py.
PUBLIC_HOOKS = {"__init__", "setup", "process_batch", "activate_version", "process_endofpipe",
                "MAX_SIZE_DEFAULT", "capabilities", "config_jsonschema", "default_sink_class",
                "message_reader_class", "name", "package_name"}
CLASS_MACHINERY = {"__doc__", "__module__", "__init__", "__abstractmethods__", "__parameters__", "_abc_impl",
                   "__orig_bases__", "__annotations__", "__dict__", "__weakref__", "__qualname__"}


def shape(function) -> tuple[str, ...]:
    """Parameter names and kinds as written: ``("self", "*", "flag")``, ``("self", "*args", "**kwargs")``."""
    names: list[str] = []
    star = False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.VAR_POSITIONAL:
            names.append(f"*{parameter.name}")
            star = True
        elif parameter.kind is parameter.VAR_KEYWORD:
            names.append(f"**{parameter.name}")
        else:
            if parameter.kind is parameter.KEYWORD_ONLY and not star:
                names.append("*")
                star = True
            names.append(parameter.name)
    return tuple(names)


def sdk_definition(owner: type, member: str):
    """The member as the SDK defines it (the class attribute, unwrapped), or None."""
    for cls in owner.__mro__:
        if member in vars(cls):
            value = vars(cls)[member]
            return getattr(value, "__func__", value)  # classmethod/staticmethod
    return None


@pytest.mark.parametrize("seam", SEAMS, ids=lambda s: f"{s.owner.__name__}.{s.member}")
def test_every_sdk_member_relied_on_is_there_with_its_parameters(seam: Seam):
    assert seam.owner.__module__.startswith("singer_sdk"), seam
    assert seam.reason, seam
    definition = sdk_definition(seam.owner, seam.member)
    assert definition is not None, f"singer-sdk no longer has {seam.owner.__name__}.{seam.member}"
    if seam.parameters is not None:
        assert callable(definition), seam
        assert shape(definition) == seam.parameters, (
            f"{seam.owner.__name__}.{seam.member} now takes {shape(definition)}; the loader was written "
            f"for {seam.parameters} ({seam.reason})")


SEAM_CLASSES = [sdk_overrides.ReaderSeams, sdk_overrides.SinkSeams, sdk_overrides.TargetSeams,
                sdk_overrides.OneLineErrorsCommand]


@pytest.mark.parametrize("cls", SEAM_CLASSES, ids=lambda c: c.__name__)
def test_every_override_is_registered_and_keeps_the_sdks_parameters(cls):
    registered = {(seam.owner, seam.member) for seam in SEAMS}
    for member, value in vars(cls).items():
        sdk_owners = [base for base in cls.__mro__[1:] if member in vars(base)
                      and base.__module__.startswith("singer_sdk")]
        if not sdk_owners or member in CLASS_MACHINERY:
            continue
        assert any((owner, member) in registered for owner in cls.__mro__[1:]), (
            f"{cls.__name__}.{member} overrides the SDK's without a registered seam")
        ours = getattr(value, "__func__", value)
        theirs = sdk_definition(sdk_owners[0], member)
        if callable(ours) and callable(theirs):
            assert shape(ours) == shape(theirs), f"{cls.__name__}.{member}"


def test_no_other_module_overrides_sdk_members():
    """Outside sdk_overrides.py, loader classes implement only the SDK's documented hooks."""
    from target_dataops_duckdb import reader, sink, target

    for module in (reader, sink, target):
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
                continue
            sdk_bases = [b for b in cls.__mro__ if b.__module__.startswith("singer_sdk")]
            for member in vars(cls):
                if member in CLASS_MACHINERY - {"__init__"} or (member.startswith("__") and member != "__init__"):
                    continue
                if any(member in vars(base) for base in sdk_bases):
                    assert member in PUBLIC_HOOKS, f"{module.__name__}.{cls.__name__}.{member} overrides the SDK"


def sdk_private_names() -> set[str]:
    """Private attributes of the SDK classes the loader builds on (defined or set on self)."""
    from target_dataops_duckdb import reader, sink, target

    names: set[str] = set()
    for ours in (reader.RawRecordReader, sink.DuckDBSink, target.TargetDataOpsDuckDB):
        for cls in ours.__mro__:
            if not cls.__module__.startswith("singer_sdk"):
                continue
            names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
            names |= set(re.findall(r"self\.(_[a-z]\w*)", inspect.getsource(cls)))
    return names


def test_private_sdk_members_are_reached_only_from_sdk_overrides():
    private = sdk_private_names()
    assert {"_sinks_active", "_latest_state", "_pending_batch", "_get_context"} <= private
    for path in PACKAGE.glob("*.py"):
        if path.name == "sdk_overrides.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("singer_sdk"):
                names = [node.module, *(a.name for a in node.names)]
                assert not any(part.startswith("_") for n in names for part in n.split(".")), (path.name, names)
            if isinstance(node, ast.Attribute):
                assert node.attr not in private, f"{path.name} uses the SDK's {node.attr}"


def test_the_command_line_is_the_one_line_errors_command_reading_config_through_the_wrapper():
    command = TargetDataOpsDuckDB.cli
    assert isinstance(command, sdk_overrides.OneLineErrorsCommand)
    (config,) = [p for p in command.params if p.name == "config"]
    assert config.callback.__qualname__.startswith("_config_file_errors_in_one_line")
