"""The matrix: one job written once, run as many members, one per combination of values.

It follows GitHub Actions' ``strategy.matrix``: every combination of the lists (in the
order the keys are written), minus the ``exclude`` entries, plus the ``include``
entries. Each combination is a member, an ordinary ``Job`` named
``train[data=sea,lr=0.1]``. Expansion happens as the project file is read, before any
blueprint exists, so the manager, workers, ledger and engines see only jobs.

``include`` and ``exclude`` compare values as GitHub's expressions do: strings without
regard to case, and values of two types (a string and a number) as numbers, so ``"3.8"``
equals ``3.8``. An ``exclude`` entry that removes nothing is refused, as actionlint
refuses it: it is a typo or a stale line. Keys may hold letters, digits, ``_`` and ``-``
(``node-version``), as GitHub's do.

Dependencies between members: ``needs = ["prep"]`` waits for the members of ``prep``
that agree with this member on the keys both matrices have (all of them when none is
shared); ``needs = ["prep[data=sea]"]`` picks members by value.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence

from pyoneer.blueprints.checks import did_you_mean, toml_key, type_name
from pyoneer.blueprints.member_names import parse_reference, selector_keys, selects
from pyoneer.blueprints.placeholders import Value, check_matrix_value, render
from pyoneer.errors import ProjectError

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")

Values = dict[str, Value]


def expand(table: object, key: str = "matrix") -> list[Values]:
    """The members of a ``matrix`` table: each one's values, keys in the order written."""
    if not isinstance(table, Mapping):
        raise ProjectError(f"must be a table of lists, got {type_name(table)}", key=key)
    lists: dict[str, list[Value]] = {}
    for name, values in table.items():
        if name in ("include", "exclude"):
            continue
        where = f"{key}.{toml_key(name)}"
        check_key(name, where)
        if isinstance(values, list) and not values:
            raise ProjectError("an empty list makes no members", key=where,
                               hint=f"give it a value or more, e.g. {name} = [1, 2, 3], or remove the key")
        if not isinstance(values, list):
            raise ProjectError(
                f"must be a non-empty list of values, got {type_name(values)}", key=where,
                hint=f"e.g. {name} = [1, 2, 3]",
            )
        lists[name] = [check_matrix_value(value, f"{where}[{index}]") for index, value in enumerate(values)]
    combinations = [dict(zip(lists, chosen)) for chosen in itertools.product(*lists.values())] if lists else []
    excludes = _entries(table.get("exclude", []), f"{key}.exclude", known=lists)
    for index, entry in enumerate(excludes):
        if not any(_agrees(combination, entry) for combination in combinations):
            raise ProjectError(
                f"exclude entry {_written(entry)} removes no combination", key=f"{key}.exclude[{index}]",
                hint="a typo, or a line left from an older matrix: fix it or remove it "
                     "(values compare as GitHub's do: strings regardless of case, \"3.8\" equals 3.8)",
            )
    combinations = [c for c in combinations if not any(_agrees(c, entry) for entry in excludes)]
    includes = _entries(table.get("include", []), f"{key}.include", known=None)
    combinations = _include(combinations, includes, original=set(lists))
    if not combinations:
        raise ProjectError("has no members left", key=key, hint="check its exclude entries")
    return combinations


def check_key(name: object, key: str) -> str:
    """A matrix key (or parameter name) must be a name a placeholder can hold."""
    if not isinstance(name, str) or not _KEY.match(name):
        raise ProjectError(
            f"{name!r} cannot be a placeholder's name", key=key,
            hint="use letters, digits, '_' and '-', starting with a letter or '_'",
        )
    return name


def _entries(value: object, key: str, known: Mapping[str, object] | None) -> list[Values]:
    if not isinstance(value, list):
        raise ProjectError(f"must be a list of tables, got {type_name(value)}", key=key)
    entries = []
    for index, entry in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(entry, Mapping) or not entry:
            raise ProjectError(f"must be a table of values, got {type_name(entry)}", key=where)
        checked: Values = {}
        for name, item in entry.items():
            at = f"{where}.{toml_key(name)}"
            check_key(name, at)
            if known is not None and name not in known:
                raise ProjectError(
                    f"{name!r} is not a key of the matrix", key=at,
                    hint=did_you_mean(name, known) or f"its keys: {', '.join(known)}",
                )
            checked[name] = check_matrix_value(item, at)
        entries.append(checked)
    return entries


def _agrees(values: Mapping[str, Value], entry: Mapping[str, Value]) -> bool:
    return all(name in values and _same(values[name], wanted) for name, wanted in entry.items())


def _same(a: Value, b: Value) -> bool:
    """Equal as GitHub's expressions compare: strings regardless of case; a boolean, number
    or string against a value of another of those types, as numbers. An entry's table
    matches partly, as GitHub's filters do: each of its fields, the value's alike."""
    if isinstance(b, Mapping):
        return isinstance(a, Mapping) and all(name in a and _same(a[name], item) for name, item in b.items())
    if isinstance(a, (Mapping, tuple)) or isinstance(b, tuple):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b):
        return a == b
    left, right = _number(a), _number(b)
    return left is not None and left == right  # NaN (None here) equals nothing


