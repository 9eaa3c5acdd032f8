"""Every user-facing text of the bot, in one place, translated through gettext (domain `messages`).

Run `make i18n` after changing a text: it extracts the catalogue and compiles the translations.
"""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _


def start(name: str) -> str:
    return _(
        "Hello, {name}! I am Townsquare, the community bot of your groups.\n"
        "Every point I give has a visible reason, you link your own wallets by signing, "
        "and token claims can be checked by anyone.\n"
        "Send /help to see what I can do."
    ).format(name=name)


def help_text() -> str:
    return _(
        "What I can do:\n"
        "/start - introduction\n"
        "/help - this list\n"
        "/points - your points in each of your groups, with the reasons\n"
        "In groups: /points, /top (leaderboard), /rules (how points are earned), "
        "/invite (your own invite link).\n"
        "Managers: /setrules, /grant, /penalize, /flags, /exclude, /clear, "
        "/campaign, /epoch, /epochs, /close (end the epoch, preview and publish its token "
        "claims), /dashboard, /enableapp and /disableapp (a builder's app in the group).\n"
        "Builders, here in private: /newapp NAME [URL] registers a Mini App and shows its "
        "credentials once."
    )


def added_to_group(title: str) -> str:
    return _(
        "Thanks for adding me to {title}! Make me an admin so that I can see reactions, "
        "new members and join requests."
    ).format(title=title)


def added_as_admin(title: str) -> str:
    return _(
        "Thanks for adding me to {title}! Members earn points for taking part: /rules shows "
        "how, /points and /top show the scores."
    ).format(title=title)


def group_help() -> str:
    return _(
        "Here: /points, /top, /rules, /invite. "
        "Write to me in a private chat for the full list of commands."
    )


# Engagement: what members see.


def kind_label(kind: str) -> str:
    labels = {
        "message": _("messages"),
        "reply": _("replies to your messages"),
        "reaction": _("reactions to your messages"),
        "invite": _("members you invited"),
        "grant": _("grants from managers"),
        "penalty": _("penalties"),
        "app": _("mini-app activity"),
    }
    return labels.get(kind, kind)


def reason_label(rule: str) -> str:
    labels = {
        "cooldown": _("too soon after your last counted message"),
        "duplicate": _("repeats one of your recent messages"),
        "too_short": _("too short"),
        "links_only": _("only links"),
        "emoji_only": _("only emoji or symbols"),
        "no_text": _("no text (sticker or media)"),
        "forwarded": _("forwarded"),
        "daily_cap": _("daily cap reached"),
        "diminishing": _("diminishing returns for the day"),
        "message": _("messages earn no points under the current rules"),
    }
    return labels.get(rule, rule)


def points_header(title: str, epoch: int, total: int, rank: int) -> str:
    return _("<b>{title}</b>, epoch {epoch}\nYour points: <b>{total}</b> (rank {rank})").format(
        title=title, epoch=epoch, total=total, rank=rank
    )


def points_line(label: str, points: int) -> str:
    return _("• {label}: {points}").format(label=label, points=points)


def counted_messages(count: int) -> str:
    return _("Messages that counted: {count}").format(count=count)


def not_counted_header() -> str:
    return _("Messages that did not count:")


def not_counted_line(label: str, count: int) -> str:
    return _("• {label}: {count}").format(label=label, count=count)


def excluded_line(reason: str) -> str:
    return _(
        "A manager excluded you from this epoch's allocation: {reason}\n"
        "Your points stay in the ledger."
    ).format(reason=reason)


def no_points_yet() -> str:
    return _("No points yet in this group's current epoch.")


def points_compact(name: str, total: int, rank: int, parts: str) -> str:
    return _("{name}: {total} points (rank {rank}). {parts}").format(
        name=name, total=total, rank=rank, parts=parts
    )


def sent_privately(name: str) -> str:
    return _("{name}, I answered you in a private chat.").format(name=name)


