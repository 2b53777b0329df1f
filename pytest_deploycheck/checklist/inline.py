"""Inline Markdown of a checklist line, read the way a person reads it: ``plain_text`` (the words a
reader sees: code spans keep their content, links their label, emphasis and layout HTML go) and
``slug`` (a stable key for an item's text)."""

from __future__ import annotations

import re
import unicodedata

#: A blank to fill in ("Engineering Lead: ______"): not emphasis, and what makes a sign-off line.
BLANK_FIELD = re.compile(r"_{3,}")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>")
# HTML a checklist uses for layout; any other <word> is a placeholder the team wrote ("<date>_<feed>.csv").
_HTML_TAG = re.compile(r"</?(?:a|abbr|b|br|code|del|details|div|em|font|h[1-6]|hr|i|img|ins|kbd|mark|p|s|small|span|strike|strong|"
                       r"sub|summary|sup|table|td|th|tr|tt|u)(?:\s[^<>]*)?/?>", re.I)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_EM_UNDER = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_SPACES = re.compile(r"\s+")


def plain_text(markdown: str) -> str:
    """Inline Markdown to the words a reader sees: code spans keep their content, links their label,
    emphasis and HTML tags go."""
    spans: list[str] = []

    def keep(m: re.Match[str]) -> str:
        spans.append(m.group(2).strip())
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(keep, markdown)  # first: nothing inside a code span is Markdown
    text = BLANK_FIELD.sub("\x01", text)  # a fill-in blank is not emphasis
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    for _ in range(3):  # nested emphasis (***x***, **_x_**)
        text = _STRONG.sub(r"\2", text)
        text = _EM_STAR.sub(r"\1", text)
        text = _EM_UNDER.sub(r"\1", text)
        text = _STRIKE.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)
    text = text.replace("\x01", "____")
    return _SPACES.sub(" ", text).strip()


def slug(text: str, limit: int) -> str:
    """Lowercase ASCII words joined by '-'; words with no ASCII letter or digit at all (emoji, mojibake
    of emoji) are dropped, accented letters folded.  Cut at a word boundary."""
    words: list[str] = []
    for raw in re.split(r"[^\w]+|_", text):
        if not re.search(r"[A-Za-z0-9]", raw):
            continue
        folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode().lower()
        folded = re.sub(r"[^a-z0-9]", "", folded)
        if folded:
            words.append(folded)
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "")
