"""The catalog: every model by id and alias, checked as a whole, and how a name resolves.

A :class:`Catalog` is a snapshot; :meth:`Catalog.replace` swaps the whole snapshot in
one assignment, which is how a long-lived instance (held by the pricer, the validator
and the channel manager) follows operator changes without anyone re-wiring it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from reelgate.catalog.document import CatalogError
from reelgate.catalog.spec import ModelSpec, ModelState, Refusal

__all__ = ["Catalog", "Resolution"]

_MAX_REDIRECTS = 8


@dataclass(frozen=True)
class Resolution:
    """What a requested model name turns into for a create."""

    #: the model that renders (after aliases and retirement redirects)
    spec: ModelSpec
    #: the name the client sent
    requested: str
    #: the retired model the request was redirected from, if any
    redirected_from: ModelSpec | None = None

    @property
    def notice(self) -> str | None:
        """What to tell a client whose request was redirected."""
        old = self.redirected_from
        if old is None:
            return None
        text = f"{old.id} is retired; this job runs on {self.spec.id}."
        return f"{text} {old.message}" if old.message else text


@dataclass(frozen=True)
class _Index:
    models: dict[str, ModelSpec]
    aliases: dict[str, str]


def _index(models: Iterable[ModelSpec]) -> _Index:
    by_id: dict[str, ModelSpec] = {}
    aliases: dict[str, str] = {}
    for spec in models:
        if spec.id in by_id or spec.id in aliases:
            raise CatalogError(f"models.{spec.id}: the name is used twice",
                               param=f"models.{spec.id}")
        by_id[spec.id] = spec
    for spec in by_id.values():
        for alias in spec.aliases:
            owner = aliases.get(alias) or (alias if alias in by_id else None)
            if owner is not None:
                raise CatalogError(
                    f"models.{spec.id}.aliases: {alias!r} already names {owner}",
                    param=f"models.{spec.id}.aliases")
            aliases[alias] = spec.id
    for spec in by_id.values():
        _check_successor(spec, by_id)
    return _Index(by_id, aliases)


def _check_successor(spec: ModelSpec, models: dict[str, ModelSpec]) -> None:
    where = f"models.{spec.id}.successor"
    seen = {spec.id}
    current = spec
    while current.state is ModelState.RETIRED and current.successor is not None:
        nxt = models.get(current.successor)
        if nxt is None:
            raise CatalogError(f"{where}: unknown model {current.successor!r}", param=where)
        if nxt.id in seen or len(seen) > _MAX_REDIRECTS:
            raise CatalogError(f"{where}: the successors of {spec.id} go round in a circle",
                               param=where)
        seen.add(nxt.id)
        current = nxt


class Catalog:
    """Lookup over model specs; aliases resolve to their model."""

    def __init__(self, models: Iterable[ModelSpec] = ()) -> None:
        self._state = _index(models)

    def replace(self, other: Catalog) -> None:
        """Take over ``other``'s models, atomically for every reader of this instance."""
        self._state = other._state

    def get(self, model_id: str) -> ModelSpec | None:
        state = self._state
        return state.models.get(state.aliases.get(model_id, model_id))

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(list(self._state.models.values()))

    def __len__(self) -> int:
        return len(self._state.models)

    def ids(self) -> tuple[str, ...]:
        return tuple(self._state.models)

    def listed(self) -> list[ModelSpec]:
        """The models ``GET /v1/models`` shows: hidden ones are left out, retired kept."""
        return [m for m in self if m.state is not ModelState.HIDDEN]

    def upstream_models(self, provider: str) -> dict[str, str]:
        """The model map a new channel of ``provider`` gets: public id -> upstream name."""
        return {m.id: m.upstream[provider] for m in self if provider in m.upstream}

    def list_price(self, model_id: str, size: str) -> int:
        spec = self.get(model_id)
        if spec is None:
            raise KeyError(model_id)
        return spec.prices[size]

    def resolve(self, name: str) -> Resolution | Refusal:
        """The model a create for ``name`` runs on, following aliases and successors."""
        spec = self.get(name)
        if spec is None:
            names = ", ".join(m.id for m in self.listed() if m.state is ModelState.ACTIVE)
            return Refusal("model", "model_not_found",
                           f"Invalid value for 'model': {name!r}. Supported models: {names}.",
                           "catalog.models")
        first = spec
        for _ in range(_MAX_REDIRECTS):
            if spec.state is not ModelState.RETIRED:
                return Resolution(spec, name, first if first is not spec else None)
            if spec.successor is None:
                break
            nxt = self.get(spec.successor)
            if nxt is None:
                break
            spec = nxt
        message = f"The model '{first.id}' has been retired."
        if spec is not first:
            message = f"{message} Its successor {spec.id} is retired too."
        return Refusal("model", "model_retired",
                       f"{message} {spec.message}".strip() if spec.message else message,
                       f"{first.id}.state")