def no_groups() -> str:
    return _("You have no points in any group yet. Take part in a group where I am a member.")


def top_header(title: str, epoch: int) -> str:
    return _("<b>Top members of {title}</b>, epoch {epoch}").format(title=title, epoch=epoch)


def top_line(place: int, name: str, points: int) -> str:
    return _("{place}. {name}: {points}").format(place=place, name=name, points=points)


def top_empty() -> str:
    return _("Nobody has points in this epoch yet.")


def rules_header(version: int, since: str) -> str:
    return _("<b>Scoring rules</b>, version {version} (in force since {since})").format(
        version=version, since=since
    )


def rules_line(key: str, value: str, description: str) -> str:
    return _("<code>{key}</code> = {value}: {description}").format(
        key=key, value=value, description=description
    )


def rules_header_defaults(version: int) -> str:
    return _("<b>Scoring rules</b>, version {version} (the defaults)").format(version=version)


def rules_footer() -> str:
    return _("Managers change them with /setrules key=value ...")


def invite_link(title: str, link: str) -> str:
    return _(
        "Your own invite link to {title}:\n{link}\n"
        "You earn points for each member who joins through it and then takes part."
    ).format(title=title, link=link)


def invite_failed() -> str:
    return _("I could not create an invite link: make me an admin allowed to invite users.")


def start_me_first() -> str:
    return _("Start a private chat with me first, then ask again.")


# Engagement: what managers see.


def managers_only() -> str:
    return _("Only the group's administrators can do that.")


def setrules_usage() -> str:
    return _(
        "Change rules with <code>/setrules key=value key=value ...</code>, for example\n"
        "<code>/setrules message.points=5 message.cooldown_seconds=120</code>\n"
        "Send /rules to see every key with its current value."
    )


def setrules_done(version: int, changes: str) -> str:
    return _("Rules saved as version {version}, in force from now:\n{changes}").format(
        version=version, changes=changes
    )


def setrules_refused(problems: str, version: int) -> str:
    return _("Rules not changed (version {version} stays in force):\n{problems}").format(
        version=version, problems=problems
    )


def grant_usage(command: str) -> str:
    return _(
        "Reply to the member's message with <code>/{command} POINTS REASON</code>, "
        "or write <code>/{command} @username POINTS REASON</code>."
    ).format(command=command)


def granted(name: str, points: int, reason: str) -> str:
    return _("{name} receives {points} points: {reason}").format(
        name=name, points=points, reason=reason
    )


def penalized(name: str, points: int, reason: str) -> str:
    return _("{name} loses {points} points: {reason}").format(
        name=name, points=points, reason=reason
    )


def grant_refused(problem: str) -> str:
    return _("Not done: {problem}").format(problem=problem)


def member_usage(command: str) -> str:
    return _(
        "Reply to the member's message with <code>/{command} REASON</code>, "
        "or write <code>/{command} @username REASON</code>."
    ).format(command=command)


def unknown_member() -> str:
    return _("I do not know that member. Reply to one of their messages instead.")


def excluded_done(name: str, told: bool) -> str:
    if told:
        return _("{name} is excluded from the allocation and was told why.").format(name=name)
    return _(
        "{name} is excluded from the allocation. I could not write to them privately, "
        "so they will see the reason with /points."
    ).format(name=name)


def excluded_notice(title: str, reason: str) -> str:
    return _(
        "A manager of {title} excluded you from the token allocation: {reason}\n"
        "Your points stay in the ledger. Ask the group's managers if you think this is wrong."
    ).format(title=title, reason=reason)


def cleared_done(name: str) -> str:
    return _("{name} is cleared: their flags are closed and their points count again.").format(
        name=name
    )


def cleared_notice(title: str) -> str:
    return _("A manager of {title} cleared your account: your points count again.").format(
        title=title
    )


