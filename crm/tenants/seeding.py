"""Demo data: apps register seeders here; `seed_demo` runs them in order inside a tenant schema.

Registration goes this way round so the platform never imports the apps above it.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedOptions:
    customers: int
    seed: int


Seeder = Callable[[random.Random, SeedOptions], str]


@dataclass(frozen=True)
class _Registered:
    name: str
    func: Seeder
    order: int


_SEEDERS: dict[str, _Registered] = {}


def register_seeder(name: str, func: Seeder, *, order: int) -> None:
    """Add a seeder. It gets its own Random (derived from the seed and its name) and returns a
    one-line summary of what it created; it must be safe to run twice."""
    _SEEDERS[name] = _Registered(name=name, func=func, order=order)


def registered_seeders() -> list[tuple[str, Seeder]]:
    return [(s.name, s.func) for s in sorted(_SEEDERS.values(), key=lambda s: (s.order, s.name))]


def run_seeders(options: SeedOptions) -> list[str]:
    """Run every seeder in the current schema. Each draws from its own Random so adding a seeder
    never changes the data another one produces for the same seed."""
    summaries = []
    for name, func in registered_seeders():
        rng = random.Random(f"{options.seed}:{name}")  # noqa: S311 - demo data, not secrets
        summaries.append(f"{name}: {func(rng, options)}")
    return summaries
