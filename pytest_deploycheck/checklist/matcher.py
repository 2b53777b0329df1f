"""Match checklist items to catalog checks: deterministic, explainable, no network, no model.

Each check declares phrases, the wording a checklist uses for what the check proves.  A phrase is a
few words, each with alternatives, matched in any order close together after normalisation:

    "tls|https certificate expiry"   certificate and expiry required, and tls or https
    "postgres tls connection?"       'connection' optional: it adds evidence, it is not needed
    "^health database|dependency"    '^': the word may come from the item's section or parent item

Normalisation lowercases, splits on punctuation and snake_case, maps British to American spelling,
folds abbreviations to one word (ssl -> tls, db -> database, pg/postgresql -> postgres, k8s ->
kubernetes, env -> environment), joins fixed compounds (role based access control -> rbac) and strips
plural and -ed/-ing endings, the same way for phrases and items.

A phrase that matches is not yet a match.  Three things can still leave the item manual:

- coverage: the share of the item's meaningful words that the phrase explains.  "ModelFilters
  CreatedBy field" shares no word with any phrase; "Load balancer SSL termination" shares one of four
  with "tls": both stay manual, because the item is about something the catalog cannot know;
- intent: an item that asks for a document ("renewal process documented"), a drill ("restore
  tested"), an alert ("certificate expiry alerts"), monitoring, or a recurring duty ("Monthly: ...")
  is not proven by a check of the current state, and a state item is not proven by a drill;
- a check's own ``unless`` phrases (negative evidence it declares).

Among the matches that remain, one whose matched words are a strict subset of another's is dropped
("Redis TLS" is redis-09, not the generic tls-09).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

from pytest_deploycheck.checklist.normalise import _CADENCE, _FILLER_NORM, _INTENT_NORM, conjuncts, tokens
from pytest_deploycheck.checklist.parse import Item
from pytest_deploycheck.checklist.products import PLATFORM_AREAS, PLATFORMS, check_engines, named_in
from pytest_deploycheck.checklist.words import Text, read, same_word

# --------------------------------------------------------------------------------------------- phrases

@dataclass(frozen=True)
class Slot:
    alternatives: tuple[tuple[str, ...], ...]  # each alternative: one or more normalised tokens in sequence
    optional: bool = False
    context: bool = False  # may be found in the section path or the parent item

    def label(self) -> str:
        alts = "|".join(" ".join(a) for a in self.alternatives)
        return ("^" if self.context else "") + alts + ("?" if self.optional else "")


@dataclass(frozen=True)
class Phrase:
    source: str
    slots: tuple[Slot, ...]

    @property
    def required(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if not s.optional)


def compile_phrase(text: str) -> Phrase:
    """'tls|https certificate expiry?' -> slots; each alternative is normalised like item text."""
    slots: list[Slot] = []
    plain: list[str] = []

    def flush() -> None:
        # Plain words are normalised together, so "rate limit" becomes the one token "ratelimit" as it does
        # in an item; each resulting token is one required slot.
        for tok in tokens(" ".join(plain)):
            slots.append(Slot(((tok,),)))
        plain.clear()

    for raw in text.split():
        if not any(ch in raw for ch in "|?^_"):
            plain.append(raw)
            continue
        flush()
        optional = raw.endswith("?")
        context = raw.startswith("^")
        body = raw.strip("?^")
        alts: list[tuple[str, ...]] = []
        for alt in body.split("|"):
            toks = tuple(tokens(alt.replace("_", " ")))
            if toks and toks not in alts:
                alts.append(toks)
        if not alts:
            continue  # a filler word alone ("the") says nothing
        slots.append(Slot(tuple(alts), optional, context))
    flush()
    if not any(not s.optional for s in slots):
        raise ValueError(f"phrase {text!r} has no required word")
    return Phrase(text, tuple(slots))


CheckKind = Literal["state", "document", "drill", "approval", "attest", "alert", "monitor", "evidence"]
KINDS: tuple[str, ...] = ("state", "document", "drill", "approval", "attest", "alert", "monitor", "evidence")


@dataclass(frozen=True)
class CheckPhrases:
    """What one check (or planned check area) answers: its phrases, the kind of evidence it gives, and the
    negative phrases that rule it out."""

    id: str
    phrases: tuple[Phrase, ...]
    kind: str = "state"
    unless: tuple[Phrase, ...] = ()
    planned: bool = False
    accepts: frozenset[str] = frozenset()  # item intents this check accepts besides its kind's defaults

    @cached_property
    def anchors(self) -> tuple[str, ...] | None:
        """Words of which an item needs one for any phrase to match: the first words of each phrase's first
        required slot that only the item can fill (None when a phrase has no such slot)."""
        words: list[str] = []
        for phrase in self.phrases:
            slot = next((s for s in phrase.slots if not s.optional and not s.context), None)
            if slot is None:
                return None
            words += (alt[0] for alt in slot.alternatives)
        return tuple(dict.fromkeys(words))


SPECIFIC_MAX_CHECKS = 2  # a word in the phrases of at most this many checks is specific ("hsts", "walarchive")


@dataclass(frozen=True)
class Vocabulary:
    checks: tuple[CheckPhrases, ...]
    # How many checks use each phrase word: a word few checks use says more than "backup" or "tls".
    spread: Mapping[str, int] = field(default_factory=dict)

    def ids(self) -> list[str]:
        return [c.id for c in self.checks]


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"{where}: expected a list of strings")


def _entry(check_id: str, body: Any, planned: bool, where: str) -> CheckPhrases:
    if isinstance(body, list):
        body = {"phrases": body}
    if not isinstance(body, dict):
        raise ValueError(f"{where}: expected a mapping with 'phrases' or a list of phrases")
    unknown = set(body) - {"phrases", "kind", "unless", "accepts"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    kind = str(body.get("kind", "state"))
    if kind not in KINDS:
        raise ValueError(f"{where}: kind {kind!r}; use one of {', '.join(KINDS)}")
    phrases = tuple(compile_phrase(p) for p in _as_list(body.get("phrases"), f"{where}.phrases"))
    if not phrases:
        raise ValueError(f"{where}: no phrases")
    unless = tuple(compile_phrase(p) for p in _as_list(body.get("unless"), f"{where}.unless"))
    accepts = frozenset(_as_list(body.get("accepts"), f"{where}.accepts"))
    return CheckPhrases(check_id, phrases, kind, unless, planned, accepts)


def vocabulary_from_mapping(data: Mapping[str, Any], source: str = "phrases") -> Vocabulary:
    """Build a vocabulary from ``{"checks": {id: {...}}, "planned": {name: {...}}}`` (the phrases.yml shape);
    the plugin can feed the phrases of its check markers the same way."""
    checks: list[CheckPhrases] = []
    for section, planned in (("checks", False), ("planned", True)):
        entries = data.get(section) or {}
        if not isinstance(entries, Mapping):
            raise ValueError(f"{source}: {section}: expected a mapping")
        for check_id in sorted(entries):  # sorted: the output order never depends on the file's order
            checks.append(_entry(str(check_id), entries[check_id], planned, f"{source}: {section}.{check_id}"))
    spread: dict[str, int] = {}
    for check in checks:
        words = {t for p in check.phrases for slot in p.slots for alt in slot.alternatives for t in alt}
        for word in words:
            spread[word] = spread.get(word, 0) + 1
    return Vocabulary(tuple(checks), spread)


def load_vocabulary(path: str | Path) -> Vocabulary:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping with 'checks' and 'planned'")
    return vocabulary_from_mapping(data, str(path))


# --------------------------------------------------------------------------------------------- matching

THRESHOLD = 0.6
SIDE_ALONE = 0.9  # a match in one side of "A and B" answers the item alone (the rest attested) from this confidence
WINDOW_SLACK = 3  # required words may sit this many tokens apart (per required word) and still belong together


@dataclass(frozen=True)
class Match:
    check_id: str
    planned: bool
    phrase: str
    words: tuple[str, ...]  # the item's own words that matched (as written)
    confidence: float
    reason: str


@dataclass(frozen=True)
class ItemResult:
    item: Item
    matches: tuple[Match, ...]  # catalog checks that answer the item, best first
    planned: tuple[Match, ...]  # planned check areas that would answer it
    rejected: tuple[str, ...] = field(default=())  # candidate matches set aside, and why
    intents: tuple[str, ...] = ()
    unanswered: tuple[str, ...] = ()  # clauses of the item that none of its matched checks speaks to

    @property
    def manual(self) -> bool:
        return not self.matches

    @property
    def check_ids(self) -> tuple[str, ...]:
        return tuple(m.check_id for m in self.matches)


def _intents(item_toks: Iterable[str]) -> set[str]:
    found: set[str] = set()
    toks = set(item_toks)
    for intent, words in _INTENT_NORM.items():
        if toks & words:
            found.add(intent)
    return found


def _content(toks: Sequence[str]) -> list[int]:
    """Positions of the words that carry the item's subject."""
    all_intent = set().union(*_INTENT_NORM.values())
    # Numbers and measurements ("15min", "26h", "p95") qualify the subject; they are not it.
    return [i for i, t in enumerate(toks) if t not in _FILLER_NORM and t not in all_intent
            and not any(ch.isdigit() for ch in t) and len(t) > 1]


