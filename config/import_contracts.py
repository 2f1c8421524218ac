"""A contract type for import-linter: no import circle anywhere among the given packages.

import-linter's own ``acyclic_siblings`` looks inside one package at a time, and the
``apps`` layers contract ignores the core's named calls out (the clocks service, the outbox
writer), so a circle through one of them, or between apps, would pass both. This one
finds every strongly connected group of modules in the whole graph (Tarjan's algorithm on
grimp's graph, imports inside functions included) and prints one circle of each.
Only ``lint-imports`` imports this module (``pyproject.toml``: ``contract_types``).
"""

import itertools

from importlinter import Contract, ContractCheck, output


class NoCirclesContract(Contract):
    """Every module of the root packages (``root_packages``; external packages are not in
    the graph): none may be part of a circle."""

    def check(self, graph, verbose: bool) -> ContractCheck:
        modules = sorted(graph.modules)
        edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
        circles = [_one_circle(group, edges) for group in _strongly_connected(modules, edges)]
        return ContractCheck(kept=not circles, warnings=None, metadata={"circles": circles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for circle in check.metadata["circles"]:
            output.print_error("A circle of imports:", bold=True)
            output.new_line()
            for importer, imported in itertools.pairwise(circle):
                output.indent_cursor()
                output.print_error(f"- {importer} -> {imported}", bold=False)
            output.new_line()


def _strongly_connected(modules: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Groups of more than one module that import each other, directly or not (iterative
    Tarjan, so a deep graph does not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in modules:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for position in range(child, len(edges[node])):
                target = edges[node][position]
                if target not in index:
                    work.append((node, position + 1))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return groups


def _one_circle(group: list[str], edges: dict[str, list[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, within the group."""
    members = set(group)
    start = group[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in edges[node]:
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return group
