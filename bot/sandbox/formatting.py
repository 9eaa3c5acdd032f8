"""Message text as Telegram stores it: parse modes turned into plain text plus entities.

Offsets and lengths count UTF-16 code units, as Telegram's do. Pure functions only.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from bot.sandbox.errors import bad_request

Entity = dict[str, Any]

SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
# Telegram finds these in every message, whatever the parse mode.
AUTO_PATTERNS = (
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?!\w)")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}(?!\w)")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
)
# Entities inside which nothing else is detected.
OPAQUE = frozenset({"code", "pre", "text_link", "url"})


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Builder:
    """Accumulates plain text and tracks the UTF-16 offset as it grows."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[Entity] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def close(self, entity: Entity, start: int) -> None:
        if self.offset > start:
            self.entities.append({**entity, "offset": start, "length": self.offset - start})

    def result(self) -> tuple[str, list[Entity]]:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


class _HTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Builder()
        self.stack: list[tuple[str, Entity | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        entity: Entity | None
        if tag in SIMPLE_TAGS:
            entity = {"type": SIMPLE_TAGS[tag]}
            if tag == "blockquote" and "expandable" in values:
                entity = {"type": "expandable_blockquote"}
            parent = self.stack[-1] if self.stack else None
            if tag == "code" and parent is not None and parent[0] == "pre":
                # `<pre><code class="language-x">` is one pre entity with a language.
                language = (values.get("class") or "").removeprefix("language-")
                if language and parent[1] is not None:
                    parent[1]["language"] = language
                entity = None
        elif tag == "a":
            entity = {"type": "text_link", "url": values.get("href") or ""}
        elif tag == "span" and values.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": values.get("emoji-id") or ""}
        else:
            raise bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.stack.append((tag, entity, self.out.offset))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            raise bad_request(f'can\'t parse entities: Unexpected end tag "{tag}"')
        _, entity, start = self.stack.pop()
        if entity is not None:
            self.out.close(entity, start)

    def handle_data(self, data: str) -> None:
        self.out.add(data)


def parse_html(text: str) -> tuple[str, list[Entity]]:
    parser = _HTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1][0]
        raise bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        )
    return parser.out.result()


MD2_RESERVED = set("_*[]()~`>#+-=|{}.!\\")
MD2_MARKS = (
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)
MD2_LINK = re.compile(r"\[((?:[^\]\\]|\\.)*)\]\(((?:[^)\\]|\\.)*)\)")


def _md2_code(text: str, i: int, out: _Builder) -> int:
    """A ```pre``` block or an inline `code` span starting at `i`; returns where it ends."""
    fence = "```" if text.startswith("```", i) else "`"
    end = text.find(fence, i + len(fence))
    if end < 0:
        kind = "Pre" if fence == "```" else "Code"
        raise bad_request(f"can't parse entities: Can't find end of {kind} entity")
    body = text[i + len(fence) : end]
    entity: Entity = {"type": "code"}
    if fence == "```":
        entity = {"type": "pre"}
        if "\n" in body:
            language, body = body.split("\n", 1)
            if language:
                entity["language"] = language
    start = out.offset
    out.add(body.replace("\\`", "`").replace("\\\\", "\\"))
    out.close(entity, start)
    return end + len(fence)


def _md2_link(link: re.Match[str], out: _Builder) -> int:
    inner, inner_entities = parse_markdown_v2(link.group(1))
    start = out.offset
    for entity in inner_entities:
        out.entities.append({**entity, "offset": entity["offset"] + start})
    out.add(inner)
    out.close({"type": "text_link", "url": re.sub(r"\\(.)", r"\1", link.group(2))}, start)
    return link.end()


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    out = _Builder()
    open_marks: dict[str, int] = {}
    i = 0
    while i < len(text):
        char = text[i]
        mark = next((m for m in MD2_MARKS if text.startswith(m[0], i)), None)
        if char == "\\" and i + 1 < len(text):
            out.add(text[i + 1])
            i += 2
        elif char == "`":
            i = _md2_code(text, i, out)
        elif char == "[" and (link := MD2_LINK.match(text, i)):
            i = _md2_link(link, out)
        elif mark is not None:
            token, kind = mark
            if token in open_marks:
                out.close({"type": kind}, open_marks.pop(token))
            else:
                open_marks[token] = out.offset
            i += len(token)
        elif char in MD2_RESERVED:
            raise bad_request(
                f"can't parse entities: Character '{char}' is reserved and must be escaped "
                "with the preceding '\\'"
            )
        else:
            out.add(char)
            i += 1
    if open_marks:
        raise bad_request("can't parse entities: Can't find end of the entity")
    return out.result()


MD_LEGACY = re.compile(r"\*([^*]+)\*|_([^_]+)_|```([^`]+)```|`([^`]+)`|\[([^\]]+)\]\(([^)]+)\)")


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    out = _Builder()
    position = 0
    for match in MD_LEGACY.finditer(text):
        out.add(text[position : match.start()])
        start = out.offset
        bold, italic, pre, code, label, url = match.groups()
        out.add(bold or italic or pre or code or label)
        kind = "bold" if bold else "italic" if italic else "pre" if pre else "code"
        out.close({"type": "text_link", "url": url} if label else {"type": kind}, start)
        position = match.end()
    out.add(text[position:])
    return out.result()


def _utf16_offsets(text: str) -> list[int]:
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + (2 if ord(char) > 0xFFFF else 1))
    return offsets


def auto_entities(text: str, explicit: list[Entity]) -> list[Entity]:
    """Commands, URLs, mentions and hashtags, except where an opaque entity already covers."""
    offsets = _utf16_offsets(text)
    covered = [(e["offset"], e["offset"] + e["length"]) for e in explicit if e["type"] in OPAQUE]
    found: list[Entity] = []
    for kind, pattern in AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start, end = offsets[match.start()], offsets[match.end()]
            spans = covered + [(e["offset"], e["offset"] + e["length"]) for e in found]
            if any(start < b and a < end for a, b in spans):
                continue
            found.append({"type": kind, "offset": start, "length": end - start})
    return found


def check_entities(text: str, entities: Any) -> list[Entity]:
    """Explicit entities as a bot may send them: typed spans inside the text."""
    if not isinstance(entities, list):
        raise bad_request("can't parse entities: an Array of MessageEntity is expected")
    size = utf16_len(text)
    checked = []
    for entity in entities:
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise bad_request("can't parse entities: a MessageEntity needs a type")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request("can't parse entities: wrong entity offset or length")
        if offset < 0 or length <= 0 or offset + length > size:
            raise bad_request("can't parse entities: wrong entity offset or length")
        checked.append(dict(entity))
    return checked


def format_text(
    text: str, parse_mode: str | None = None, entities: list[Entity] | None = None
) -> tuple[str, list[Entity]]:
    """The stored text and entities of a message sent with a parse mode or explicit entities."""
    mode = (parse_mode or "").lower()
    if entities:
        plain, explicit = text, check_entities(text, entities)
    elif mode == "html":
        plain, explicit = parse_html(text)
    elif mode == "markdownv2":
        plain, explicit = parse_markdown_v2(text)
    elif mode == "markdown":
        plain, explicit = parse_markdown(text)
    elif mode:
        raise bad_request(f"unsupported parse_mode {parse_mode}")
    else:
        plain, explicit = text, []
    merged = explicit + auto_entities(plain, explicit)
    return plain, sorted(merged, key=lambda e: (e["offset"], -e["length"]))