@dataclass(frozen=True)
class _Hit:
    used: frozenset[int]  # item positions the phrase's words claimed
    required: frozenset[int]  # of those, the positions of required words
    explained: frozenset[int]  # item positions whose word is any alternative of a slot that matched
    slots_hit: int
    from_context: bool


class _Candidate(NamedTuple):
    check: CheckPhrases
    match: Match
    words: frozenset[str]  # the item's words the phrase's required slots claimed
    said: frozenset[str]  # every item word the phrase explains
    side: bool  # found in one side of "A and B" only


def _match_phrase(phrase: Phrase, text: Text, context: set[str]) -> _Hit | None:
    """How the phrase matches the item, or None when it does not."""
    used: set[int] = set()
    required: set[int] = set()
    positions: list[int] = []
    slots_hit = 0
    from_context = False
    hit_slots: list[Slot] = []
    for slot in phrase.slots:
        hit: list[int] = []
        for alt in slot.alternatives:
            for start in text.find(alt):
                span = list(range(start, start + len(alt)))
                if not used.intersection(span):  # two slots never claim the same word
                    hit = span
                    break
            if hit:
                break
        if hit:
            used.update(hit)
            hit_slots.append(slot)
            if not slot.optional:
                positions.append(hit[0])
                required.update(hit)
            slots_hit += 1
            continue
        if slot.context and any(all(any(same_word(t, c) for c in context) for t in alt) for alt in slot.alternatives):
            slots_hit += 1
            from_context = True
            continue
        if not slot.optional:
            return None
    if positions and max(positions) - min(positions) > WINDOW_SLACK * len(positions) + 2:
        return None  # the words are in the item, but too far apart to be about one thing
    # "SSL/TLS", "SLA/SLO": a second spelling of a word the phrase matched is explained too.
    alts = [a for slot in hit_slots for alt in slot.alternatives if len(alt) == 1 for a in alt]
    explained = used.union(*(text.at(a) for a in alts))
    return _Hit(frozenset(used), frozenset(required), frozenset(explained), slots_hit, from_context)


