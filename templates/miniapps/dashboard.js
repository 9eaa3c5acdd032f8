// Townsquare managers' dashboard: trades initData for a dashboard token, then loads views that
// the server renders (charts included) and wires their forms. No inline scripts or styles.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const tg = window.Telegram && window.Telegram.WebApp;
  const query = new URLSearchParams(location.search);
  const paths = { rules: "/miniapp/dashboard/rules", epochs: "/miniapp/dashboard/epochs",
    review: "/miniapp/dashboard/flags", analytics: "/miniapp/dashboard/analytics" };
  let token = null;

  const status = (text, error = false) => {
    $("status").textContent = text;
    $("status").classList.toggle("error", error);
    $("status").hidden = !text;
  };

  // Fragments come from our own server, rendered with autoescaping: names stay text.
  function place(target, html) {
    const node = target === "content" ? $("content") : document.getElementById(target);
    if (!node) return;
    node.innerHTML = html;
    if (target === "content") $("content").hidden = false;
    status("");
    if (target !== "content") node.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async function request(method, path, body) {
    const options = { method, headers: { Accept: "text/html" } };
    if (token) options.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("text/html")) return { ok: response.ok, html: await response.text() };
    const data = await response.json().catch(() => null);
    const detail = data && data.detail;
    // FastAPI's own validation errors: one line per field, as the manager typed it.
    const fields = Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ") : null;
    const reason = (data && (data.reason || fields || (detail && detail.reason))) || response.status;
    throw new Error(response.status === 401 ? `Not signed in (${reason}): reopen the dashboard from the group.` : `Refused (${reason})`);
  }

  async function load(target, method, path, body, errorTarget) {
    try {
      const result = await request(method, path, body);
      place(result.ok ? target : errorTarget || target, result.html);
    } catch (error) {
      status(error.message, true);
    }
  }

  function select(tab) {
    if (!paths[tab]) tab = "rules";
    for (const link of document.querySelectorAll("[data-tab]")) {
      link.classList.toggle("active", link.dataset.tab === tab);
      if (link.dataset.tab === tab) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    status("Loading…");
    window.scrollTo(0, 0);
    return load("content", "GET", paths[tab]);
  }

  // A form's body: the rules form sends every setting as `changes`; others send their fields.
  function formBody(form, submitter) {
    const fields = Object.fromEntries(new FormData(form).entries());
    if (submitter && submitter.dataset.setAction) fields.action = submitter.dataset.setAction;
    if (form.dataset.form === "rules") {
      const extra = fields.extra || "";
      delete fields.extra;
      return { changes: fields, extra };
    }
    for (const [key, value] of Object.entries(fields)) if (value === "") delete fields[key];
    return fields;
  }

  async function download(path) {
    try {
      const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`Export refused (${response.status})`);
      const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = name ? name[1] : "export.csv";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      status(error.message, true);
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const submitter = event.submitter;
    if (!submitter || !submitter.dataset.post) return;
    event.preventDefault();
    if (submitter.dataset.confirm && !window.confirm(submitter.dataset.confirm)) return;
    submitter.disabled = true;
    try {
      await load(submitter.dataset.target || "content", "POST", submitter.dataset.post,
        formBody(form, submitter), submitter.dataset.errorTarget);
    } finally {
      submitter.disabled = false;
    }
  });

  document.addEventListener("click", (event) => {
    const node = event.target.closest("[data-download], [data-get], [data-post-now], [data-tab]");
    if (!node) return;
    event.preventDefault();
    if (node.dataset.tab) {
      history.replaceState(null, "", `${location.pathname}${location.search}#${node.dataset.tab}`);
      select(node.dataset.tab);
    } else if (node.dataset.download) download(node.dataset.download);
    else if (node.dataset.get) load(node.dataset.target || "content", "GET", node.dataset.get);
    else load(node.dataset.target || "content", "POST", node.dataset.postNow, {});
  });

  async function main() {
    if (!tg || !tg.initData) {
      status("Open this page from Telegram: it needs the launch data Telegram gives Mini Apps.", true);
      return;
    }
    tg.ready();
    tg.expand();
    const picked = query.get("chat");
    const body = { init_data: tg.initData };
    if (picked && /^-?\d+$/.test(picked)) body.chat_id = Number(picked);
    try {
      const response = await fetch("/miniapp/dashboard/session", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "text/html" }, body: JSON.stringify(body),
      });
      const type = response.headers.get("content-type") || "";
      if (!response.ok && type.startsWith("text/html")) {
        place("content", await response.text());
        return;
      }
      const data = await response.json();
      if (!response.ok) throw new Error(`Not signed in (${data.reason || response.status})`);
      token = data.token;
      $("subtitle").textContent = `${data.chat.title} · managed by ${data.first_name}`;
      document.querySelector("[data-testid=tabs]").hidden = false;
      await select(location.hash.slice(1));
    } catch (error) {
      status(error.message, true);
    }
  }

  main();
})();