def flag_label(code: str) -> str:
    labels = {
        "new_account": _("brand-new account"),
        "burst": _("burst of messages"),
        "reaction_ring": _("reaction ring"),
        "identical_text": _("same text as other accounts"),
    }
    return labels.get(code, code)


def flags_header() -> str:
    return _("<b>Flagged members</b> (/exclude or /clear them):")


def flags_line(name: str, member_id: int, reasons: str, excluded: bool) -> str:
    if excluded:
        return _("• {name} (<code>{id}</code>, excluded): {reasons}").format(
            name=name, id=member_id, reasons=reasons
        )
    return _("• {name} (<code>{id}</code>): {reasons}").format(
        name=name, id=member_id, reasons=reasons
    )


def flags_none() -> str:
    return _("No flagged members.")


# ---------------------------------------------------------------------------------------------
# Wallet linking (bot/handlers/wallets.py): /link, /wallets and the link confirmation.


def link_intro(minutes: int) -> str:
    return _(
        "Link a wallet by signing a message with it. The buttons open a page where your browser "
        "wallet (MetaMask, Phantom...) signs, or where you paste a signature made on another "
        "device. Signing is free and moves no funds.\n"
        "Each button works once, for {minutes} minutes."
    ).format(minutes=minutes)


def link_evm_button() -> str:
    return _("Link an EVM wallet")


def link_solana_button() -> str:
    return _("Link a Solana wallet")


def wallet_linked(family: str, address: str, primary: bool) -> str:
    if primary:
        return _(
            "Linked {address} ({family}). It is your primary {family} wallet.\n"
            "Send /wallets to see your wallets."
        ).format(address=address, family=family)
    return _("Linked {address} ({family}).\nSend /wallets to see your wallets.").format(
        address=address, family=family
    )


def wallets_header() -> str:
    return _("<b>Your linked wallets</b>")


def wallet_line(family: str, address: str, primary: bool) -> str:
    if primary:
        return _("• {family}: <code>{address}</code> (primary)").format(
            family=family, address=address
        )
    return _("• {family}: <code>{address}</code>").format(family=family, address=address)


def wallets_none() -> str:
    return _("You have no linked wallets yet. Send /link to link one.")


def unlink_button(address: str) -> str:
    return _("Unlink {address}").format(address=address)


def primary_button(address: str) -> str:
    return _("Make {address} primary").format(address=address)


def unlink_confirm(family: str, address: str) -> str:
    return _("Unlink {address} ({family})? Are you sure?").format(address=address, family=family)


def unlink_yes() -> str:
    return _("Yes, unlink")


def unlink_no() -> str:
    return _("No")


def unlinked(address: str) -> str:
    return _("Unlinked {address}.").format(address=address)


def made_primary(family: str, address: str) -> str:
    return _("{address} is now your primary {family} wallet.").format(
        address=address, family=family
    )


def wallet_gone() -> str:
    return _("This wallet is no longer linked.")


# ---- Mini App launch (/app) ----------------------------------------------------------------


def app_button() -> str:
    return _("Open Townsquare")


def app_group() -> str:
    return _("Your points, the leaderboard and your wallets for this group:")


def app_private() -> str:
    return _("Your points in all your groups, the leaderboards and your wallets:")


def dashboard_button() -> str:
    return _("Open the dashboard")


def dashboard_group() -> str:
    return _("The managers' dashboard of this group: rules, epochs, reviews and analytics.")


def newapp_usage(max_name: int) -> str:
    return _("Send /newapp followed by your app's name (up to {max} characters).").format(
        max=max_name
    )


def newapp_limit(max_apps: int) -> str:
    return _("You already have {count} apps, the most one builder can register.").format(
        count=max_apps
    )


def newapp_created(name: str, app_id: str, secret: str) -> str:
    return _(
        "Your app {name} is registered.\n"
        "App id: <code>{app_id}</code>\n"
        "Secret: <code>{secret}</code>\n"
        "Keep the secret safe: this is the only time it is shown, and only its hash is stored."
    ).format(name=name, app_id=app_id, secret=secret)