def _compatible(kind: str, intents: set[str], accepts: frozenset[str], item_kind: str) -> str | None:
    """None when a check of this kind can answer an item with these intents, else why not."""
    extra = intents - accepts
    if "recurring" in intents:
        return "a recurring duty, not a go-live state"
    if item_kind != "task" and kind not in ("approval", "attest", "document"):
        return "a name or date to fill in is vouched for by a person, not proven by a probe"
    if kind in ("state", "evidence"):
        if extra & {"alert"}:
            return "the item asks for an alert, the check proves the current state"
        if extra & {"monitor"}:
            return "the item asks for monitoring, the check proves the current state"
        if "document" in extra and "test" not in intents:
            return "the item asks for a document or a plan, the check proves the current state"
        return None
    if kind == "document":
        if "test" in extra and "document" not in intents:
            return "the item asks for a test or drill, the check proves a document"
        if extra & {"alert", "monitor"}:
            return "the item asks for alerting or monitoring, the check proves a document"
        return None
    if kind == "drill":
        return None if "test" in intents else "the check is a drill; the item does not ask for one to be done"
    if kind == "approval":
        return None if "approve" in intents else "the check is a sign-off; the item does not ask for an approval"
    if kind == "attest":
        return "the item asks for alerting or monitoring" if extra & {"alert", "monitor"} else None
    if kind == "alert":
        return None if "alert" in intents else "the check is an alert rule; the item does not ask for an alert"
    if kind == "monitor":
        return None if intents & {"alert", "monitor"} else "the check is about monitoring; the item does not ask for it"
    return None


