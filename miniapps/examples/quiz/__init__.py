"""A daily quiz: an example builder Mini App written only against Townsquare's public surface.

Its page uses Telegram's WebApp script and the gateway's `/sdk.js`; its backend verifies the
member token with the gateway's JWKS (fetched once, no call per request) and reports a correct
answer through `POST /v1/events` with an idempotency key, once per member, group and day. The
group's rules price the `quiz_correct` event (`/setrules app_events.quiz_correct=5`).

Run it against the sandbox: register it with `/newapp Daily quiz http://127.0.0.1:8090/`, enable
it in a group with `/enableapp APP_ID`, then
`python -m miniapps.examples.quiz --gateway http://127.0.0.1:8080 --app-id APP_ID --secret S`.
"""
