"""The EIP-4361 text grammar, and the RFC 3986 / RFC 3339 rules it shares with SIWS.

Pure functions over strings, written from the ABNF of EIP-4361 and the RFCs (no ABNF engine):
`split_siwe` turns message text into raw field values, `render_siwe` is its inverse, and
`validate_siwe` checks each field. Character classes are spelled out in ASCII on purpose:
Python's ``\\d`` and ``str.isdigit`` also accept non-ASCII digits, which the grammars do not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from wallet.errors import InvalidAddress, MalformedMessage

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
NONCE = re.compile(r"[A-Za-z0-9]{8,}")
# statement = *( reserved / unreserved / " " ): printable ASCII minus " % < > \ ^ ` { | }.
STATEMENT = re.compile(rf"[{_UNRESERVED}:/?#\[\]@{_SUB_DELIMS} ]*")
REQUEST_ID = re.compile(rf"{_PCHAR}*")

_USERINFO = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*")
# IPv4address is a subset of reg-name, so a host is either an IP-literal or a reg-name.
_REG_NAME = re.compile(rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*")
_PORT = re.compile(r"[0-9]*")
_IPV_FUTURE = re.compile(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+")
_PATH_ABEMPTY = re.compile(rf"(?:/{_PCHAR}*)*")
_PATH = re.compile(rf"(?:{_PCHAR}|/)*")
_QUERY_OR_FRAGMENT = re.compile(rf"(?:{_PCHAR}|[/?])*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)

SIWE_HEADER = " wants you to sign in with your Ethereum account:"
_REQUIRED_LINES = (
    ("uri", "URI: "),
    ("version", "Version: "),
    ("chain_id", "Chain ID: "),
    ("nonce", "Nonce: "),
    ("issued_at", "Issued At: "),
)
_OPTIONAL_LINES = (
    ("expiration_time", "Expiration Time: "),
    ("not_before", "Not Before: "),
    ("request_id", "Request ID: "),
)


def _ipv6_pattern() -> re.Pattern[str]:
    """IPv6address exactly as RFC 3986 section 3.2.2 writes its nine alternatives."""
    h16 = "[0-9A-Fa-f]{1,4}"
    octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    ls32 = rf"(?:{h16}:{h16}|{octet}(?:\.{octet}){{3}})"

    def head(most: int) -> str:
        return rf"(?:(?:{h16}:){{0,{most}}}{h16})?"

    forms = [
        rf"(?:{h16}:){{6}}{ls32}",
        rf"::(?:{h16}:){{5}}{ls32}",
        rf"{head(0)}::(?:{h16}:){{4}}{ls32}",
        rf"{head(1)}::(?:{h16}:){{3}}{ls32}",
        rf"{head(2)}::(?:{h16}:){{2}}{ls32}",
        rf"{head(3)}::{h16}:{ls32}",
        rf"{head(4)}::{ls32}",
        rf"{head(5)}::{h16}",
        rf"{head(6)}::",
    ]
    return re.compile("|".join(f"(?:{form})" for form in forms))


IPV6 = _ipv6_pattern()

_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


def is_authority(value: str, *, require_host: bool) -> bool:
    """Whether ``value`` is an RFC 3986 ``authority`` (``[userinfo "@"] host [":" port]``).

    Args:
        value: the candidate authority.
        require_host: refuse an empty host; RFC 3986 allows one, a sign-in domain may not.
    """
    userinfo, at, hostport = value.rpartition("@")
    if at and not _USERINFO.fullmatch(userinfo):
        return False
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or not (IPV6.fullmatch(host) or _IPV_FUTURE.fullmatch(host)):
            return False
        if rest and not rest.startswith(":"):
            return False
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
        if not _REG_NAME.fullmatch(host) or (require_host and not host):
            return False
    return bool(_PORT.fullmatch(port))


def is_uri(value: str) -> bool:
    """Whether ``value`` is an absolute RFC 3986 ``URI`` (scheme, hier-part, query, fragment)."""
    match = _URI.fullmatch(value)
    if match is None:
        return False
    hier, query, fragment = match.group(2, 3, 4)
    for part in (query, fragment):
        if part is not None and not _QUERY_OR_FRAGMENT.fullmatch(part):
            return False
    if hier.startswith("//"):
        authority, slash, path = hier[2:].partition("/")
        return is_authority(authority, require_host=False) and bool(
            _PATH_ABEMPTY.fullmatch(slash + path)
        )
    # path-absolute / path-rootless / path-empty: pchars and slashes, never a leading "//".
    return bool(_PATH.fullmatch(hier))


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 ``date-time`` into an aware UTC datetime.

    Fractions beyond microseconds are truncated; a leap second (``:60``) becomes the next second.

    Raises:
        ValueError: when ``value`` is not a valid date-time (including impossible dates).
    """
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10)
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"{value!r} has an out-of-range time of day")
    tz = UTC
    if sign is not None:
        hours, minutes = int(offset_hours), int(offset_minutes)
        if hours > 23 or minutes > 59:
            raise ValueError(f"{value!r} has an out-of-range UTC offset")
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if sign == "-" else delta)
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), micros, tzinfo=tz)
        if second == 60:
            moment += timedelta(seconds=1)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not a valid date: {exc}") from exc


