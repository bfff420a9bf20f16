"""Shopify's own Admin GraphQL schema for the fake: validation, deprecations, input limits, cost.

The schema is Shopify's published Admin SDL (``admin_schema_2025-09-17_unstable.graphql.gz``, the
public "unstable" channel of 2025-09-17, about API version 2025-10; see ``SCHEMA.md`` next to it)
with the small overlay in :mod:`tests.fakes.shopify.overlay` for what changed up to the pinned
version. Everything here follows Shopify's documentation:

- input limits (https://shopify.dev/docs/api/usage/limits#input-limits): "Input arguments that
  accept an array have a maximum size of 250 ... Requests return an error if an input array
  exceeds 250 items";
- requested cost (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits#cost-calculation):
  scalars and enums 0, objects 1, interfaces and unions the maximum of their possible selections,
  connections sized by their ``first``/``last`` argument (2 points for the connection plus the
  cost of each requested node), mutations 10; a single query may request at most 1,000 points.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    validate,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values

from tests.fakes.shopify import overlay

HERE = Path(__file__).resolve().parent
SDL_NAME = "admin_schema_2025-09-17_unstable.graphql.gz"
MAX_INPUT_LIST = 250
MAX_QUERY_COST = 1000
MUTATION_COST = 10
CONNECTION_COST = 2


def sdl_path() -> Path:
    """Where the SDL is: ``STAMMKUNDE_SHOPIFY_SCHEMA``, the copy next to this file, or ../shared."""
    env = os.environ.get("STAMMKUNDE_SHOPIFY_SCHEMA")
    candidates = [Path(env)] if env else []
    candidates.append(HERE / SDL_NAME)
    candidates += [p / "shared" / "reference" / "shopify" / SDL_NAME for p in HERE.parents]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"Shopify's Admin schema {SDL_NAME} not found (looked in "
                            f"{', '.join(str(c) for c in candidates[:3])}, ...)")


@functools.cache
def admin_schema() -> GraphQLSchema:
    """Shopify's Admin schema at the pinned version (built once per process, ~5 s)."""
    with gzip.open(sdl_path(), "rt", encoding="utf-8") as fh:
        schema = build_schema(fh.read(), assume_valid=True)
    overlay.apply(schema)
    return schema


class ShopifyGraphQLError(Exception):
    """A request Shopify would refuse: ``errors`` holds the answer's error objects."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"message": message, **({"extensions": {"code": code}} if code else {})}


# --- deprecations ----------------------------------------------------------------------------

class _Deprecations(Visitor):
    def __init__(self, info: TypeInfo, found: list[str]) -> None:
        super().__init__()
        self.info, self.found = info, found

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        field, parent = self.info.get_field_def(), self.info.get_parent_type()
        if field is not None and field.deprecation_reason:
            self.found.append(f"{parent}.{node.name.value} is deprecated: "
                              f"{field.deprecation_reason}")

    def enter_argument(self, node: Any, *_: Any) -> None:
        arg = self.info.get_argument()
        if arg is not None and arg.deprecation_reason:
            self.found.append(f"argument {node.name.value} is deprecated: {arg.deprecation_reason}")

    def enter_object_field(self, node: Any, *_: Any) -> None:
        parent = get_named_type(self.info.get_parent_input_type())
        if isinstance(parent, GraphQLInputObjectType):
            field = parent.fields.get(node.name.value)
            if field is not None and field.deprecation_reason:
                self.found.append(f"{parent.name}.{node.name.value} is deprecated: "
                                  f"{field.deprecation_reason}")

    def enter_enum_value(self, node: Any, *_: Any) -> None:
        enum = self.info.get_enum_value()
        if enum is not None and enum.deprecation_reason:
            self.found.append(f"enum value {node.value} is deprecated: {enum.deprecation_reason}")


def _value_deprecations(type_: Any, value: Any, path: str) -> Iterator[str]:
    """Deprecated input fields and enum values inside a variable's value."""
    if value is None:
        return
    if isinstance(type_, GraphQLNonNull):
        yield from _value_deprecations(type_.of_type, value, path)
    elif isinstance(type_, GraphQLList):
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            yield from _value_deprecations(type_.of_type, item, f"{path}[{i}]")
    elif isinstance(type_, GraphQLInputObjectType) and isinstance(value, Mapping):
        for key, item in value.items():
            field = type_.fields.get(key)
            if field is None:
                continue
            if field.deprecation_reason:
                yield f"{type_.name}.{key} (in {path}) is deprecated: {field.deprecation_reason}"
            yield from _value_deprecations(field.type, item, f"{path}.{key}")
    elif hasattr(type_, "values") and isinstance(value, str):
        enum_value = type_.values.get(value)
        if enum_value is not None and enum_value.deprecation_reason:
            yield f"enum value {value} (in {path}) is deprecated: {enum_value.deprecation_reason}"


