"""`python -m miniapps.examples.quiz --gateway URL --app-id ID --secret S [--port 8090]`."""

from __future__ import annotations

import argparse
import os

import uvicorn

from miniapps.examples.quiz.app import QuizConfig, create_quiz_app


def main() -> None:
    parser = argparse.ArgumentParser(description="The daily quiz, a Townsquare example app.")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--app-id", default=os.environ.get("QUIZ_APP_ID", ""), required=False)
    parser.add_argument("--secret", default=os.environ.get("QUIZ_SECRET", ""), required=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument(
        "--webapp-script",
        default="",
        help="Telegram's WebApp script; default: the gateway's local one (for the sandbox)",
    )
    args = parser.parse_args()
    if not args.app_id or not args.secret:
        parser.error("--app-id and --secret (or QUIZ_APP_ID and QUIZ_SECRET) are required")
    gateway = args.gateway.rstrip("/")
    config = QuizConfig(
        gateway=gateway,
        app_id=args.app_id,
        secret=args.secret,
        webapp_script=args.webapp_script or f"{gateway}/static/telegram-web-app.js",
    )
    uvicorn.run(create_quiz_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
