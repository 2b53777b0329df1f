"""Hints beside manual checklist items: which expectation of the team's own could measure one.

An item no catalog check answers may still state something measurable ("API response time < 200ms
(p95)", "Error Rate | <0.1%", "Admin user created"); the expectations file
(``--deploycheck-expectations``, README "Your own checks") runs a PromQL query, an HTTP request or
a SQL query with a bound.  The hint only names the probe; nothing is matched by it.
"""

from __future__ import annotations

from pytest_deploycheck.checklist.matcher import _intents, _match_phrase, compile_phrase
from pytest_deploycheck.checklist.normalise import _CADENCE
from pytest_deploycheck.checklist.parse import Item
from pytest_deploycheck.checklist.words import read

#: The probe that measures what such an item states, and the wording that says so.
EXPECTATION_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("promql", ("latency|response_time|p50|p90|p95|p99|percentile", "error_rate", "error|errors|5xx rate|rates|ratio|percent",
                "uptime|availability percent|target|above|over|99", "throughput|rps|qps|tps|requests_per_second",
                "consumer|queue|kafka lag|depth|backlog", "cpu|memory|disk utilization|usage under|below|less")),
    ("http", ("api|endpoint|endpoints|route|routes respond|responds|return|returns|work|working|works|answer|answers",)),
    ("sql", ("user|users|adminuser|admin_user|account|accounts|admin|record|records|row|rows|data exist|exists|created|loaded|imported|present",)),
)
_HINTS = tuple((kind, tuple(compile_phrase(p) for p in phrases)) for kind, phrases in EXPECTATION_HINTS)


def expectation_hint(item: Item) -> str | None:
    """The expectation probe (``promql``, ``http``, ``sql``) that could measure a manual item, or
    None; none for an item that asks for an alert, monitoring, a document, a test or a duty (an
    expectation measures the present state)."""
    text = read(item.plain)
    if _intents(text.toks) & {"alert", "monitor", "document", "test"} or _CADENCE.match(item.plain):
        return None
    for kind, phrases in _HINTS:
        if any((hit := _match_phrase(phrase, text, set())) is not None and hit.used for phrase in phrases):
            return kind
    return None
