// Townsquare sandbox web chat: vanilla JS, no dependencies, text only through DOM nodes.
"use strict";

const API = "/sandbox/ui";
const POLL_MS = 700;
const PICKER = ["👍", "❤", "🔥", "🎉", "😁", "🤔", "👎", "🙏"];
const $ = (id) => document.getElementById(id);

const state = {
  bot: null,
  users: [],
  userId: Number(localStorage.getItem("sandbox.user")) || null,
  chats: [],
  chatId: Number(localStorage.getItem("sandbox.chat")) || null,
  chat: null,
  messages: new Map(),
  revision: 0,
  replyTo: null,
  polling: false,
};

// ---- helpers ---------------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(API + path, options);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; ");
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

let toastTimer = null;
function toast(text, { alert = false } = {}) {
  const box = $("toast");
  box.textContent = text;
  box.classList.toggle("alert", alert);
  box.hidden = false;
  clearTimeout(toastTimer);
  if (!alert) toastTimer = setTimeout(() => { box.hidden = true; }, 3000);
}

function fail(error) {
  toast(error.message || String(error));
}

function displayName(user) {
  if (!user) return "";
  return [user.first_name, user.last_name].filter(Boolean).join(" ");
}

function initials(name) {
  return (name || "?").trim().slice(0, 1).toUpperCase() || "?";
}

function colorClass(id) {
  return "c" + (Math.abs(Number(id)) % 7);
}

function isSafeUrl(url) {
  return /^(https?:|tg:)/i.test(String(url || ""));
}

// ---- users -----------------------------------------------------------------------------

async function loadUsers() {
  state.users = await api("GET", "/users");
  const picker = $("user-picker");
  picker.replaceChildren(el("option", { value: "", text: "— pick a user —" }));
  for (const user of state.users) {
    const label = displayName(user) + (user.username ? ` (@${user.username})` : "");
    picker.append(el("option", { value: user.id, text: label }));
  }
  if (!state.users.some((u) => u.id === state.userId)) state.userId = null;
  picker.value = state.userId ? String(state.userId) : "";
}

async function selectUser(userId) {
  state.userId = userId || null;
  localStorage.setItem("sandbox.user", state.userId || "");
  await loadChats();
  if (!state.chats.some((c) => c.id === state.chatId)) selectChat(null);
  else selectChat(state.chatId);
}

// ---- chats -----------------------------------------------------------------------------

async function loadChats() {
  state.chats = state.userId ? await api("GET", `/chats?user_id=${state.userId}`) : [];
  renderChatList();
}

function renderChatList() {
  const list = $("chat-list");
  list.replaceChildren();
  for (const chat of state.chats) {
    const title = chat.sandbox.title;
    const kind = chat.type === "private" ? "bot" : `${chat.type} · bot ${chat.sandbox.bot_status}`;
    const item = el(
      "li",
      {
        class: "chat-item" + (chat.id === state.chatId ? " active" : ""),
        "data-testid": "chat-item",
        "data-chat-id": chat.id,
        onclick: () => selectChat(chat.id),
      },
      el("span", { class: `avatar ${colorClass(chat.id)}`, text: initials(title) }),
      el("div", {}, el("div", { class: "chat-item-title", text: title }), el("div", { class: "hint", text: kind })),
    );
    list.append(item);
  }
}

function selectChat(chatId) {
  state.chatId = chatId || null;
  localStorage.setItem("sandbox.chat", state.chatId || "");
  state.chat = state.chats.find((c) => c.id === state.chatId) || null;
  state.messages = new Map();
  state.revision = 0;
  setReply(null);
  $("messages").replaceChildren();
  $("links-panel").hidden = true;
  renderChatList();
  renderHeader();
  if (state.chatId) poll();
}

function renderHeader() {
  const chat = state.chat;
  const ready = Boolean(chat && state.userId);
  $("composer").disabled = !ready;
  $("send").disabled = !ready;
  $("chat-actions").hidden = !chat || chat.type === "private";
  if (!chat) {
    $("chat-title").textContent = state.userId ? "Pick a chat or create a group" : "Pick or create a user, then a chat";
    $("chat-status").textContent = "";
    $("start-panel").hidden = true;
    return;
  }
  $("chat-title").textContent = chat.sandbox.title;
  let status = chat.type === "private" ? "bot" : `${chat.type} · bot is ${chat.sandbox.bot_status}`;
  if (chat.sandbox.action) status = `${state.bot ? state.bot.first_name : "bot"} is ${chat.sandbox.action.replace(/_/g, " ")}…`;
  $("chat-status").textContent = status;
  const botIn = ["member", "administrator"].includes(chat.sandbox.bot_status);
  $("add-bot").hidden = botIn;
  $("promote-bot").hidden = chat.sandbox.bot_status !== "member";
  $("start-panel").hidden = !(chat.type === "private" && state.messages.size === 0);
  renderMemberPicker();
}