def format_datetime(moment: datetime) -> str:
    """Render an aware datetime as RFC 3339 in UTC with milliseconds, like JavaScript's
    ``Date.toISOString`` (``2024-01-02T03:04:05.678Z``).

    Raises:
        ValueError: when ``moment`` is naive.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moment must be timezone-aware")
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def check(ok: object, problem: str) -> None:
    """Raise `MalformedMessage` with ``problem`` unless ``ok`` is truthy."""
    if not ok:
        raise MalformedMessage(problem)


def is_text(value: object, pattern: re.Pattern[str]) -> bool:
    """Whether ``value`` is a string that ``pattern`` matches in full."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_time(name: str, value: object, *, optional: bool) -> None:
    """Check that ``value`` is an RFC 3339 date-time string (or None when ``optional``).

    Raises:
        MalformedMessage: naming ``name`` and the problem.
    """
    if value is None and optional:
        return
    check(isinstance(value, str), f"{name} must be an RFC 3339 date-time string")
    try:
        parse_datetime(str(value))
    except ValueError as exc:
        raise MalformedMessage(f"{name}: {exc}") from exc


def check_origin(scheme: object, domain: object) -> None:
    """Check the optional scheme and the domain (an RFC 3986 authority with a non-empty host).

    Raises:
        MalformedMessage: naming the bad part.
    """
    check(scheme is None or is_text(scheme, SCHEME), f"scheme {scheme!r} is not RFC 3986")
    check(
        isinstance(domain, str) and is_authority(domain, require_host=True),
        f"domain {domain!r} is not an RFC 3986 authority",
    )


def check_resources(resources: object) -> None:
    """Check that ``resources`` is None or a tuple of RFC 3986 URIs.

    Raises:
        MalformedMessage: naming the first bad resource.
    """
    if resources is None:
        return
    if not isinstance(resources, tuple):
        raise MalformedMessage("resources must be a list of URIs")
    for resource in resources:
        check(isinstance(resource, str) and is_uri(resource), f"bad resource {resource!r}")


def read_optional_lines(
    lines: list[str], at: int, tags: Sequence[tuple[str, str]], values: dict[str, Any]
) -> None:
    """Read ``lines[at:]``: optional ``tag value`` lines in the order of ``tags``, then an
    optional ``Resources:`` line with its ``- URI`` lines, then nothing else.

    Raises:
        MalformedMessage: a line is out of order, unknown, or trailing.
    """
    for name, tag in tags:
        if at < len(lines) and lines[at].startswith(tag):
            values[name] = lines[at][len(tag) :]
            at += 1
    if at < len(lines) and lines[at] == "Resources:":
        at += 1
        values["resources"] = []
        while at < len(lines) and lines[at].startswith("- "):
            values["resources"].append(lines[at][2:])
            at += 1
    if at < len(lines):
        raise MalformedMessage(f"line {at + 1} is unexpected or out of order: {lines[at]!r}")


