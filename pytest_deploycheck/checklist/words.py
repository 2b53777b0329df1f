"""How an item's words meet a phrase's words: the same word, a stem and its inflections.

``Text`` is an item (or a part of one) normalised as the matcher reads it; it answers "where in the
item does this phrase word stand?" once per word, from indexes of the item's own words and their
prefixes, so matching a checklist against thousands of phrases costs a dictionary lookup per phrase
word, not a scan of the item (``bench/bench_checklist.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_deploycheck.checklist.compounds import COMPOUNDS as _COMPOUNDS
from pytest_deploycheck.checklist.normalise import analyse

_COMPOUND_TOKENS = frozenset(tok for _, joined in _COMPOUNDS for tok in joined.split())
PREFIX_MIN = 5


def same_word(phrase_tok: str, item_tok: str) -> bool:
    """Equal, or one a prefix of the other when both are ordinary words of PREFIX_MIN letters or more, so a
    phrase's "enforc" meets "enforced" and "enforcement", and "verif" meets "verification".  Joined compound
    tokens ("healthcheck", "ratelimit") are names: only equal counts."""
    if phrase_tok == item_tok:
        return True
    if len(phrase_tok) < PREFIX_MIN or len(item_tok) < PREFIX_MIN:
        return False
    if phrase_tok in _COMPOUND_TOKENS or item_tok in _COMPOUND_TOKENS:
        return False
    if item_tok.startswith(phrase_tok):  # the phrase's stem ("enforc") meets the item's word ("enforcement")
        return True
    # The item's word is the shorter one: only an inflection may separate them ("monitor" / "monitoring"),
    # never another word ("alert" is not "alertmanager", "proxy" not "proxysql", "super" not "superuser").
    if not phrase_tok.startswith(item_tok):
        return False
    rest = phrase_tok[len(item_tok):]
    return len(rest) <= 2 or rest in _INFLECTIONS


#: What may follow a word within the same word (both sides are stemmed, so stems meet too: "communic" / "communicat").
_INFLECTIONS = frozenset({"ing", "ings", "ion", "ions", "ment", "ments", "ity", "ies", "ied", "ness", "ally", "ate", "ated", "ates",
                          "ating", "ation", "ations", "ative", "ive", "ers", "est", "ful"})


@dataclass(frozen=True)
class Text:
    """An item's text, normalised, with a map back to the words as written."""

    toks: tuple[str, ...]
    origin: tuple[str, ...]  # for each token, the source word it came from
    weight: tuple[float, ...]
    seen: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)  # phrase word -> positions
    where: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)  # item word -> positions
    starts: dict[str, frozenset[int]] = field(default_factory=dict, compare=False, repr=False)  # its prefixes -> positions

    def __post_init__(self) -> None:
        for i, tok in enumerate(self.toks):
            self.where[tok] = self.where.get(tok, frozenset()) | {i}
        for tok, at in self.where.items():
            if len(tok) >= PREFIX_MIN and tok not in _COMPOUND_TOKENS:
                for end in range(PREFIX_MIN, len(tok) + 1):
                    self.starts[tok[:end]] = self.starts.get(tok[:end], frozenset()) | at

    def at(self, phrase_tok: str) -> frozenset[int]:
        """The positions of the item's words that ``phrase_tok`` meets (``same_word``), worked out once per
        word: the same word, a longer word it begins, or a shorter word it inflects."""
        found = self.seen.get(phrase_tok)
        if found is None:
            found = self.where.get(phrase_tok, frozenset())
            if len(phrase_tok) >= PREFIX_MIN and phrase_tok not in _COMPOUND_TOKENS:
                found |= self.starts.get(phrase_tok, frozenset())
                for end in range(PREFIX_MIN, len(phrase_tok)):
                    shorter = self.where.get(phrase_tok[:end])
                    if shorter and phrase_tok[:end] not in _COMPOUND_TOKENS and (len(phrase_tok) - end <= 2 or phrase_tok[end:] in _INFLECTIONS):
                        found |= shorter
            self.seen[phrase_tok] = found
        return found

    def find(self, alt: tuple[str, ...]) -> list[int]:
        """Where the words of ``alt`` stand in a row in the item, in order."""
        first = self.at(alt[0])
        if not first or len(alt) == 1:
            return sorted(first)
        rest = [self.at(a) for a in alt[1:]]
        return sorted(i for i in first if all(i + k in positions for k, positions in enumerate(rest, 1)))


def read(text: str) -> Text:
    triples = analyse(text)
    return Text(tuple(t for t, _, _ in triples), tuple(src for _, src, _ in triples), tuple(w for _, _, w in triples))
