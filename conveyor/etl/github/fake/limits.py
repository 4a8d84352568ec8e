"""GitHub's resource limits, computed before a query runs, the documented way
(docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api):

* nodes: each connection asks for `first`/`last` nodes per parent it hangs under, so a
  connection's nodes are its page size times the page sizes of the connections above it; a query
  may ask for at most 500,000 in total;
* cost: each connection needs one request per parent (1 at the top); the requests summed, divided
  by 100 and rounded to the nearest whole number, never less than 1 point.

`Query.nodes(ids:)` multiplies what is under it by the number of ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values

NODE_LIMIT = 500_000


@dataclass(frozen=True)
class QueryLoad:
    nodes: int
    requests: int
    largest_page: int

    @property
    def cost(self) -> int:
        return max(1, math.floor(self.requests / 100 + 0.5))


def is_connection(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


def page_size(args: dict[str, Any]) -> int | None:
    sizes = [v for v in (args.get("first"), args.get("last")) if isinstance(v, int)]
    return max(sizes) if sizes else None


class _Walk:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.nodes = 0
        self.requests = 0
        self.largest = 0

    def selection_set(self, selections: SelectionSetNode | None, parent: Any, multiplier: int, seen: frozenset[str]) -> None:
        if selections is None:
            return
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.selection_set(selection.selection_set, target or parent, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    self.selection_set(fragment.selection_set, target or parent, multiplier, seen | {name})

    def field(self, node: FieldNode, parent: Any, multiplier: int, seen: frozenset[str]) -> None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            if isinstance(parent, GraphQLUnionType):  # only fragments select on a union
                return
            return
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return
        try:
            args = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            args = {}
        inner = multiplier
        if is_connection(definition.type):
            size = page_size(args) or 0
            self.requests += multiplier
            self.nodes += multiplier * size
            self.largest = max(self.largest, size)
            inner = multiplier * size
        elif node.name.value == "nodes" and isinstance(args.get("ids"), list):
            inner = multiplier * len(args["ids"])
        self.selection_set(node.selection_set, get_named_type(definition.type), inner, seen)


def measure(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
            variables: VariableValues) -> QueryLoad:
    """The nodes and requests one run of `operation` may need, page sizes taken at their maximum
    (`variables` as coerced by graphql-core's `get_variable_values`)."""
    root = schema.get_root_type(operation.operation)
    walk = _Walk(schema, document, variables)
    walk.selection_set(operation.selection_set, root, 1, frozenset())
    return QueryLoad(nodes=walk.nodes, requests=walk.requests, largest_page=walk.largest)


def node_limit_message(load: QueryLoad) -> str:
    return (f"This query requests up to {load.nodes:,} possible nodes which exceeds the maximum limit of "
            f"{NODE_LIMIT:,}.")
