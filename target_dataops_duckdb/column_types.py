"""JSON Schema → DuckDB column types, type widening, and table-name rules.

Mapping (documented in the README):

=======================================  ==================================
JSON Schema                              DuckDB
=======================================  ==================================
``integer``                              ``BIGINT``
``number`` (or ``integer`` + ``number``) ``DOUBLE``
``boolean``                              ``BOOLEAN``
``string`` + ``format: date-time``       ``TIMESTAMPTZ`` (offsets honoured)
``string`` + ``format: date``            ``DATE``
``string`` (any other format)            ``VARCHAR``
``object`` with ``properties``           ``STRUCT(...)`` (query ``col.field``)
``array`` with typed ``items``           ``T[]`` (a DuckDB LIST)
``object`` without properties, mixed     ``JSON``
object/array unions, no usable type
=======================================  ==================================

``null`` in a type list or ``anyOf`` only makes the column nullable (every column is).
Several non-null types widen to one: integer+number → DOUBLE, two objects → one
STRUCT with the union of their fields, string with anything → VARCHAR, mixed
scalars → VARCHAR, an object or array mixed with a non-string → JSON.

The same widening applies when a stream's schema changes: the column's new type is
``widen(current, declared)``, so a column is never narrowed and every stored value
survives (see :func:`widen` and :func:`alter_using`).
"""

from __future__ import annotations

import re
import types as types_
import typing as t
from dataclasses import dataclass

import msgspec

__all__ = [
    "BIGINT",
    "JSON",
    "TIMESTAMPTZ",
    "DType",
    "alter_using",
    "column_types",
    "from_duckdb",
    "quote_ident",
    "schema_to_dtype",
    "sql_string",
    "table_name_for_stream",
    "validation_type",
    "widen",
]

# ---------------------------------------------------------------------------
# SQL quoting


def quote_ident(name: str) -> str:
    """Quote any string as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    """Quote a string as a SQL literal."""
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------------------
# Table names

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NOT_WORD = re.compile(r"[^a-z0-9_]+")


def table_name_for_stream(stream: str) -> str:
    """The table a stream lands in.

    - A stream name that is already a plain identifier (``[A-Za-z_][A-Za-z0-9_]*``)
      is the table name, unchanged (``projects`` → ``projects``, ``TestCamelcase`` →
      ``TestCamelcase``; DuckDB resolves names case-insensitively).
    - Any other name is lower-cased, every run of characters outside ``[a-z0-9_]``
      becomes one ``_``, leading/trailing ``_`` are stripped, and a leading digit (or
      an empty result) gets a ``_`` prefix: ``public-users`` → ``public_users``,
      ``test:SpecialChars!in?attributes`` → ``test_specialchars_in_attributes``,
      ``2024.sales`` → ``_2024_sales``.

    The rule depends on the name alone, so it is stable across runs. Each table
    records its stream name in its comment; two different streams that map to the
    same table are refused with an error instead of being mixed.
    """
    if _IDENTIFIER.match(stream):
        return stream
    name = _NOT_WORD.sub("_", stream.lower()).strip("_")
    if not name or name[0].isdigit():
        name = "_" + name
    return name


# ---------------------------------------------------------------------------
# Column types


@dataclass(frozen=True)
class DType:
    """A DuckDB column type: a scalar name, a STRUCT (fields) or a LIST (item)."""

    kind: str
    fields: tuple[tuple[str, DType], ...] = ()
    item: DType | None = None

    def sql(self) -> str:
        """The type as DuckDB SQL."""
        if self.kind == "STRUCT":
            inner = ", ".join(f"{quote_ident(n)} {ty.sql()}" for n, ty in self.fields)
            return f"STRUCT({inner})"
        if self.kind == "LIST":
            assert self.item is not None
            return f"{self.item.sql()}[]"
        return self.kind

    @property
    def nested(self) -> bool:
        return self.kind in {"STRUCT", "LIST"}

    def __str__(self) -> str:
        return self.sql()


BIGINT = DType("BIGINT")
DOUBLE = DType("DOUBLE")
BOOLEAN = DType("BOOLEAN")
VARCHAR = DType("VARCHAR")
TIMESTAMPTZ = DType("TIMESTAMPTZ")
DATE = DType("DATE")
JSON = DType("JSON")

_SCALAR_BY_JSON_TYPE = {"integer": BIGINT, "number": DOUBLE, "boolean": BOOLEAN}
_DUCKDB_SCALARS = {
    "BIGINT": BIGINT,
    "DOUBLE": DOUBLE,
    "BOOLEAN": BOOLEAN,
    "VARCHAR": VARCHAR,
    "TIMESTAMP WITH TIME ZONE": TIMESTAMPTZ,
    "TIMESTAMPTZ": TIMESTAMPTZ,
    "DATE": DATE,
    "JSON": JSON,
}


def _non_null_types(schema: dict) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        declared = [declared]
    if not isinstance(declared, list):
        declared = []
    return [x for x in declared if x != "null"]


def schema_to_dtype(schema: t.Any) -> DType:
    """The column type for one property's JSON Schema (see the module docstring)."""
    if not isinstance(schema, dict):
        return JSON
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list) and alternatives:
        merged: DType | None = None
        for alternative in alternatives:
            if isinstance(alternative, dict) and _non_null_types(alternative) == [] and (
                alternative.get("type") in ("null", ["null"])
            ):
                continue
            this = schema_to_dtype(alternative)
            merged = this if merged is None else widen(merged, this)
        return merged or JSON
    types = _non_null_types(schema)
    if not types:
        if isinstance(schema.get("properties"), dict) and "type" not in schema:
            types = ["object"]
        elif "items" in schema and "type" not in schema:
            types = ["array"]
        else:
            return JSON  # no usable type: keep the value as JSON rather than drop it
    result: DType | None = None
    for json_type in types:
        this = _single_type(json_type, schema)
        result = this if result is None else widen(result, this)
    assert result is not None
    return result