def validate_siwe(m: Any) -> None:
    """Check every field of an EIP-4361 message object against the grammar.

    Raises:
        MalformedMessage: a field breaks the grammar.
        InvalidAddress: the address is not EIP-55 checksummed.
    """
    check_origin(m.scheme, m.domain)
    check(is_text(m.address, _ADDRESS), f"address {m.address!r} is not 0x and 40 hex digits")
    from eth_utils import to_checksum_address  # loaded on first use, not at start-up

    if to_checksum_address(m.address) != m.address:
        raise InvalidAddress(f"address {m.address!r} fails its EIP-55 checksum")
    check(
        m.statement is None or is_text(m.statement, STATEMENT),
        f"statement {m.statement!r} has characters outside RFC 3986 reserved/unreserved/space",
    )
    check(isinstance(m.uri, str) and is_uri(m.uri), f"uri {m.uri!r} is not RFC 3986")
    check(m.version == "1", f"version must be '1', not {m.version!r}")
    check(
        type(m.chain_id) is int and m.chain_id >= 0,
        f"chain id must be a non-negative int, not {m.chain_id!r}",
    )
    check(is_text(m.nonce, NONCE), f"nonce {m.nonce!r} is not 8+ letters or digits")
    check_time("issued_at", m.issued_at, optional=False)
    check_time("expiration_time", m.expiration_time, optional=True)
    check_time("not_before", m.not_before, optional=True)
    check(
        m.request_id is None or is_text(m.request_id, REQUEST_ID),
        f"request id {m.request_id!r} is not RFC 3986 pchars",
    )
    check_resources(m.resources)


def split_siwe(text: str) -> dict[str, Any]:
    """Split EIP-4361 text into its fields, enforcing the line layout (fields in order, no
    trailing newline). Field values are checked later, by `validate_siwe`.

    Raises:
        MalformedMessage: the layout breaks the grammar.
    """
    check(isinstance(text, str), "message must be text")
    lines = text.split("\n")
    header = lines[0]
    check(header.endswith(SIWE_HEADER), f"line 1 must end with {SIWE_HEADER.strip()!r}")
    # No "/" can occur in an authority, so a "://" can only end the optional scheme.
    scheme, separator, domain = header[: -len(SIWE_HEADER)].rpartition("://")
    values: dict[str, Any] = {"scheme": scheme if separator else None, "domain": domain}
    check(len(lines) > 5, "the message is too short")
    check(lines[2] == "", "line 3 (after the address) must be blank")
    values["address"] = lines[1]
    at = 4
    # "[ statement LF ] LF": a blank line 4 followed by a blank line 5 is an empty statement.
    if lines[3] != "" or lines[4] == "":
        values["statement"] = lines[3]
        check(lines[4] == "", "the statement must be one line followed by a blank line")
        at = 5
    for name, tag in _REQUIRED_LINES:
        line = lines[at] if at < len(lines) else ""
        check(line.startswith(tag), f"line {at + 1} must start with {tag!r}")
        values[name] = line[len(tag) :]
        at += 1
    read_optional_lines(lines, at, _OPTIONAL_LINES, values)
    chain = values["chain_id"]
    # Bounded so int() stays cheap; no chain id exceeds a uint256 (78 digits).
    check(re.fullmatch(r"[0-9]{1,78}", chain), f"chain id {chain!r} is not 1 to 78 digits")
    values["chain_id"] = int(chain)
    return values


def render_siwe(m: Any) -> str:
    """Render a validated EIP-4361 message object as the exact text its wallet signs."""
    origin = f"{m.scheme}://{m.domain}" if m.scheme else m.domain
    lines = [origin + SIWE_HEADER, m.address, ""]
    if m.statement is not None:
        lines.append(m.statement)
    lines.append("")
    lines.extend(f"{tag}{getattr(m, name)}" for name, tag in _REQUIRED_LINES)
    lines.extend(
        f"{tag}{getattr(m, name)}" for name, tag in _OPTIONAL_LINES if getattr(m, name) is not None
    )
    if m.resources is not None:
        lines.append("Resources:")
        lines.extend(f"- {resource}" for resource in m.resources)
    return "\n".join(lines)
