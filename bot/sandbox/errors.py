"""The sandbox's one error type, worded the way the Bot API words its errors."""

from __future__ import annotations


class SandboxError(Exception):
    """A refused request: `description` is Telegram's text, `code` its HTTP status."""

    def __init__(self, description: str, code: int = 400, *, retry_after: int | None = None):
        super().__init__(description)
        self.description = description
        self.code = code
        self.retry_after = retry_after

    def payload(self) -> dict[str, object]:
        body: dict[str, object] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> SandboxError:
    return SandboxError(f"Bad Request: {reason}", 400)


def forbidden(reason: str) -> SandboxError:
    return SandboxError(f"Forbidden: {reason}", 403)


def too_many_requests(retry_after: int) -> SandboxError:
    return SandboxError(
        f"Too Many Requests: retry after {retry_after}", 429, retry_after=retry_after
    )


CHAT_NOT_FOUND = "chat not found"
USER_NOT_FOUND = "user not found"
NOT_ENOUGH_RIGHTS = "not enough rights"