def _reason(match_words: list[str], phrase: Phrase, item_plain: str, context_used: bool) -> str:
    quoted = " ".join(dict.fromkeys(match_words))
    text = item_plain if len(item_plain) <= 90 else item_plain[:87] + "..."
    extra = " (with the section heading)" if context_used else ""
    return f"matched '{quoted}' in '{text}' (phrase '{phrase.source}'){extra}"


# Items that list several things in one line ("Automated backups enabled, PITR on, 7 days retention") are
# matched clause by clause as well as whole, so the detail of one clause does not hide another.
_CLAUSE_SPLIT = re.compile(r"\s*(?:[;,]|\s[—–+]\s|\s-\s)\s*")
_LABEL = re.compile(r"^\s*([^:]{1,40}):\s+\S")


_EXAMPLES = re.compile(r"\((?:e\.g\.|i\.e\.|such as|like|incl\.?|including)?[^()]*(?:,|/| or )[^()]*\)", re.I)


def _clauses(plain: str) -> list[str]:
    parts = [p for p in _CLAUSE_SPLIT.split(plain) if p.strip()]
    # Parentheses are asides, never clause boundaries: re-join pieces split inside them.
    out: list[str] = []
    for part in parts:
        if out and out[-1].count("(") > out[-1].count(")"):
            out[-1] += ", " + part
        else:
            out.append(part)
    return out if len(out) > 1 else []


#: What a team writes beside an item to run its list, not what the item asks: "(owner: @bob)",
#: "— due 2026-12-01", an "@alice" to ping.
_BOOKKEEPING = re.compile(r"\((?:owner|owners|assignee|assigned to|by|due|eta|ticket|jira|issue)\s*:[^()]*\)"
                          r"|\s[—–]+\s*(?:due|eta)\b:?\s*\S+"
                          r"|(?<![\w.])@[\w][\w.-]*"
                          r"|\b(?:due|eta):?\s*\d{4}-\d{2}-\d{2}", re.I)