def _single_type(json_type: str, schema: dict) -> DType:
    if json_type in _SCALAR_BY_JSON_TYPE:
        return _SCALAR_BY_JSON_TYPE[json_type]
    if json_type == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return TIMESTAMPTZ
        if fmt == "date":
            return DATE
        return VARCHAR
    if json_type == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties and not schema.get("patternProperties"):
            return DType(
                "STRUCT",
                fields=tuple((name, schema_to_dtype(sub)) for name, sub in properties.items()),
            )
        return JSON
    if json_type == "array":
        items = schema.get("items")
        if isinstance(items, dict) and items:
            return DType("LIST", item=schema_to_dtype(items))
        return JSON
    return JSON


def column_types(schema: dict) -> dict[str, DType]:
    """Column name → type for a stream's (top-level object) schema."""
    properties = schema.get("properties") or {}
    return {name: schema_to_dtype(sub) for name, sub in properties.items()}


def from_duckdb(duck_type: t.Any) -> DType:
    """A DType from a ``duckdb.DuckDBPyType`` (an existing column's type)."""
    if duck_type.id == "struct":
        return DType("STRUCT", fields=tuple((n, from_duckdb(c)) for n, c in duck_type.children))
    if duck_type.id == "list":
        return DType("LIST", item=from_duckdb(duck_type.children[0][1]))
    text = str(duck_type)
    return _DUCKDB_SCALARS.get(text, DType(text))


def widen(current: DType, new: DType) -> DType:
    """The narrowest type that holds every value of both ``current`` and ``new``.

    Equal types stay; VARCHAR absorbs anything (objects and arrays become their JSON
    text); JSON absorbs anything else; BIGINT+DOUBLE → DOUBLE; DATE+TIMESTAMPTZ
    → TIMESTAMPTZ; STRUCT+STRUCT → STRUCT with the union of fields (current order,
    new fields appended), field types widened; LIST+LIST → LIST of the widened item;
    a nested type with anything else → JSON; two different scalars → VARCHAR.
    """
    if current == new:
        return current
    if VARCHAR in (current, new):
        return VARCHAR  # anything widens to string (objects/arrays as their JSON text)
    if JSON in (current, new):
        return JSON
    pair = {current.kind, new.kind}
    if pair == {"BIGINT", "DOUBLE"}:
        return DOUBLE
    if pair == {"DATE", "TIMESTAMPTZ"}:
        return TIMESTAMPTZ
    if current.kind == new.kind == "STRUCT":
        fields = dict(current.fields)
        for name, ty in new.fields:
            existing = _find_field(fields, name)
            if existing is None:
                fields[name] = ty
            else:
                fields[existing] = widen(fields[existing], ty)
        return DType("STRUCT", fields=tuple(fields.items()))
    if current.kind == new.kind == "LIST":
        assert current.item is not None and new.item is not None
        return DType("LIST", item=widen(current.item, new.item))
    if current.nested or new.nested:
        return JSON
    return VARCHAR