async function renderMemberPicker() {
  const select = $("add-member-select");
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: "user to add…" }));
  for (const user of state.users) {
    if (user.id !== state.userId) select.append(el("option", { value: user.id, text: displayName(user) }));
  }
  select.value = current;
}

async function refreshChat() {
  if (!state.chatId) return;
  const detail = await api("GET", `/chats/${state.chatId}?user_id=${state.userId || ""}`);
  if (detail.id !== state.chatId) return;
  state.chat = detail;
  renderHeader();
}

// ---- messages --------------------------------------------------------------------------

async function poll() {
  if (!state.chatId || state.polling) return;
  state.polling = true;
  const chatId = state.chatId;
  try {
    const query = state.revision ? `since_rev=${state.revision}` : "since_id=0";
    const changed = await api("GET", `/chats/${chatId}/messages?${query}`);
    if (chatId !== state.chatId) return;
    const box = $("messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    for (const message of changed) {
      state.revision = Math.max(state.revision, message.sandbox.revision);
      if (message.sandbox.deleted) state.messages.delete(message.message_id);
      else state.messages.set(message.message_id, message);
      renderMessage(message);
    }
    if (changed.length && atBottom) box.scrollTop = box.scrollHeight;
    await refreshChat();
  } catch (error) {
    console.warn("poll failed", error);
  } finally {
    state.polling = false;
  }
}

function renderMessage(message) {
  const box = $("messages");
  const existing = box.querySelector(`[data-message-id="${message.message_id}"]`);
  if (message.sandbox.deleted) {
    if (existing) existing.remove();
    return;
  }
  const node = buildMessage(message);
  if (existing) {
    existing.replaceWith(node);
    return;
  }
  const later = [...box.children].find((child) => Number(child.dataset.messageId) > message.message_id);
  box.insertBefore(node, later || null);
}

function serviceText(message) {
  const who = displayName(message.from);
  if (message.new_chat_members) {
    const joined = message.new_chat_members.map(displayName).join(", ");
    return message.new_chat_members.some((u) => u.id === message.from.id) ? `${joined} joined the group` : `${who} added ${joined}`;
  }
  if (message.left_chat_member) {
    const left = displayName(message.left_chat_member);
    return message.left_chat_member.id === message.from.id ? `${left} left the group` : `${who} removed ${left}`;
  }
  if (message.group_chat_created || message.supergroup_chat_created) return `${who} created the group`;
  return "service message";
}

function buildMessage(message) {
  const id = message.message_id;
  if (message.text === undefined) {
    return el("div", { class: "service", "data-testid": "service-message", "data-message-id": id, text: serviceText(message) });
  }
  const own = message.from && message.from.id === state.userId;
  const bubble = el(
    "div",
    { class: "bubble", onclick: () => setReply(message) },
    el("div", { class: "from-line" },
      el("span", { class: "from", "data-testid": "message-from", text: displayName(message.from) }),
      message.from && message.from.is_bot ? el("span", { class: "bot-badge", text: "bot" }) : null),
    message.reply_to_message ? el("div", { class: "reply-quote", text: `${displayName(message.reply_to_message.from)}: ${message.reply_to_message.text || "…"}` }) : null,
    el("div", { class: "text", "data-testid": "message-text" }, renderEntities(message.text, message.entities || [])),
    buildKeyboard(message),
    buildReactions(message),
    buildReactButton(message),
    el("div", { class: "meta", text: (message.edit_date ? "edited " : "") + timeOf(message.edit_date || message.date) }),
  );
  return el("div", { class: "message" + (own ? " own" : "") + (state.replyTo === id ? " selected" : ""), "data-testid": "message", "data-message-id": id }, bubble);
}

