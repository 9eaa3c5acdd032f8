// Townsquare member Mini Apps: vanilla JS, no dependencies, text only through DOM nodes.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const tg = window.Telegram && window.Telegram.WebApp;
  const page = document.body.dataset.page;
  const query = new URLSearchParams(location.search);
  let token = null;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const status = (text, error = false) => {
    $("status").textContent = text;
    $("status").classList.toggle("error", error);
    $("status").hidden = !text;
  };
  const show = (...nodes) => {
    // Optional cards come as null: replaceChildren would print them as the text "null".
    $("content").replaceChildren(...nodes.filter((node) => node));
    $("content").hidden = false;
    status("");
  };
  const signed = (n) => (n > 0 ? `+${n}` : String(n));
  const when = (iso) => new Date(iso).toLocaleString();
  const card = (title, ...body) => el("div", { class: "card" }, title ? el("h2", { text: title }) : null, ...body);
  const row = (name, value, props = {}) => el("li", props,
    el("span", { class: "name", text: name }),
    el("span", { class: `num${Number(value) < 0 ? " neg" : ""}`, text: value }));

  async function call(method, path, body) {
    const options = { method, headers: {} };
    if (token) options.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const reason = (data && (data.reason || (data.detail && data.detail.reason))) || response.status;
      throw new Error(`Not allowed (${reason})`);
    }
    return data;
  }

  function withChat(path, chatId) {
    return chatId === null || chatId === undefined ? path : `${path}?chat_id=${encodeURIComponent(chatId)}`;
  }

  // A private launch has no group: the member picks one of theirs, kept in ?chat= across tabs.
  function groupPicker(groups) {
    if (!groups || !groups.length) return card(null, el("p", { class: "hint", text: "You are not in any group with Townsquare yet." }));
    return card("Your groups", ...groups.map((g) => el("button", {
      type: "button", class: "group", "data-testid": "group",
      onclick: () => { location.search = `?chat=${encodeURIComponent(g.id)}`; },
    }, el("span", { text: g.title }), " · ", el("b", { text: `${g.points} pts` }))));
  }

  function keepChatInTabs(chatId) {
    for (const link of document.querySelectorAll("[data-page-link]")) {
      link.href = withChat(`/miniapp/${link.dataset.pageLink}`, chatId).replace("chat_id=", "chat=");
    }
  }

  function subtitle(data) {
    const parts = [];
    if (data.chat) parts.push(data.chat.title);
    if (data.epoch) parts.push(`epoch ${data.epoch.number}`);
    $("subtitle").textContent = parts.join(" · ");
  }

  async function points(chatId) {
    const data = await call("GET", withChat("/miniapp/api/points", chatId));
    subtitle(data);
    if (!data.chat) return show(groupPicker(data.groups));
    if (!data.epoch) return show(card(null, el("p", { class: "hint", text: "No epoch is open in this group." })));
    const total = card("This epoch",
      el("p", { class: "big", "data-testid": "points", text: data.points }),
      el("p", { class: "hint", "data-testid": "rank", text: `points · rank #${data.rank}` }));
    const rules = card("By rule", el("ul", { class: "rows", "data-testid": "by-rule" },
      data.by_rule.length ? data.by_rule.map((r) => row(`${r.rule} (${r.entries})`, signed(r.points))) : el("li", { class: "hint", text: "Nothing yet" })));
    const notCounted = Object.entries(data.not_counted);
    const skipped = notCounted.length ? card("Messages that earned nothing", el("ul", { class: "rows" },
      notCounted.map(([rule, n]) => row(rule, n)))) : null;
    const list = el("ul", { class: "rows", "data-testid": "entries" },
      data.entries.length ? data.entries.map(entryRow) : el("li", { class: "hint", text: "No entries yet" }));
    const entries = card("Ledger", list, moreButton(list, data, chatId));
    return show(total, rules, skipped, entries);
  }

  const entryRow = (e) => el("li", { "data-testid": "entry", "data-id": e.id },
    el("span", { class: "name" }, el("span", { text: e.rule }), el("br"),
      el("span", { class: "small", text: `${e.cause} · ${when(e.occurred_at)}` }),
      e.reason ? el("span", { class: "small", text: ` · ${e.reason}` }) : null),
    el("span", { class: `num${e.points < 0 ? " neg" : ""}`, text: signed(e.points) }));

  // The ledger comes a page at a time: "More" asks for the entries older than the last shown.
  function moreButton(list, data, chatId) {
    if (!data.more || !data.entries.length) return null;
    let last = data.entries[data.entries.length - 1].id;
    const button = el("button", { type: "button", class: "group", "data-testid": "more-entries" }, "More");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const path = withChat("/miniapp/api/points/entries", chatId);
        const page = await call("GET", `${path}${path.includes("?") ? "&" : "?"}before=${encodeURIComponent(last)}`);
        list.append(...page.entries.map(entryRow));
        if (page.entries.length) last = page.entries[page.entries.length - 1].id;
        button.hidden = !page.more;
      } catch (error) {
        status(error.message, true);
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async function leaderboard(chatId) {
    const data = await call("GET", withChat("/miniapp/api/leaderboard", chatId));
    subtitle(data);
    if (!data.chat) return show(groupPicker(data.groups));
    return show(card("Top members", el("ul", { class: "rows", "data-testid": "leaderboard" },
      data.rows.length ? data.rows.map((r) => row(`#${r.rank} ${r.name}`, r.points,
        { class: r.me ? "me" : null, "data-testid": "leader" }))
        : el("li", { class: "hint", text: "No points yet" }))));
  }

  async function wallets() {
    const data = await call("GET", "/miniapp/api/wallets");
    $("subtitle").textContent = "Linked by signature; link or unlink them in the chat with the bot (/wallets).";
    return show(card("Linked wallets", el("ul", { class: "rows", "data-testid": "wallets" },
      data.wallets.length ? data.wallets.map((w) => el("li", { "data-testid": "wallet" },
        el("span", { class: "name mono", text: w.address }),
        el("span", { class: "small", text: `${w.family}${w.is_primary ? " · primary" : ""}` })))
        : el("li", { class: "hint", text: "No wallet linked yet" }))));
  }

  // A builder's app opens in this same view with a token addressed to it in the fragment,
  // never Telegram's initData (the key to our own pages); only http(s) addresses are followed.
  async function openApp(app, chatId) {
    const target = new URL(app.url, location.href);
    if (target.protocol !== "https:" && target.protocol !== "http:") return;
    try {
      const session = await call("POST", withChat(`/miniapp/api/apps/${encodeURIComponent(app.id)}/token`, chatId));
      const launch = new URLSearchParams({
        tgWebAppVersion: tg.version || "7.0", tgWebAppPlatform: tg.platform || "web",
        tgWebAppThemeParams: JSON.stringify(tg.themeParams || {}),
        townsquareSession: JSON.stringify(session),
      });
      target.hash = launch.toString();
      location.href = target.toString();
    } catch (error) {
      status(error.message, true);
    }
  }

  async function apps(chatId) {
    const data = await call("GET", withChat("/miniapp/api/apps", chatId));
    subtitle(data);
    if (!data.apps.length) {
      return show(card("Apps of this group", el("p", { class: "hint", "data-testid": "apps-empty",
        text: data.chat ? "No apps are enabled in this group yet." : "Open this from a group to see its apps." })));
    }
    return show(card("Apps of this group", el("ul", { class: "rows", "data-testid": "apps" },
      data.apps.map((a) => el("li", { "data-testid": "app" },
        el("span", { class: "name" }, el("span", { text: a.name }), el("br"),
          el("a", { class: "small", href: `/miniapp/consent?app=${encodeURIComponent(a.id)}`, text: "Wallet access" })),
        a.url ? el("button", { type: "button", class: "group", "data-testid": "open-app", onclick: () => openApp(a, chatId) }, "Open") : null)))));
  }

  // Pages outside the Mini App (the claim page, the bot) open through Telegram, never in this
  // frame: the claim page refuses frames, and wallets live in the browser.
  function openOutside(url) {
    const target = new URL(url, location.href).toString();
    if (/^https:\/\/t\.me\//.test(target) && tg.openTelegramLink) tg.openTelegramLink(target);
    else tg.openLink(target);
  }
  const outsideLink = (text, url, testid) => el("a", {
    href: url, class: "small", "data-testid": testid, rel: "noopener",
    onclick: (event) => { event.preventDefault(); openOutside(url); },
  }, text);
  const CHAIN_NAMES = { evm: "EVM", solana: "Solana" };
  const STATUS_CLASS = { claimed: "ok", claimable: "go", "status unknown": "warn" };

  async function claims(chatId) {
    const data = await call("GET", withChat("/miniapp/api/claims", chatId));
    subtitle(data);
    if (!data.chat) return show(groupPicker(data.groups));
    const mine = card("My claims", el("ul", { class: "rows", "data-testid": "claims" },
      data.claims.length ? data.claims.map((c) => el("li", { "data-testid": "claim" },
        el("span", { class: "name" },
          el("span", { text: `Epoch ${c.epoch} · ${CHAIN_NAMES[c.chain] || c.chain}` }), el("br"),
          el("span", { class: "small mono", text: c.account }), el("br"),
          el("span", { class: "small", "data-testid": "claim-amount", text: `${c.amount} base units` }),
          c.reason ? el("span", { class: "small", "data-testid": "claim-reason", text: ` · ${c.reason}` }) : null,
          el("br"),
          outsideLink(c.status === "claimed" ? "Claim page" : "Open the claim page", c.claim_url, "claim-link")),
        el("span", { class: `badge ${STATUS_CLASS[c.status] || "off"}`, "data-testid": "claim-status", text: c.status })))
        : el("li", { class: "hint", text: "No claims yet: they appear here once an epoch is published." })));
    const missed = data.unlinked.length ? card("Points without a wallet",
      el("p", { class: "hint", "data-testid": "unlinked", text:
        "You had points in these epochs but no wallet linked on their chain, so they could not pay you. "
        + "Link a wallet by sending /link to the bot in a private chat, before the next epoch closes." }),
      el("ul", { class: "rows" }, data.unlinked.map((u) => row(`Epoch ${u.epoch}`, `${u.amount} held back`))),
      data.link_url ? outsideLink("Link a wallet with the bot (/link)", data.link_url, "link-wallet") : null) : null;
    return show(mine, missed);
  }

  const views = { points, leaderboard, wallets, claims, apps };

  async function main() {
    if (!tg || !tg.initData) {
      status("Open this page from Telegram: it needs the launch data Telegram gives Mini Apps.", true);
      return;
    }
    tg.ready();
    tg.expand();
    // With more tabs than fit a narrow panel, keep the open one in view.
    const current = document.querySelector('[aria-current="page"]');
    if (current) current.scrollIntoView({ block: "nearest", inline: "nearest" });
    try {
      const session = await call("POST", "/miniapp/session", { init_data: tg.initData });
      token = session.token;
      const picked = query.get("chat");
      const chatId = session.chat_id !== null ? session.chat_id : (picked && /^-?\d+$/.test(picked) ? picked : null);
      keepChatInTabs(session.chat_id !== null ? null : chatId);
      await views[page](chatId);
    } catch (error) {
      status(error.message, true);
    }
  }

  main();
})();
