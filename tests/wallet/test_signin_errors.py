"""The sign-in error tree that other packages catch: one base, stable codes, clear texts."""

from __future__ import annotations

import inspect

import pytest

from wallet import errors, siwe, siws

ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, Exception) and cls.__module__ == errors.__name__
]


def test_every_error_is_a_verification_error_with_its_own_code() -> None:
    assert {cls.__name__ for cls in ERRORS} >= {
        "VerificationError",
        "MalformedMessage",
        "InvalidSignature",
        "Expired",
        "NotYetValid",
        "DomainMismatch",
        "NonceMismatch",
        "ChainMismatch",
        "AddressMismatch",
        "InvalidAddress",
    }
    assert all(issubclass(cls, errors.VerificationError) for cls in ERRORS)
    codes = [cls.code for cls in ERRORS]
    assert len(set(codes)) == len(codes)
    assert all(code.isidentifier() and code.islower() for code in codes)
    assert issubclass(errors.InvalidAddress, errors.MalformedMessage)
    assert set(errors.__all__) == {cls.__name__ for cls in ERRORS}


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda: siwe.parse("hello"), errors.MalformedMessage, "line 1"),
        (lambda: siwe.signature_bytes("0xabc"), errors.InvalidSignature, "hex"),
        (lambda: siws.signature_bytes(b"\0" * 63), errors.InvalidSignature, "63 bytes"),
        (lambda: siws.public_key("0OIl"), errors.InvalidAddress, "0OIl"),
    ],
)
def test_errors_name_what_failed(call: object, error: type[Exception], named: str) -> None:
    with pytest.raises(error, match=named):
        call()  # type: ignore[operator]