function timeOf(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// Entities use UTF-16 offsets, which are exactly JavaScript string indexes.
function renderEntities(text, entities) {
  const cuts = new Set([0, text.length]);
  for (const e of entities) { cuts.add(e.offset); cuts.add(e.offset + e.length); }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const fragment = document.createDocumentFragment();
  for (let i = 0; i < points.length - 1; i += 1) {
    const start = points[i];
    const end = points[i + 1];
    let node = document.createTextNode(text.slice(start, end));
    const active = entities.filter((e) => e.offset <= start && e.offset + e.length >= end);
    for (const entity of active) node = wrapEntity(entity, node, text.slice(entity.offset, entity.offset + entity.length));
    fragment.append(node);
  }
  return fragment;
}

function wrapEntity(entity, child, fullText) {
  const tags = { bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote" };
  if (tags[entity.type]) return el(tags[entity.type], {}, child);
  if (entity.type === "spoiler") return el("span", { class: "spoiler", onclick: (ev) => { ev.stopPropagation(); ev.currentTarget.classList.add("shown"); } }, child);
  if (entity.type === "text_link" || entity.type === "url") {
    const url = entity.type === "url" ? fullText : entity.url;
    if (!isSafeUrl(url)) return child;
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer", onclick: (ev) => openLink(ev, url) }, child);
  }
  if (entity.type === "bot_command") {
    return el("span", { class: "command", onclick: (ev) => { ev.stopPropagation(); sendText(fullText); } }, child);
  }
  if (entity.type === "mention" || entity.type === "hashtag") return el("span", { class: entity.type }, child);
  return child;
}

// t.me invite links join inside the sandbox, like tapping them in Telegram.
function openLink(event, url) {
  event.stopPropagation();
  if (/^https:\/\/t\.me\/(\+|joinchat\/)/.test(url)) {
    event.preventDefault();
    useInviteLink(url);
  }
}

function buildKeyboard(message) {
  const rows = message.reply_markup && message.reply_markup.inline_keyboard;
  if (!rows) return null;
  const keyboard = el("div", { class: "keyboard" });
  for (const row of rows) {
    const line = el("div", { class: "kb-row" });
    for (const button of row) line.append(buildButton(message, button));
    keyboard.append(line);
  }
  return keyboard;
}

function buildButton(message, button) {
  let kind = "";
  let action = () => toast("This button type is not supported in the sandbox");
  if (button.callback_data !== undefined) {
    action = () => pressButton(message, button.callback_data);
  } else if (button.url !== undefined) {
    kind = "↗";
    action = () => { if (/^https:\/\/t\.me\/(\+|joinchat\/)/.test(button.url)) useInviteLink(button.url); else if (DIRECT_LINK.test(button.url)) openWebApp(button.text, button.url); else if (isSafeUrl(button.url)) window.open(button.url, "_blank", "noopener"); };
  } else if (button.web_app) {
    kind = "▣";
    action = () => openWebApp(button.text, button.web_app.url);
  } else if (button.copy_text) {
    action = () => { navigator.clipboard && navigator.clipboard.writeText(button.copy_text.text); toast("Copied"); };
  }
  return el(
    "button",
    { type: "button", "data-testid": "inline-button", onclick: (ev) => { ev.stopPropagation(); action(); } },
    button.text,
    kind ? el("span", { class: "kind", text: kind }) : null,
  );
}

function buildReactButton(message) {
  return el("button", {
    type: "button", class: "react-add", "data-testid": "react-button", title: "React", "aria-label": "React",
    onclick: (ev) => { ev.stopPropagation(); togglePicker(ev.currentTarget, message); },
  }, "☺");
}

function buildReactions(message) {
  const counts = message.sandbox.reactions || {};
  if (!Object.keys(counts).length) return null;
  const box = el("div", { class: "reactions" });
  for (const [emoji, users] of Object.entries(counts)) {
    const mine = users.includes(state.userId);
    box.append(el("button", {
      type: "button", class: "reaction" + (mine ? " mine" : ""), "data-testid": "reaction", "data-emoji": emoji,
      onclick: (ev) => { ev.stopPropagation(); react(message, emoji); },
    }, `${emoji} ${users.length}`));
  }
  return box;
}

function togglePicker(anchor, message) {
  const bubble = anchor.closest(".bubble");
  const open = bubble.querySelector(".picker");
  document.querySelectorAll(".picker").forEach((p) => p.remove());
  if (open) return;
  const picker = el("div", { class: "picker", "data-testid": "reaction-picker" });
  for (const emoji of PICKER) {
    picker.append(el("button", { type: "button", "data-testid": "pick-reaction", onclick: (ev) => { ev.stopPropagation(); picker.remove(); react(message, emoji); } }, emoji));
  }
  bubble.append(picker);
}

// ---- actions ---------------------------------------------------------------------------

function setReply(message) {
  state.replyTo = message ? message.message_id : null;
  $("reply-bar").hidden = !message;
  if (message) $("reply-preview").textContent = `Reply to ${displayName(message.from)}: ${message.text || ""}`;
  document.querySelectorAll(".message.selected").forEach((n) => n.classList.remove("selected"));
  if (message) {
    const node = document.querySelector(`[data-message-id="${message.message_id}"]`);
    if (node) node.classList.add("selected");
    $("composer").focus();
  }
}

async function sendText(text) {
  if (!state.chatId || !state.userId || !text.trim()) return;
  await api("POST", `/chats/${state.chatId}/messages`, { from_id: state.userId, text, reply_to: state.replyTo });
  setReply(null);
  await poll();
}

async function react(message, emoji) {
  const users = (message.sandbox.reactions || {})[emoji] || [];
  const next = users.includes(state.userId) ? [] : [emoji];
  try {
    await api("POST", `/chats/${state.chatId}/reactions`, { message_id: message.message_id, user_id: state.userId, emoji: next });
    await poll();
  } catch (error) { fail(error); }
}

async function pressButton(message, data) {
  try {
    const { callback_query_id: id } = await api("POST", `/chats/${state.chatId}/buttons`, { message_id: message.message_id, user_id: state.userId, data });
    for (let i = 0; i < 20; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const answer = await api("GET", `/callback_queries/${encodeURIComponent(id)}`);
      if (answer.answered) {
        if (answer.text) toast(answer.text, { alert: answer.show_alert });
        if (answer.url && isSafeUrl(answer.url)) window.open(answer.url, "_blank", "noopener");
        break;
      }
    }
    await poll();
  } catch (error) { fail(error); }
}

// Mini Apps open as Telegram opens them: the sandbox signs initData for this user and chat,
// and the page gets it with the theme in the URL fragment.
const DIRECT_LINK = /^https:\/\/t\.me\/[A-Za-z0-9_]+\/[A-Za-z0-9_]+(\?|$)/;
const THEME_KEYS = ["bg_color", "text_color", "hint_color", "link_color", "button_color", "button_text_color", "secondary_bg_color"];

function themeParams() {
  const style = getComputedStyle(document.documentElement);
  const theme = {};
  for (const key of THEME_KEYS) theme[key] = style.getPropertyValue(`--tg-theme-${key.replace(/_/g, "-")}`).trim();
  return theme;
}

async function openWebApp(title, url) {
  if (!/^https?:/i.test(String(url || ""))) { toast("Invalid Mini App URL"); return; }
  if (!DIRECT_LINK.test(url) && !isGatewayMiniApp(url)) {
    // Another site's page: the sandbox signs launch data only for the gateway's Mini Apps.
    showWebApp(title, url);
    return;
  }
  let src;
  try {
    const launch = await api("POST", "/webapp/init", { user_id: state.userId, chat_id: state.chatId, url });
    const fragment = new URLSearchParams({
      tgWebAppData: launch.init_data, tgWebAppVersion: "7.0", tgWebAppPlatform: "web",
      tgWebAppThemeParams: JSON.stringify(themeParams()),
    });
    src = `${launch.url}#${fragment.toString().replace(/\+/g, "%20")}`;
  } catch (error) { fail(error); return; }
  showWebApp(title, src);
}

function isGatewayMiniApp(url) {
  try {
    const target = new URL(url, location.href);
    return target.origin === location.origin && target.pathname.startsWith("/miniapp/");
  } catch (error) { return false; }
}

function showWebApp(title, src) {
  $("webapp-title").textContent = title;
  $("webapp-frame").src = src;
  $("webapp-panel").hidden = false;
}

window.addEventListener("message", (event) => {
  if (event.source !== $("webapp-frame").contentWindow || typeof event.data !== "string") return;
  let message = null;
  try { message = JSON.parse(event.data); } catch (e) { return; }
  if (message && message.eventType === "web_app_close") {
    $("webapp-panel").hidden = true;
    $("webapp-frame").removeAttribute("src");
  }
});

async function useInviteLink(link) {
  if (!state.userId) { toast("Pick a user first"); return; }
  try {
    const result = await api("POST", "/invite_links/use", { user_id: state.userId, invite_link: link });
    toast(result.status === "joined" ? `Joined ${result.chat.title}` : `Join request sent to ${result.chat.title}`);
    await loadChats();
    if (result.status === "joined") selectChat(result.chat.id);
  } catch (error) { fail(error); }
}

async function showLinks() {
  const panel = $("links-panel");
  if (!panel.hidden) { panel.hidden = true; return; }
  const links = await api("GET", `/chats/${state.chatId}/invite_links`);
  panel.replaceChildren(el("span", { class: "label", text: "Invite links" }));
  for (const link of links) {
    const flags = [link.is_primary && "primary", link.is_revoked && "revoked", link.creates_join_request && "needs approval", link.name].filter(Boolean).join(", ");
    panel.append(el("div", { "data-testid": "invite-link" }, el("code", { text: link.invite_link }), flags ? ` — ${flags}` : ""));
  }
  panel.hidden = false;
}

function guard(fn) {
  return (event) => {
    if (event) event.preventDefault();
    Promise.resolve().then(fn).catch(fail);
  };
}

function wire() {
  $("user-picker").addEventListener("change", (ev) => selectUser(Number(ev.target.value)).catch(fail));
  $("new-user-form").addEventListener("submit", guard(async () => {
    const user = await api("POST", "/users", { first_name: $("new-user-name").value, username: $("new-user-username").value || null });
    $("new-user-name").value = "";
    $("new-user-username").value = "";
    state.userId = user.id;
    await loadUsers();
    await selectUser(user.id);
  }));
  $("new-group-form").addEventListener("submit", guard(async () => {
    if (!state.userId) throw new Error("Pick a user first");
    const chat = await api("POST", "/chats", { title: $("new-group-title").value, creator_id: state.userId, supergroup: $("new-group-supergroup").checked, bot: $("new-group-bot").value });
    $("new-group-title").value = "";
    await loadChats();
    selectChat(chat.id);
  }));
  $("open-private").addEventListener("click", guard(async () => {
    if (!state.userId) throw new Error("Pick a user first");
    const chat = await api("POST", `/users/${state.userId}/private`);
    await loadChats();
    selectChat(chat.id);
  }));
  $("join-form").addEventListener("submit", guard(async () => {
    await useInviteLink($("join-link").value);
    $("join-link").value = "";
  }));
  $("composer-form").addEventListener("submit", guard(async () => {
    const text = $("composer").value;
    $("composer").value = "";
    await sendText(text);
  }));
  $("composer").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $("composer-form").requestSubmit();
    }
  });
  $("start-bot").addEventListener("click", guard(() => sendText("/start")));
  $("reply-cancel").addEventListener("click", () => setReply(null));
  $("add-bot").addEventListener("click", guard(async () => {
    await api("POST", `/chats/${state.chatId}/bot`, { admin: false, by_user_id: state.userId });
    await loadChats(); await poll();
  }));
  $("promote-bot").addEventListener("click", guard(async () => {
    await api("POST", `/chats/${state.chatId}/bot`, { admin: true, by_user_id: state.userId });
    await loadChats(); await poll();
  }));
  $("add-member").addEventListener("click", guard(async () => {
    const userId = Number($("add-member-select").value);
    if (!userId) throw new Error("Pick a user to add");
    await api("POST", `/chats/${state.chatId}/members`, { user_id: userId, by_user_id: state.userId });
    await poll();
  }));
  $("leave-chat").addEventListener("click", guard(async () => {
    await api("POST", `/chats/${state.chatId}/leave`, { user_id: state.userId });
    await loadChats();
    selectChat(null);
  }));
  $("show-links").addEventListener("click", guard(showLinks));
  $("webapp-close").addEventListener("click", () => { $("webapp-panel").hidden = true; $("webapp-frame").removeAttribute("src"); });
  $("toast").addEventListener("click", () => { $("toast").hidden = true; });
  document.addEventListener("click", () => document.querySelectorAll(".picker").forEach((p) => p.remove()));
}

async function main() {
  wire();
  try {
    state.bot = await api("GET", "/bot");
    $("bot-name").textContent = `bot @${state.bot.username}`;
    $("open-private").textContent = `Chat with @${state.bot.username}`;
  } catch (error) {
    $("bot-name").textContent = "no bot registered yet";
  }
  await loadUsers();
  await selectUser(state.userId);
  setInterval(poll, POLL_MS);
  setInterval(() => { if (state.userId) loadChats().catch(() => {}); }, 3000);
}

main().catch(fail);
