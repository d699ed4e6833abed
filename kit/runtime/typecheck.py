"""Each record's fields checked against a schema contract (:class:`TypeCheck`).

The type of a known field is the contract (a number stays a number when
later records send text: those values are conflicts); a new field's type is
the class most of its values have; integers arriving where floats were (or
the reverse) are numbers alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["TypeCheck", "dtype_class", "value_class"]


# --- type classes -----------------------------------------------------------------
# A JSON value's class: what a field's first value makes it.
_NUMBER, _BOOL, _TEXT, _OBJECT, _LIST = "number", "boolean", "text", "object", "list"


#: A parsed JSON value's Python type -> its class (``bool`` before ``int``:
#: a dict lookup by exact type, so True is not taken for a number).
_CLASSES: dict[type, str] = {
    bool: _BOOL,
    int: _NUMBER,
    float: _NUMBER,
    str: _TEXT,
    dict: _OBJECT,
    list: _LIST,
}


def value_class(value: Any) -> str | None:
    """The class of a decoded JSON value (``None`` for null).

    >>> [value_class(v) for v in (1, 2.5, True, "x", {}, [], None)]
    ['number', 'number', 'boolean', 'text', 'object', 'list', None]
    """
    if value is None:
        return None
    return _CLASSES.get(type(value), _TEXT)


def dtype_class(dtype: Any) -> str | None:
    """The class of values a Polars type holds (``None``: Null, anything).

    >>> import polars as pl
    >>> [dtype_class(t) for t in (pl.Int64, pl.Float64, pl.Boolean, pl.String, pl.Null)]
    ['number', 'number', 'boolean', 'text', None]
    """
    import polars as pl

    if dtype == pl.Null:
        return None
    if dtype.is_numeric():
        return _NUMBER
    if dtype == pl.Boolean:
        return _BOOL
    if isinstance(dtype, pl.Struct):
        return _OBJECT
    if isinstance(dtype, pl.List | pl.Array):
        return _LIST
    return _TEXT


class TypeCheck:
    """Checks decoded records against a schema, field by field (nested objects
    included; list elements are not looked into).

    Fields the schema does not have (or has as Null) take the class most of
    their values in the batch have (:meth:`learn`; ties: the first value's),
    so the type does not depend on which record happens to come first (a
    sample sorted by time, or by partition, gives the same schema);
    ``conflict`` returns the first field whose value is of another class, as
    a reason, or ``None``. A number or boolean where text was is kept as its
    text (nothing is lost; Polars does the same); text where numbers or
    booleans were is a conflict. Integer fields that get a fraction are listed
    in ``widen`` (they become Float64).

    >>> import polars as pl
    >>> check = TypeCheck({"speed": pl.Float64, "tyre": pl.Struct({"age": pl.Int64})})
    >>> check.conflict({"speed": 201, "tyre": {"age": 3}, "drs": True})
    >>> check.conflict({"speed": "fast"})
    "field 'speed': expected Float64 (a number), got 'fast'"
    >>> check.conflict({"drs": "on"})
    "field 'drs': expected a boolean (most of its values), got 'on'"
    >>> check.conflict({"tyre": {"age": "old"}})
    "field 'tyre.age': expected Int64 (a number), got 'old'"
    >>> check.new
    {('drs',): 'boolean'}
    >>> TypeCheck({"n": pl.Int64, "id": pl.String}).conflict({"n": 2.5, "id": 7})
    >>> most = TypeCheck({})
    >>> most.learn([{"t": "22.5"}, {"t": 21.0}, {"t": 23}])
    >>> most.conflict({"t": "22.5"})
    "field 't': expected a number (most of its values), got '22.5'"
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.new: dict[tuple[str, ...], str] = {}  # path -> the class it takes
        self.widen: set[tuple[str, ...]] = set()  # integer fields that got a fraction
        self._plan = _plan(schema)

    def learn(self, records: list[dict[str, Any]]) -> None:
        """Give each field the schema lacks the class most of its values in
        ``records`` have (text counts as text: that is what is in doubt)."""
        votes: dict[tuple[str, ...], dict[str, int]] = {}
        for record in records:
            _count(record, self._plan, (), votes)
        for path, counter in votes.items():
            # Dicts keep first-seen order: max takes the first of equal counts.
            self.new[path] = max(counter, key=counter.__getitem__)

    def conflict(self, record: Mapping[str, Any]) -> str | None:
        return self._walk(record, self._plan, ())

    def _walk(
        self,
        record: Mapping[str, Any],
        plan: dict[str, Any] | None,
        prefix: tuple[str, ...],
    ) -> str | None:
        classes = _CLASSES
        for key, value in record.items():
            if value is None:
                continue
            kind = classes.get(type(value), _TEXT)
            known = plan.get(key) if plan is not None else None
            if known is None:  # a field the schema lacks (or has as Null)
                path = (*prefix, key)
                first = self.new.setdefault(path, kind)
                if first != kind and not _fits(kind, first):
                    return (
                        f"field {'.'.join(path)!r}: expected {_article(first)} (most "
                        f"of its values), got {_preview(value)}"
                    )
                if kind == _OBJECT:
                    reason = self._walk(value, None, path)
                    if reason:
                        return reason
                continue
            dtype, expected, inner, integer = known
            if kind != expected and not (expected == _TEXT and kind in _AS_TEXT):
                return (
                    f"field {'.'.join((*prefix, key))!r}: expected {dtype} "
                    f"({_article(expected)}), got {_preview(value)}"
                )
            if integer and type(value) is float:
                self.widen.add((*prefix, key))
            elif kind == _OBJECT:
                reason = self._walk(value, inner, (*prefix, key))
                if reason:
                    return reason
        return None


#: Classes a text field takes as their text.
_AS_TEXT = frozenset({_NUMBER, _BOOL})


def _plan(schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Per field: (dtype, class, the plan of its fields, integer?); fields
    typed Null (nothing seen yet) are left out: they take any class."""
    import polars as pl

    if schema is None:
        return None
    plan = {}
    for name, dtype in schema.items():
        kind = dtype_class(dtype)
        if kind is None:
            continue
        inner = (
            _plan({f.name: f.dtype for f in dtype.fields})
            if isinstance(dtype, pl.Struct)
            else {}
        )
        plan[name] = (dtype, kind, inner, dtype.is_integer())
    return plan


def _count(
    record: Mapping[str, Any],
    plan: dict[str, Any] | None,
    prefix: tuple[str, ...],
    votes: dict[tuple[str, ...], dict[str, int]],
) -> None:
    """Votes of ``record``'s values for the classes of the fields ``plan`` lacks."""
    classes = _CLASSES
    for key, value in record.items():
        if value is None:
            continue
        kind = classes.get(type(value), _TEXT)
        known = plan.get(key) if plan is not None else None
        if known is None:
            counter = votes.setdefault((*prefix, key), {})
            counter[kind] = counter.get(kind, 0) + 1
            if kind == _OBJECT:
                _count(value, None, (*prefix, key), votes)
        elif kind == _OBJECT and known[1] == _OBJECT:
            _count(value, known[2], (*prefix, key), votes)


def _fits(kind: str, expected: str) -> bool:
    """Whether a value of class ``kind`` is taken where ``expected`` is."""
    return expected == _TEXT and kind in (_NUMBER, _BOOL)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _preview(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