def _find_field(fields: dict[str, DType], name: str) -> str | None:
    """DuckDB struct field names are case-insensitive: find an existing spelling."""
    if name in fields:
        return name
    lowered = name.lower()
    for existing in fields:
        if existing.lower() == lowered:
            return existing
    return None


def alter_using(column_sql: str, old: DType, new: DType) -> str:
    """The ``USING`` expression that converts a column from ``old`` to ``new``.

    STRUCT/LIST/JSON values become their JSON text when the column turns into VARCHAR
    or JSON, so `{"a": 1}` stays readable JSON rather than DuckDB's literal syntax;
    everything else is a plain cast (struct casts match fields by name).
    """
    if new == JSON:
        return f"to_json({column_sql})"
    if new == VARCHAR and (old.nested or old == JSON):
        return f"CAST(to_json({column_sql}) AS VARCHAR)"
    return f"CAST({column_sql} AS {new.sql()})"


# ---------------------------------------------------------------------------
# Fast record validation (msgspec types from JSON Schema)

_UNSET = None


def validation_type(schema: t.Any, name: str = "Record") -> t.Any:
    """A msgspec type that accepts exactly the JSON types ``schema`` declares.

    Checks JSON types only (integer, number, string, boolean, object, array and their
    nesting); ``null`` is always accepted (every column is nullable), unknown
    properties are ignored (they are not loaded), and keywords such as ``required``,
    ``enum``, ``pattern`` or string formats are left to the database (formats) or not
    enforced. Decoding a record with this type costs about 1 µs, against about
    1 ms for a full JSON-Schema validation.
    """
    counter = [0]
    return _vtype(schema, name, counter) | None


def _vtype(schema: t.Any, name: str, counter: list[int]) -> t.Any:
    if not isinstance(schema, dict):
        return t.Any
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(alternatives, list) and alternatives:
        return _union([_vtype(a, name, counter) for a in alternatives])
    types = _non_null_types(schema)
    declared = schema.get("type")
    if not types:
        if declared in ("null", ["null"]):
            return type(None)
        if isinstance(schema.get("properties"), dict) and "type" not in schema:
            types = ["object"]
        else:
            return t.Any
    members: list[t.Any] = []
    for json_type in types:
        if json_type == "integer":
            members.append(int)
        elif json_type == "number":
            members.extend([int, float])
        elif json_type == "boolean":
            members.append(bool)
        elif json_type == "string":
            members.append(str)
        elif json_type == "object":
            properties = schema.get("properties")
            if isinstance(properties, dict) and properties:
                counter[0] += 1
                fields = []
                rename = {}
                for index, (prop, sub) in enumerate(properties.items()):
                    field = f"f{index}"
                    rename[field] = prop
                    fields.append((field, _vtype(sub, name, counter) | None, _UNSET))
                members.append(
                    msgspec.defstruct(
                        f"{name}{counter[0]}", fields, rename=rename, gc=False
                    )
                )
            else:
                members.append(dict)
        elif json_type == "array":
            items = schema.get("items")
            if isinstance(items, dict):
                members.append(types_.GenericAlias(list, (_vtype(items, name, counter),)))  # list[item type]
            else:
                members.append(list)
        else:
            return t.Any
    return _union(members)


def _union(members: list[t.Any]) -> t.Any:
    """A msgspec-compatible union: at most one object-like and one array-like type."""
    if any(m is t.Any for m in members):
        return t.Any
    flat: list[t.Any] = []
    for member in members:
        for part in t.get_args(member) if t.get_origin(member) is t.Union else (member,):
            if part not in flat:
                flat.append(part)
    objects = [m for m in flat if m is dict or (isinstance(m, type) and issubclass(m, msgspec.Struct))]
    arrays = [m for m in flat if m is list or t.get_origin(m) is list]
    if len(objects) > 1:
        flat = [m for m in flat if m not in objects] + [dict]
    if len(arrays) > 1:
        flat = [m for m in flat if m not in arrays] + [list]
    if len(flat) == 1:
        return flat[0]
    return t.Union[tuple(flat)]  # noqa: UP007