def match_item(item: Item, vocab: Vocabulary, parent: Item | None = None) -> ItemResult:
    plain = " ".join(_BOOKKEEPING.sub(" ", item.plain).split()) or item.plain
    text = read(plain)
    context_src = " ".join([*item.section, parent.plain if parent else ""])
    label = _LABEL.match(plain)
    # The whole item and its "Label:" are context for each clause ("Cookies: secure, httponly").
    context = set(tokens(context_src)) | (set(tokens(label.group(1))) if label else set())
    clauses = _clauses(plain)
    clause_texts = [read(c) for c in clauses]
    # After a bare topic ("Docker: non-root user, healthcheck") each later clause is about that
    # topic: it is also read with it ("Docker healthcheck").  The first clause holds the topic already.
    if label and is_label(label.group(1), topics=True):
        clause_texts += [read(f"{label.group(1)} {c}") for c in clauses[1:]]
    # "A and B" also reads side by side; a side only adds a check to an item other words already answer.
    sides = [read(side) for c in (clauses or [plain]) for side in conjuncts(c)]
    label_text = [read(label.group(1))] if label else []
    parent_text = [read(parent.plain)] if parent else []
    # A parenthesised list gives examples: the item also reads without it ("Security headers (CSP,
    # X-Frame-Options) configured" is about security headers).  Other asides ("(adjust based on
    # load)") may carry the point, and stay.
    bare = " ".join(_EXAMPLES.sub(" ", plain).split())
    bare_text = None
    if bare and bare != " ".join(plain.split()):
        clause_texts.append(bare_text := read(bare))
    intents = _intents(text.toks)
    if _CADENCE.match(plain):
        intents.add("recurring")
    # A sign-off table row or blank under a sign-off heading is an approval even if it only names a role.
    if item.kind in ("table", "signoff") and _intents(context) & {"approve"}:
        intents.add("approve")
    # The innermost heading sets the item's intent too: under "Sign-off" a role is an approval, under
    # "Required metrics" a resource is something to monitor, under "Alerts" something to alert on.
    topic = parent.plain if parent and is_label(parent.plain, topics=True) else ""  # "Alerts" over its sub-items heads them
    section_intents = _intents(tokens(" ".join([*item.section[-1:], topic]))) & {"approve", "monitor", "alert"}
    intents |= section_intents & {"approve"}
    candidates: list[_Candidate] = []
    rejected: list[str] = []
    named = named_in(text.toks) or named_in(context)
    platforms = named_in(text.toks, PLATFORMS) or named_in(context, PLATFORMS)
    parts = []
    for part in (text, *clause_texts, *sides):
        content = _content(part.toks)
        # A side is read last: used only where the rest found too little.
        parts.append((part, any(part is one for one in sides), content, sum(part.weight[i] for i in content)))
    for check in vocab.checks:
        # A veto reads the part matched, the item's "Label:" ("MySQL: ..., replica in sync"), the item
        # it is a sub-item of ("Database connection pooling configured" over "Idle timeout: 30000ms")
        # and, for the item read without its examples, the examples ("Point-in-time recovery (WAL
        # archiving)").  A vetoed part leaves the others: "Secrets in Vault, not in env files in the
        # repo" is about the repository in its second clause.
        best: tuple[float, Phrase, _Hit, Text] | None = None
        best_vetoed: tuple[float, Phrase, _Hit, Text, str] | None = None
        for part, side, content, total in parts:
            if check.anchors is not None and not any(part.at(word) for word in check.anchors):
                continue  # no phrase of the check can match this part
            vetoing = (part, *label_text, *parent_text, *((text,) if part is bare_text else ()))
            veto: str | None = None  # read once a phrase matches the part: the vetoing phrase, or ""
            for phrase in check.phrases:
                found = _match_phrase(phrase, part, context)
                if found is None or not found.used:
                    continue  # nothing, or everything from the context: the item itself says nothing about it
                if veto is None:
                    veto = next((u.source for u in check.unless
                                 if any(_match_phrase(u, seen_in, set()) is not None for seen_in in vetoing)), "")
                coverage = sum(part.weight[i] for i in content if i in found.explained) / total if total else 1.0
                required = len(phrase.required)
                # A required slot whose matched word few checks use counts twice: "HSTS header present" is
                # as clear as "database backups configured".
                specific = sum(1 for i in found.required if vocab.spread.get(part.toks[i], 99) <= SPECIFIC_MAX_CHECKS
                               and part.toks[i] not in _FILLER_NORM)
                units = required + min(specific, 1)
                strength = min(1.0, 0.55 + 0.2 * units + 0.05 * (found.slots_hit - required))
                confidence = round(strength * (0.3 + 0.7 * coverage), 3)
                if veto:
                    if best_vetoed is None or confidence > best_vetoed[0]:
                        best_vetoed = (confidence, phrase, found, part, veto)
                elif best is None or (confidence > best[0] and not (side and best[0] >= THRESHOLD)):
                    best = (confidence, phrase, found, part)
        if best is None:
            if best_vetoed is not None and best_vetoed[0] >= THRESHOLD:
                confidence, phrase, found, part, veto = best_vetoed
                shown = list(dict.fromkeys(part.origin[i] for i in sorted(found.used)))
                rejected.append(f"{check.id}: ruled out by '{veto}' ({_reason(shown, phrase, item.plain, found.from_context)})")
            continue
        confidence, phrase, found, part = best
        shown = list(dict.fromkeys(part.origin[i] for i in sorted(found.used)))
        match = Match(check.id, check.planned, phrase.source, tuple(shown), confidence,
                      _reason(shown, phrase, item.plain, found.from_context))
        if confidence < THRESHOLD:
            vetoed_note = f"; ruled out elsewhere by '{best_vetoed[4]}'" if best_vetoed and best_vetoed[0] >= THRESHOLD else ""
            rejected.append(f"{check.id}: too little of the item explained ({match.reason}, confidence {confidence}){vetoed_note}")
            continue
        # A monitoring or alerting heading rules out checks of the current state ("Required metrics: CPU
        # utilization" is not a load check), but not documents or people ("Monitoring: incident response").
        seen = intents | section_intents if check.kind in ("state", "evidence", "monitor", "alert") else intents
        why_not = _compatible(check.kind, seen, check.accepts, item.kind)
        if why_not:
            rejected.append(f"{check.id}: {why_not} ({match.reason})")
            continue
        for names, own in ((named, check_engines(check.id)), (platforms, check_engines(check.id, PLATFORM_AREAS))):
            if names and own and not names & own:
                rejected.append(f"{check.id}: about {' and '.join(sorted(own))}, the item names {' and '.join(sorted(names))} ({match.reason})")
                break
        else:
            said = frozenset(part.toks[i] for i in found.explained) - _FILLER_NORM
            candidates.append(_Candidate(check, match, frozenset(part.toks[i] for i in found.required), said, any(part is x for x in sides)))
    # A match found in one side of "A and B" alone counts where the rest of the item is answered and
    # it explains words the other matches do not ("SPF, DKIM and DMARC records": dns-09 beside dns-04).
    whole = frozenset().union(*(c.said for c in candidates if not c.side))
    ok = [c for c in candidates if not c.side or (whole and not c.said <= whole) or (not whole and c.match.confidence >= SIDE_ALONE)]
    rejected += [f"{c.check.id}: speaks to one side of the item only, which the other matches answer or none does ({c.match.reason})"
                 for c in candidates if c not in ok]
    candidates = ok
    # Drop a match whose required words are a strict subset of another's: the more specific check wins.
    kept = [
        (c.check, c.match) for c in candidates if not any(c.words < other.words for other in candidates)
    ]
    for check, match, words, _, _ in candidates:
        if any(words < other.words for other in candidates):
            rejected.append(f"{check.id}: a more specific check matched more of the item ({match.reason})")
    kept.sort(key=lambda cm: (-cm[1].confidence, cm[0].id))
    answering = [c for c, _ in kept if not c.planned]
    return ItemResult(
        item=item,
        matches=tuple(m for c, m in kept if not c.planned),
        planned=tuple(m for c, m in kept if c.planned),
        rejected=tuple(rejected),
        intents=tuple(sorted(intents | section_intents)),
        unanswered=unanswered_clauses(plain, answering) if answering else (),
    )