def deprecations(document: str | DocumentNode, variables: Mapping[str, Any] | None = None,
                 schema: GraphQLSchema | None = None) -> list[str]:
    """Every deprecated field, argument, input field or enum value the request uses."""
    schema = schema or admin_schema()
    doc = parse(document) if isinstance(document, str) else document
    info, found = TypeInfo(schema), []
    visit(doc, TypeInfoVisitor(info, _Deprecations(info, found)))
    if variables:
        from graphql import type_from_ast
        for op in doc.definitions:
            if isinstance(op, OperationDefinitionNode):
                for var in op.variable_definitions or ():
                    type_ = type_from_ast(schema, var.type)
                    name = var.variable.name.value
                    if type_ is not None and name in variables:
                        found.extend(_value_deprecations(type_, variables[name], f"${name}"))
    return found


# --- input lists -----------------------------------------------------------------------------

def _long_lists(value: Any, path: str) -> Iterator[tuple[str, int]]:
    if isinstance(value, list):
        if len(value) > MAX_INPUT_LIST:
            yield path, len(value)
        for i, item in enumerate(value):
            yield from _long_lists(item, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _long_lists(item, f"{path}.{key}")


# --- cost ------------------------------------------------------------------------------------

class CostCalculator:
    """Shopify's requested query cost of one operation (static, before execution)."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Any) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables

    def operation(self, op: OperationDefinitionNode) -> int:
        """Mutations cost 10 per root field; queries the sum of their root fields."""
        if op.operation == OperationType.MUTATION:
            return MUTATION_COST * sum(1 for _ in self._fields(op.selection_set,
                                                               self.schema.mutation_type))
        root = self.schema.query_type
        return sum(self.field(root, f) for f in self._fields(op.selection_set, root))

    def _fields(self, selection_set: SelectionSetNode | None, parent: Any,
                also: frozenset[str] = frozenset()) -> Iterator[FieldNode]:
        """The fields selected for a value of object type ``parent``, fragments flattened.

        A fragment applies when its type condition is ``parent``, one of its interfaces, or a
        name in ``also`` (the abstract type the value was selected as).
        """
        names = {parent.name, *also, *(i.name for i in getattr(parent, "interfaces", ()))}
        for s in (selection_set.selections if selection_set else ()):
            if isinstance(s, FieldNode):
                yield s
            elif isinstance(s, InlineFragmentNode):
                if s.type_condition is None or s.type_condition.name.value in names:
                    yield from self._fields(s.selection_set, parent, also)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments[s.name.value]
                if frag.type_condition.name.value in names:
                    yield from self._fields(frag.selection_set, parent, also)

    def selection(self, type_: Any, selection_set: SelectionSetNode | None) -> int:
        """The cost of the fields selected below an object, interface or union value."""
        if isinstance(type_, GraphQLObjectType):
            return sum(self.field(type_, f) for f in self._fields(selection_set, type_))
        # interface or union: the maximum over the object types the value can be
        also = frozenset({type_.name})
        return max((sum(self.field(obj, f) for f in self._fields(selection_set, obj, also))
                    for obj in self.schema.get_possible_types(type_)), default=0)

    def field(self, parent: Any, node: FieldNode) -> int:
        """The requested cost of one selected field."""
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            raise ShopifyGraphQLError([_error(f"Field '{name}' doesn't exist on type "
                                              f"'{parent.name}'")])
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            return 0
        if named.name.endswith("Connection") and "edges" in getattr(named, "fields", {}):
            args = get_argument_values(definition, node, self.variables)
            size = args.get("first") or args.get("last")
            if not size:
                raise ShopifyGraphQLError([_error(
                    f"you must provide one of first or last for the '{name}' connection")])
            node_type = get_named_type(named.fields["nodes"].type) if "nodes" in named.fields \
                else get_named_type(get_named_type(named.fields["edges"].type).fields["node"].type)
            per_node = 0
            for f in self._fields(node.selection_set, named):
                if f.name.value == "nodes":
                    per_node = max(per_node, 1 + self.selection(node_type, f.selection_set))
                elif f.name.value == "edges":
                    edge = get_named_type(named.fields["edges"].type)
                    for g in self._fields(f.selection_set, edge):
                        if g.name.value == "node":
                            per_node = max(per_node, 1 + self.selection(node_type,
                                                                        g.selection_set))
            return CONNECTION_COST + int(size) * per_node
        return 1 + self.selection(named, node.selection_set)


# --- the checks together -------------------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def _parsed(document: str) -> tuple[DocumentNode, tuple[str, ...]]:
    doc = parse(document)
    errors = tuple(e.message for e in validate(admin_schema(), doc))
    return doc, errors


def check(document: str, variables: Mapping[str, Any] | None = None, *,
          allow_deprecated: bool = False) -> tuple[DocumentNode, Any, int]:
    """Refuse what Shopify refuses; return (document, coerced variables, requested cost).

    Raises :class:`ShopifyGraphQLError` for a syntax or validation error, variables that do not
    coerce, an input list over 250 items, a requested cost over 1,000 points, and (unless
    ``allow_deprecated``) any deprecated field, argument, input field or enum value.
    """
    schema = admin_schema()
    variables = dict(variables or {})
    try:
        doc, errors = _parsed(document)
    except GraphQLError as exc:
        raise ShopifyGraphQLError([_error(exc.message)]) from exc
    if errors:
        raise ShopifyGraphQLError([_error(m) for m in errors])
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    op = ops[0]
    coerced = get_variable_values(schema, op.variable_definitions or (), variables)
    if isinstance(coerced, list):
        raise ShopifyGraphQLError([_error(e.message) for e in coerced])
    too_long = list(_long_lists(variables, "variables"))
    too_long += list(_literal_lists(doc))
    if too_long:
        _path, size = too_long[0]
        raise ShopifyGraphQLError([_error(
            f"The input array size of {size} is greater than the maximum allowed of "
            f"{MAX_INPUT_LIST}.", "MAX_INPUT_SIZE_EXCEEDED")])
    if not allow_deprecated:
        found = deprecations(doc, variables, schema)
        if found:
            raise ShopifyGraphQLError([_error(m, "DEPRECATED") for m in found])
    fragments = {d.name.value: d for d in doc.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    cost = CostCalculator(schema, fragments, coerced).operation(op)
    if cost > MAX_QUERY_COST:
        raise ShopifyGraphQLError([_error(
            f"Query cost is {cost}, which exceeds the single query max cost limit "
            f"({MAX_QUERY_COST}).", "MAX_COST_EXCEEDED")])
    return doc, coerced, cost


def _literal_lists(doc: DocumentNode) -> Iterable[tuple[str, int]]:
    found: list[tuple[str, int]] = []

    class _Lists(Visitor):
        def enter_list_value(self, node: Any, *_: Any) -> None:
            if len(node.values) > MAX_INPUT_LIST:
                found.append(("literal", len(node.values)))

    visit(doc, _Lists())
    return found