# Epochs: closing, previewing and publishing token claims.


def close_usage() -> str:
    return _(
        "Send /close POOL to close the current epoch and preview how POOL token base units "
        "are split, for example <code>/close 1000000000</code>. Options after the pool: "
        "<code>min=N</code> (the least score that takes part), <code>cap=0.05</code> (the "
        "largest share per member) and <code>sqrt</code> (split by the square root of scores)."
    )


def close_refused(problem: str) -> str:
    return _("The epoch was not closed: {problem}").format(problem=problem)


def preview_header(epoch: int, pool: str, members: int) -> str:
    return _(
        "Epoch {epoch} is closed. Preview: {pool} base units shared by {members} members."
    ).format(epoch=epoch, pool=pool, members=members)


def preview_chain(chain: str, total: str, members: int) -> str:
    return _("{chain}: {total} to {members} wallets").format(
        chain=chain, total=total, members=members
    )


def preview_top_header() -> str:
    return _("Top recipients:")


def preview_top_line(place: int, name: str, amount: str) -> str:
    return _("{place}. {name}: {amount}").format(place=place, name=name, amount=amount)


def preview_unlinked(amount: str, names: str) -> str:
    return _(
        "Without a wallet ({amount} held back): {names}. Whoever links one before you "
        "publish is paid."
    ).format(amount=amount, names=names)


def unlinked_told(told: int) -> str:
    return _("{told} of them were told privately to link a wallet.").format(told=told)


def publish_button() -> str:
    return _("Publish")


def refresh_button() -> str:
    return _("Refresh preview")


def fund_button() -> str:
    return _("Fund from my wallet")


def link_window_notice(title: str, epoch: int, amount: str) -> str:
    return _(
        "Epoch {epoch} of {title} is closed and you earned {amount} token base units, but you "
        "have no wallet linked to receive them. Link one now: the managers publish the claims "
        "soon, and only linked wallets are paid."
    ).format(title=title, epoch=epoch, amount=amount)


def publish_needs_funding(chains: str) -> str:
    return _(
        "Not published: fund the claims first ({chains}) with the button \u201cFund from my "
        "wallet\u201d, then press Publish again."
    ).format(chains=chains)


def publish_failed(problem: str) -> str:
    return _("Not published: {problem}").format(problem=problem)


def published_done(epoch: int, root_lines: str, told: int, url: str) -> str:
    return _(
        "Epoch {epoch} is published.\n{roots}\n{told} members were sent their claim link. "
        'Anyone can check the allocation: <a href="{url}">rules and ledger</a>.'
    ).format(epoch=epoch, roots=root_lines, told=told, url=url)


def claim_ready(title: str, epoch: int, amount: str, chain: str) -> str:
    return _(
        "Your tokens from epoch {epoch} of {title} are ready: {amount} base units on {chain}. "
        "Claim them from your own wallet."
    ).format(title=title, epoch=epoch, amount=amount, chain=chain)


def claim_button() -> str:
    return _("Claim my tokens")


# ---------------------------------------------------------------------------------------------
# Campaigns and epochs (bot/handlers/schedule.py), and flag notices (bot/upkeep.py).


def epochs_usage() -> str:
    return _(
        "Campaigns and epochs (times in UTC, <code>YYYY-MM-DD</code> or "
        "<code>YYYY-MM-DDTHH:MM</code>; an end may also be a duration such as "
        "<code>7d</code>, <code>12h</code> or <code>90m</code>):\n"
        "<code>/campaign NAME [start=TIME] [end=TIME]</code> - start a campaign with its first "
        "epoch\n"
        "<code>/epoch open [start=TIME] [end=TIME]</code> - open the next epoch\n"
        "<code>/epoch close [at=TIME]</code> - close the open epoch\n"
        "<code>/epochs</code> - list them"
    )