#: A clause is spoken to when its matched checks' phrase words explain at least this share of its subject.
CLAUSE_ANSWERED = 0.5


def unanswered_clauses(plain: str, checks: Sequence[CheckPhrases]) -> tuple[str, ...]:
    """The clauses of an item that list several conditions which none of ``checks`` speaks to:
    "Only key-based SSH, port not 22" is answered by the SSH login checks in its first clause only.

    A clause counts as spoken to when the checks' phrase words (any alternative, any phrase) explain
    half of its subject, so a clause that leans on the first one's subject ("Cookies Secure, HttpOnly
    and SameSite"; "Images pinned by digest, no :latest") is not a gap.  A clause with no subject of
    its own ("tested", "documented") leans on the rest of the item; a leading topic ("Payments API -
    TLS certificate valid") names what the item is about, not a condition; clauses after a label
    that says what must be true ("SLOs defined: 99.95% availability, p99 < 500ms") detail it."""
    words = {t for check in checks for p in check.phrases for slot in p.slots for alt in slot.alternatives for t in alt}
    # After a label that is a condition of its own ("SLOs defined: 99.95% availability, p99 < 500ms")
    # the clauses detail it; after a bare topic ("Firewall: only 80/443 open, SSH via VPN") each is one.
    label = _LABEL.match(plain)
    details = label is not None and not is_label(label.group(1))
    out: list[str] = []
    # Each side of "A and B" is a condition too ("Privacy notice and accessibility statement published").
    clauses = _clauses(plain)
    for n, clause in enumerate(clauses or [plain]):
        if n and details:
            break
        sides = conjuncts(clause)
        for k, piece in enumerate([*([clause] if clauses else []), *sides]):
            part = read(piece)
            content = _content(part.toks)
            total = sum(part.weight[i] for i in content)
            # A leading topic names what the item is about; a later side that reads like one ("Privacy
            # notice and cookie banner", "in transit and at rest") is a condition.
            leads = k == 0 or (clauses and k == 1)
            if not total or (n == 0 and leads and is_label(piece)):
                continue
            known = [any(same_word(w, part.toks[i]) for w in words) for i in content]
            explained = sum(part.weight[i] for i, hit in zip(content, known, strict=True) if hit)
            # One side of "A and B" ends on what sets it apart ("Data encrypted at rest and in
            # transit": "at rest"); the words it shares with the other side do not answer it.  A side
            # that ends on its state ("Docker images built") is judged by its subject.
            apart = len(sides) > 1 and piece in sides and not known[-1] and not _states(part.toks[content[-1]])
            if explained / total < CLAUSE_ANSWERED or apart:
                out.append(" ".join(piece.split()))
                break
    return tuple(out)


