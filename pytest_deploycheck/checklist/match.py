"""The matcher as the run uses it: the catalog's own phrases in, one suggestion per item out.

Each check declares the checklist wording it answers (``answers=`` on its ``check`` marker; see
``matcher.py`` for the phrase grammar and how an item's intent is weighed).  No network, no model:
the same checklist and catalog always give the same suggestions, each with the reason it matched.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_deploycheck.checklist import matcher
from pytest_deploycheck.checklist.hints import expectation_hint
from pytest_deploycheck.checklist.mapping import Suggestion
from pytest_deploycheck.checklist.parse import Checklist, Item
from pytest_deploycheck.markers import CheckMeta


class Matcher:
    def __init__(self, vocabulary: matcher.Vocabulary) -> None:
        self.vocabulary = vocabulary

    @classmethod
    def from_catalog(cls, metas: Iterable[CheckMeta]) -> Matcher:
        """A vocabulary of every collected check that declares phrases."""
        entries = {}
        for meta in sorted(metas, key=lambda m: m.id):
            if meta.answers:
                entries[meta.id] = {"phrases": list(meta.answers), "kind": meta.answers_kind,
                                    "unless": list(meta.answers_unless), "accepts": list(meta.answers_accepts)}
        return cls(matcher.vocabulary_from_mapping({"checks": entries}, "the catalog's answers= phrases"))

    def suggest(self, item: Item, checklist: Checklist, sub_items: int = 0) -> Suggestion:
        """The checks for ``item``, which has ``sub_items`` under it, and why; no checks when unsure (a
        wrong match is worse than none).  A clause of the item that none of them answers ("Only
        key-based SSH, port not 22") is left for a person to attest beside them."""
        if sub_items and matcher.is_label(item.plain, topics=True):
            return Suggestion((), "a heading over its sub-items, which answer it")
        parent = checklist.by_key().get(item.parent) if item.parent else None
        result = matcher.match_item(item, self.vocabulary, parent)
        if result.manual:
            why = result.rejected[0] if result.rejected else "no catalog check answers this item"
            hint = expectation_hint(item)
            if hint:
                why += (f"; measurable: a {hint} expectation of your own can check it "
                        "(--deploycheck-expectations, README 'Your own checks')")
            return Suggestion((), why)
        why = "; ".join(dict.fromkeys(m.reason for m in result.matches[:3]))  # two checks matched by one phrase: said once
        attest = "; ".join(result.unanswered)
        if attest:
            why += f"; no check answers {', '.join(repr(c) for c in result.unanswered)}: a person attests that part"
        return Suggestion(result.check_ids, why, attest)