def epoch_opened(number: int, campaign: str, start: str, end: str) -> str:
    return _(
        "Epoch {number} of campaign <b>{campaign}</b> is open: {start} → {end}. "
        "Points land in it from its start."
    ).format(number=number, campaign=campaign, start=start, end=end)


def epoch_closed(number: int, end: str) -> str:
    return _(
        "Epoch {number} is closed at {end}; its points and rules are final. No points are "
        "given until you open the next one with <code>/epoch open</code>."
    ).format(number=number, end=end)


def epochs_header() -> str:
    return _("<b>Epochs</b> (UTC):")


def epochs_line(number: int, campaign: str, state: str, start: str, end: str) -> str:
    return _("• {number} · {campaign} · {state} · {start} → {end}").format(
        number=number, campaign=campaign, state=state, start=start, end=end
    )


def epochs_none() -> str:
    return _("No epochs yet: points start landing once someone writes in the group.")


def epoch_state(state: str) -> str:
    states = {"open": _("open"), "closed": _("closed"), "published": _("published")}
    return states.get(state, state)


def no_end() -> str:
    return _("no end")


def schedule_refused(problem: str) -> str:
    return _("Not done: {problem}").format(problem=problem)


def schedule_problem(code: str, **params: str) -> str:
    problems = {
        "bad_form": _("write key=value, not “{value}”."),
        "unknown_key": _("unknown setting “{key}” (use start= and end=)."),
        "repeated_key": _("“{key}” is given twice."),
        "bad_time": _("“{value}” is not a time; write YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)."),
        "bad_name": _(
            "“{value}” is not a campaign name: one word of letters, digits, - _ or ., "
            "at most 64 characters."
        ),
        "start_in_future": _("the start {start} is in the future; open the epoch when it begins."),
        "end_before_start": _("the end {end} is not after the start {start}."),
        "end_in_past": _("the end {end} has already passed."),
        "close_in_future": _("{at} is in the future; an epoch closes now or at a past time."),
        "campaign_exists": _("this group already has a campaign named {name}."),
        "no_open_epoch": _("no epoch is open."),
        "before_current": _("epoch {number} only started at {start}."),
        "points_after": _(
            "epoch {number} already has {count} ledger entries at or after {at}; pick a later time."
        ),
        "overlaps": _("epoch {number} runs until {end}; start after it."),
    }
    text = problems.get(code, code)
    return text.format(**params)


def flags_notice(title: str, count: int, lines: str) -> str:
    return _(
        "<b>New sybil flags in {title}</b> ({count} members):\n{lines}\n"
        "Send /flags in the group to review them, then /exclude or /clear."
    ).format(title=title, count=count, lines=lines)


def enableapp_usage(default_cap: int) -> str:
    return _(
        "Enable a builder app in this group with <code>/enableapp APP_ID [CAP]</code>: CAP is the "
        "most points its events may give one member in an epoch (default {cap}). "
        "<code>/disableapp APP_ID</code> turns it off."
    ).format(cap=default_cap)


def enableapp_done(name: str, app_id: str, cap: int) -> str:
    return _(
        "{name} (<code>{app_id}</code>) is enabled here: its events give a member at most "
        "{cap} points per epoch."
    ).format(name=name, app_id=app_id, cap=cap)


def enableapp_unknown(app_id: str) -> str:
    return _("There is no app <code>{app_id}</code> (or it was revoked).").format(app_id=app_id)


def enableapp_bad_cap(max_cap: int) -> str:
    return _("The cap must be a whole number from 0 to {max}.").format(max=max_cap)


def disableapp_done(app_id: str) -> str:
    return _("<code>{app_id}</code> is disabled here: its events are refused.").format(
        app_id=app_id
    )


def disableapp_not_enabled(app_id: str) -> str:
    return _("<code>{app_id}</code> is not enabled in this group.").format(app_id=app_id)


def newapp_bad_url() -> str:
    return _("The app's address must be an https URL: /newapp NAME https://your.app/page")