def _number(value: Value) -> float | None:
    """``value`` as GitHub's expressions make it a number (None: not a number)."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return None
    return None


def _written(entry: Mapping[str, Value]) -> str:
    return "{ " + ", ".join(f"{toml_key(name)} = {_toml(value)}" for name, value in entry.items()) + " }"


def _toml(value: Value) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{toml_key(name)} = {_toml(item)}" for name, item in value.items()) + " }"
    return f'"{value}"' if isinstance(value, str) else render(value)


def _include(combinations: list[Values], entries: list[Values], original: set[str]) -> list[Values]:
    """GitHub Actions' rule: each entry extends every combination of the lists that it does
    not contradict on the lists' own keys (a later entry may overwrite what an earlier one
    added); an entry that extends none is a combination of its own."""
    extended = [dict(combination) for combination in combinations]
    added = []
    for entry in entries:
        matched = False
        for combination in extended:
            if not any(name in original and not _same(combination[name], value) for name, value in entry.items()):
                # the lists' own values stay as written ("3.8" matched by 3.8 stays "3.8")
                combination.update((name, value) for name, value in entry.items() if name not in original)
                matched = True
        if not matched:
            added.append(dict(entry))
    return extended + added


class MemberIndex:
    """The members of every job of a project, to find which of them a member needs.

    ``groups`` maps each job as written to its members (name, values); a job without a
    matrix is one member with no values. Matching on shared keys goes through an index
    made once per reference, so a matrix of a thousand members needing another costs
    a thousand lookups, not a million comparisons.
    """

    def __init__(self, groups: Mapping[str, Sequence[tuple[str, Values]]]) -> None:
        self._groups = groups
        self._keys = {group: _keys_of(values for _, values in members) for group, members in groups.items()}
        self._chosen: dict[str, list[tuple[str, Values]]] = {}
        self._indexes: dict[tuple[str, tuple[str, ...]], dict[tuple[str, ...], list[str]] | None] = {}

    def upstream(self, reference: str, member: Mapping[str, Value], key: str) -> list[str]:
        """The members of the job that ``reference`` names that a member with values ``member`` needs."""
        try:
            group, selector = parse_reference(reference)
        except ProjectError as exc:
            raise ProjectError(exc.message, key=key, hint=exc.hint) from None
        chosen = self._selected(reference, group, selector, key)
        keys = self._keys[group]
        shared = tuple(name for name in member if name in keys and name not in selector_keys(selector))
        if not shared:
            return [name for name, _ in chosen]
        index = self._index(reference, shared, chosen)
        wanted = tuple(render(member[name]) for name in shared)
        if index is not None:
            matching = index.get(wanted, [])
        else:  # some upstream member lacks a shared key (an include entry): it matches any value
            matching = [
                name for name, values in chosen
                if all(k not in values or render(values[k]) == w for k, w in zip(shared, wanted))
            ]
        if not matching:
            agree = ", ".join(f"{name}={value}" for name, value in zip(shared, wanted))
            raise ProjectError(f"no member of {group!r} has {agree}", key=key,
                               hint=f"a member needs the members of {group!r} that agree with it on {', '.join(shared)}")
        return matching

    def _selected(self, reference: str, group: str, selector: Mapping[str, str], key: str) -> list[tuple[str, Values]]:
        if reference in self._chosen:
            return self._chosen[reference]
        if group not in self._groups:
            raise ProjectError(
                f"unknown job {group!r}", key=key,
                hint=did_you_mean(group, self._groups) or f"known jobs: {', '.join(self._groups)}",
            )
        keys = self._keys[group]
        for name in selector_keys(selector):
            if name not in keys:
                raise ProjectError(
                    f"{group!r} has no matrix key {name!r}", key=key,
                    hint=did_you_mean(name, keys) or (f"its keys: {', '.join(keys)}" if keys else f"{group!r} has no matrix"),
                )
        chosen = [(name, values) for name, values in self._groups[group] if selects(values, selector)]
        if not chosen:
            raise ProjectError(f"no member of {group!r} matches {reference!r}", key=key)
        self._chosen[reference] = chosen
        return chosen

    def _index(
        self, reference: str, shared: tuple[str, ...], chosen: list[tuple[str, Values]]
    ) -> dict[tuple[str, ...], list[str]] | None:
        cached = (reference, shared)
        if cached not in self._indexes:
            index: dict[tuple[str, ...], list[str]] | None = {}
            for name, values in chosen:
                if not all(k in values for k in shared):
                    index = None
                    break
                index.setdefault(tuple(render(values[k]) for k in shared), []).append(name)
            self._indexes[cached] = index
        return self._indexes[cached]


def _keys_of(all_values: Iterable[Mapping[str, Value]]) -> list[str]:
    keys: dict[str, None] = {}
    for values in all_values:
        keys.update(dict.fromkeys(values))
    return list(keys)
