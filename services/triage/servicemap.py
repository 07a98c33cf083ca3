"""The service dependency map as a graph: cycles, what depends on what, depth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache


def find_cycle(depends_on: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle, as the path that closes it, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(service: str) -> list[str] | None:
        if service in done:
            return None
        if service in path:
            return [*path[path.index(service) :], service]
        path.append(service)
        for dependency in depends_on.get(service, ()):
            if cycle := visit(dependency):
                return cycle
        path.pop()
        done.add(service)
        return None

    for service in sorted(depends_on):
        if cycle := visit(service):
            return cycle
    return None


def reach(start: str, edges: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Everything reachable from ``start`` along ``edges``, ``start`` excluded."""
    found: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        service = stack.pop()
        if service not in found:
            found.add(service)
            stack.extend(edges.get(service, ()))
    return frozenset(found)


class ServiceMap:
    """An acyclic map of service → the services it depends on."""

    def __init__(self, depends_on: Mapping[str, Sequence[str]]):
        self.depends_on = {name: tuple(deps) for name, deps in depends_on.items()}
        dependents: dict[str, set[str]] = {}
        for name, deps in self.depends_on.items():
            for dep in deps:
                dependents.setdefault(dep, set()).add(name)
        self._dependents = dependents
        # What a service depends on, and what depends on it, directly or not.
        self.below = cache(lambda service: reach(service, self.depends_on))
        self.above = cache(lambda service: reach(service, self._dependents))

    def __contains__(self, service: str) -> bool:
        return service in self.depends_on or service in self._dependents

    def related(self, service: str) -> frozenset[str]:
        """The service, what it depends on and what depends on it."""
        return self.below(service) | self.above(service) | {service}

    def deepest(self, failing: Sequence[str]) -> str:
        """The failing service most of the others depend on: the probable root.

        Ties go to the service with no failing dependency of its own, then to
        the one that failed first (the order of ``failing``).
        """
        failing_set = set(failing)

        def rank(item: tuple[int, str]) -> tuple[int, int, int]:
            position, service = item
            dependents = len(self.above(service) & failing_set)
            has_failing_dependency = bool(self.below(service) & failing_set)
            return (dependents, not has_failing_dependency, -position)

        return max(enumerate(failing), key=rank)[1]

    def path(self, top: str, bottom: str) -> list[str]:
        """One dependency path from ``top`` down to ``bottom`` (both included)."""
        if top == bottom:
            return [top]
        for dep in self.depends_on.get(top, ()):
            if dep == bottom or bottom in self.below(dep):
                return [top, *self.path(dep, bottom)]
        return [top, bottom]
