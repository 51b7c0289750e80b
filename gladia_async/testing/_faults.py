"""Seeded, replayable fault injection for the emulator.

A :class:`FaultPlan` is an ordered list of :class:`FaultRule`. For every request the emulator
computes a route key ``"METHOD /template"`` (e.g. ``"GET /v2/pre-recorded/{id}"``) and asks
the plan for a fault; the first rule that matches (``fnmatch`` pattern, so ``"*"`` or
``"GET *"`` work) *and* fires wins. A rule fires either with a ``probability`` (drawn from the
plan's own ``random.Random(seed)``, one draw per matching request, so the same request
sequence replays identically) or following a scripted ``sequence`` (the n-th matching request
gets the fault when ``sequence[n]`` is true; past the end of the sequence it never fires).
With neither set, the rule fires on every matching request. ``max_count`` caps the number of
times a rule fires.

Kinds:

* ``status``: respond with ``status`` and a spec-shaped error body (``Retry-After`` added for
  429/503 when ``retry_after`` is set: seconds, or an HTTP-date when
  ``retry_after_http_date`` is true, or a literal string sent verbatim). Not performed.
* ``html_502``: a ``text/html`` proxy error page with status 502. Not performed.
* ``delay``: sleep ``delay`` seconds, then respond normally.
* ``reset_before_body``: close the connection before the request body is read. Not performed.
* ``reset_after_body``: read the body and *perform* the operation, then close the connection
  without responding (the "lost response" case).
* ``truncated_json``: perform the operation, send the normal status with half the body.
* ``malformed_json``: perform the operation, send the normal status with a broken JSON body.
* ``job_error``: only meaningful on job creation routes: the created job ends in ``error``
  with ``error_code``. The HTTP response itself is normal.
* ``ignore_metadata_filter``: only meaningful on listing routes (``GET /v2/pre-recorded``,
  ``GET /v2/transcription``): the listing answers as if no ``custom_metadata`` filter was
  given, and stops at its first page (the most recent jobs, no ``next`` link), as a server
  that drops a parameter it does not know and caps its listing would.
"""

from __future__ import annotations

import fnmatch
import pathlib
import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import orjson

__all__ = ["FaultKind", "FaultPlan", "FaultRule", "InjectedFault"]

#: What a rule does to a matching request: one of the kinds the module docstring lists
#: docstring (``status``, ``html_502``, ``delay``, ``reset_before_body``, ...).
FaultKind = Literal[
    "status",
    "html_502",
    "delay",
    "reset_before_body",
    "reset_after_body",
    "truncated_json",
    "malformed_json",
    "job_error",
    "ignore_metadata_filter",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass(frozen=True)
class FaultRule:
    """One fault-injection rule; see the module docstring."""

    route: str = "*"
    kind: FaultKind = "status"
    probability: float | None = None
    sequence: Sequence[bool] | None = None
    status: int = 500
    retry_after: float | str | None = None
    retry_after_http_date: bool = False
    delay: float = 0.0
    error_code: int = 500
    message: str | None = None
    max_count: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if self.probability is not None and self.sequence is not None:
            raise ValueError("give either probability or sequence, not both")
        if self.sequence is not None:
            object.__setattr__(self, "sequence", tuple(bool(x) for x in self.sequence))

    def matches(self, route_key: str) -> bool:
        """Whether this rule applies to ``route_key`` (``"METHOD /template"``, ``fnmatch``)."""
        return self.route == "*" or fnmatch.fnmatchcase(route_key, self.route)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultRule:
        """The rule a JSON object describes (``ValueError`` for an unknown key)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """This rule as a JSON object (every field, tuples as lists)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class InjectedFault:
    """A record of one fault that fired: request index in the plan, route key and rule."""

    index: int
    route_key: str
    rule: FaultRule


@dataclass
class FaultPlan:
    """Ordered, seeded fault rules; mutable counters (call :meth:`reset` to replay)."""

    seed: int = 0
    rules: Sequence[FaultRule] = ()
    history: list[InjectedFault] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rules = tuple(self.rules)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Rewind counters, RNG and history: the same request sequence replays identically."""
        self._rng = random.Random(self.seed)
        self._seen = [0] * len(self.rules)
        self._fired = [0] * len(self.rules)
        self._requests = 0
        self.history = []

    def pick(self, route_key: str) -> FaultRule | None:
        """Decide the fault (if any) for one request on ``route_key``."""
        with self._lock:
            index = self._requests
            self._requests += 1
            chosen: FaultRule | None = None
            for position, rule in enumerate(self.rules):
                if not rule.matches(route_key):
                    continue
                nth = self._seen[position]
                self._seen[position] += 1
                if rule.sequence is not None:
                    fires = nth < len(rule.sequence) and rule.sequence[nth]
                elif rule.probability is not None:
                    fires = self._rng.random() < rule.probability
                else:
                    fires = True
                if rule.max_count is not None and self._fired[position] >= rule.max_count:
                    fires = False
                if fires and chosen is None:
                    self._fired[position] += 1
                    chosen = rule
            if chosen is not None:
                self.history.append(InjectedFault(index, route_key, chosen))
            return chosen

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """The plan a JSON object ``{"seed": ..., "rules": [...]}`` describes."""
        rules = [FaultRule.from_dict(r) for r in data.get("rules", ())]
        return cls(seed=int(data.get("seed", 0)), rules=rules)

    @classmethod
    def from_json(cls, source: str | bytes | pathlib.Path) -> FaultPlan:
        """Load ``{"seed": 0, "rules": [{...}, ...]}`` from JSON text or a file path."""
        raw = source.read_bytes() if isinstance(source, pathlib.Path) else source
        data = orjson.loads(raw)
        if isinstance(data, list):
            data = {"rules": data}
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """This plan as a JSON object, as ``from_dict`` and ``--faults`` read it."""
        return {"seed": self.seed, "rules": [r.to_dict() for r in self.rules]}

    @classmethod
    def of(cls, *rules: FaultRule, seed: int = 0) -> FaultPlan:
        """A plan of these rules, checked in order, with its random generator seeded."""
        return cls(seed=seed, rules=rules)

    def extend(self, rules: Iterable[FaultRule]) -> FaultPlan:
        """Return a new plan with extra rules appended (counters start fresh)."""
        return FaultPlan(seed=self.seed, rules=(*self.rules, *rules))
