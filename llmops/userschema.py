"""A PM's `json_schema` expectation, held to what a run can afford.

- Depth: a schema nested deeper than `max_json_depth` (300 nested `not`s is 2.8 KB) would
  exhaust the validator's stack; it is refused when the cases load, and an answer nested deeper
  fails its check instead of crashing the run.
- References: only local ones (`#`, `#/$defs/x`). A `$ref` to `http://...` or `file:///...`
  would make the runner fetch it and copy what it got into every report; such a schema is
  refused when the cases load, and the validator is built with a registry that retrieves
  nothing, so no URL is ever opened whatever slips through.
- Patterns: `pattern` and `patternProperties` run on RE2 (`llmops.regexes`), in linear time.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from llmops import regexes
from llmops.limits import Limits, too_deep

#: Keywords whose value is a URI reference that a validator may resolve.
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


def problems(schema: Any, *, max_depth: int = Limits.max_json_depth) -> Iterator[str]:
    """Why `schema` cannot be used as a json_schema expectation (nothing when it can).
    Checks depth first, so the walks below never meet a schema deeper than `max_depth`."""
    if too_deep(schema, max_depth):
        yield (
            f"json_schema nests deeper than {max_depth} levels "
            "(raise [tool.llmops.limits] max_json_depth if it must)"
        )
        return
    uses_unevaluated = uses_patterns = False
    for node in _schema_objects(schema):
        for key in _REF_KEYS:
            ref = node.get(key)
            if isinstance(ref, str) and not ref.startswith("#"):
                yield (
                    f"{key} {ref!r}: only local references (#/...) are allowed; "
                    "nothing is fetched"
                )
        base = node.get("$id")
        if isinstance(base, str) and not base.startswith("#"):
            yield f"$id {base!r}: a schema may not name a base URI (only local references)"
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            why = regexes.problem(pattern)
            if why:
                yield f"pattern {pattern!r}: {why}"
        props = node.get("patternProperties")
        if isinstance(props, dict):
            uses_patterns = True
            for key in props:
                why = regexes.problem(str(key))
                if why:
                    yield f"patternProperties {key!r}: {why}"
        uses_unevaluated = uses_unevaluated or "unevaluatedProperties" in node
    if uses_patterns and uses_unevaluated:
        yield "unevaluatedProperties together with patternProperties is not supported"


def patterns(schema: Any) -> Iterator[str]:
    """Every regular expression in `schema` (`pattern` values, `patternProperties` keys)."""
    for node in _schema_objects(schema):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        if isinstance(node.get("patternProperties"), dict):
            yield from map(str, node["patternProperties"])


def _schema_objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object in the schema, without recursion."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _refuse(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)


# -- the validator: Draft 2020-12 with its regular-expression keywords on RE2


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not regexes.search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, pp: dict[str, Any], instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pp.items():
        for k, v in instance.items():
            if regexes.search(pattern, k):
                yield from validator.descend(v, subschema, path=k, schema_path=pattern)


def _additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    pats = list(schema.get("patternProperties", {}))
    extras = [
        k for k in instance
        if k not in properties and not any(regexes.search(p, k) for p in pats)
    ]
    if validator.is_type(ap, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], ap, path=extra)
    elif not ap and extras:
        listed = ", ".join(repr(e) for e in sorted(extras))
        yield ValidationError(f"Additional properties are not allowed ({listed} unexpected)")


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )


def validator(schema: dict[str, Any]) -> Any:
    """A validator for `schema` that runs patterns on RE2 and resolves no remote reference."""
    from referencing import Registry

    return _validator_class()(schema, registry=Registry(retrieve=_refuse))  # type: ignore[call-arg]