#: Words that say a side's state rather than what it is about ("built", "done").  Regular
#: participles ("configured", "tagged") arrive stemmed ("configur", "tag") and are not told apart.
_STATE_WORDS = frozenset({"built", "done", "set", "run", "made", "up", "on", "off", "ready", "live", "green", "place"})


def _states(tok: str) -> bool:
    return tok in _STATE_WORDS


def is_label(plain: str, topics: bool = False) -> bool:
    """Whether an item's text only names a topic ("Cluster", "Supply chain", "Ops"): at most two
    words that say what, none that says what should be true of it.  Over sub-items, such an item
    is their heading, not a condition of its own.  ``topics``: "Alerts", "Dashboards" count too
    (before a colon they head a list: "Alerts: 5xx rate, p99 latency")."""
    toks = tokens(plain)
    allowed = {"alert", "monitor"} if topics else set()
    content = [t for t in toks if t not in _FILLER_NORM] if topics else _content(toks)
    return 0 < len(toks) <= 2 and len(content) == len(toks) and not _intents(toks) - allowed


def match_checklist(items: Sequence[Item], vocab: Vocabulary) -> list[ItemResult]:
    """Match every item, in checklist order; the same input always gives the same output."""
    by_key = {item.key: item for item in items}
    return [match_item(item, vocab, by_key.get(item.parent) if item.parent else None) for item in items]

