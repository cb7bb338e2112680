"""Every singer-sdk member the tap overrides or relies on past the SDK's public hooks still
exists with the parameters the override was written for (tap_dataops/sdk_overrides.py).

An SDK upgrade that renames, removes or re-signs one of them fails here, by name, instead of
somewhere in a sync.
"""

from __future__ import annotations

import inspect

import pytest

from tap_dataops.sdk_overrides import SEAMS, Seam
from tap_dataops.tap import TapDataOps


def _instance_attributes(owner: type) -> set[str]:
    """Attributes the SDK sets on instances (read from its __init__ source, without running it)."""
    names: set[str] = set()
    for klass in owner.__mro__:
        init = klass.__dict__.get("__init__")
        if not inspect.isfunction(init):
            continue
        source = inspect.getsource(init)
        names.update(part.split("=")[0].split(":")[0].strip().removeprefix("self.")
                     for part in source.splitlines() if part.strip().startswith("self."))
    return names


@pytest.mark.parametrize("seam", SEAMS, ids=lambda s: f"{s.owner.__name__}.{s.member}")
def test_the_sdk_member_is_still_there_as_the_override_expects(seam: Seam):
    assert seam.reason, "every override says why"
    if seam.parameters is None:
        assert seam.member in _instance_attributes(seam.owner) or hasattr(seam.owner, seam.member), (
            f"{seam.owner.__name__} no longer sets self.{seam.member}: {seam.reason}")
        return
    member = inspect.getattr_static(seam.owner, seam.member, None)
    assert member is not None, f"{seam.owner.__name__}.{seam.member} is gone: {seam.reason}"
    function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    parameters = tuple(inspect.signature(function).parameters)
    assert parameters == seam.parameters, (
        f"{seam.owner.__name__}.{seam.member} now takes {parameters}, the override was written for "
        f"{seam.parameters}: {seam.reason}")


def test_each_fenced_override_is_registered():
    """An override of a private SDK member outside the registry would escape the check above."""
    import tap_dataops.sdk_overrides as fence

    registered = {(s.owner, s.member) for s in SEAMS}
    for cls in (fence.StreamSeams, fence.TapSeams, fence.IndexedStateManager, fence.OneLineErrorsCommand):
        for name, value in vars(cls).items():
            if not callable(value) and not isinstance(value, property | classmethod):
                continue
            for base in cls.__mro__[1:]:
                if name in vars(base) and base.__module__.startswith("singer_sdk") and (
                        name.startswith("_") and not name.startswith("__")):
                    assert (base, name) in registered or any(
                        issubclass(base, owner) and member == name for owner, member in registered), (
                        f"{cls.__name__}.{name} overrides {base.__name__}.{name} without a registered seam")


def test_no_private_sdk_member_is_touched_outside_the_fence():
    """Outside sdk_overrides.py the tap uses only the SDK's public names."""
    import ast
    from pathlib import Path

    package = Path(TapDataOps.__module__.replace(".", "/")).parent
    root = Path(__file__).resolve().parents[2] / package
    offenders = []
    for path in root.glob("*.py"):
        if path.name == "sdk_overrides.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("singer_sdk"):
                private = [part for part in node.module.split(".") if part.startswith("_")]
                private += [alias.name for alias in node.names if alias.name.startswith("_")]
                if private:
                    offenders.append(f"{path.name}:{node.lineno} imports {node.module} {private}")
            private_self = (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                            and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                            and node.value.id == "self")
            if private_self:
                defined = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                           and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name)
                           and n.value.id == "self"}
                defs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
                if node.attr not in defined and node.attr not in defs:
                    offenders.append(f"{path.name}:{node.lineno} uses self.{node.attr}")
    assert not offenders, offenders
