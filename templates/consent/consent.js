// Townsquare consent screen: the member allows or takes back an app's wallets:read; text only.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const tg = window.Telegram && window.Telegram.WebApp;
  const appId = new URLSearchParams(location.search).get("app");
  let token = null;

  const status = (text, error = false) => {
    $("status").textContent = text;
    $("status").classList.toggle("error", error);
    $("status").hidden = !text;
  };

  async function call(method, path, body) {
    const options = { method, headers: {} };
    if (token) options.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new Error(`Not allowed (${(data && data.reason) || response.status})`);
    return data;
  }

  function showConsent(data) {
    $("ask").hidden = false;
    $("app-name").textContent = data.app.name;
    $("explains").textContent = data.explains;
    $("consent-state").textContent = data.granted ? "Allowed." : "Not allowed.";
    // Through the style, not `hidden`: the buttons' stylesheet sets their display.
    $("allow").style.display = data.granted ? "none" : "";
    $("revoke").style.display = data.granted ? "" : "none";
  }

  async function listConsents() {
    const data = await call("GET", "/miniapp/api/consents");
    const items = data.consents.map((c) => {
      const li = document.createElement("li");
      li.dataset.testid = "consent";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = c.name;
      const scope = document.createElement("span");
      scope.className = "small";
      scope.textContent = c.scope;
      li.append(name, scope);
      return li;
    });
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = "No app may read your wallets.";
      items.push(li);
    }
    $("consents").replaceChildren(...items);
  }

  async function change(method) {
    try {
      showConsent(await call(method, `/miniapp/api/consents/${encodeURIComponent(appId)}`));
      await listConsents();
    } catch (error) {
      status(error.message, true);
    }
  }

  async function main() {
    if (!tg || !tg.initData) {
      status("Open this page from Telegram: it needs the launch data Telegram gives Mini Apps.", true);
      return;
    }
    tg.ready();
    try {
      token = (await call("POST", "/miniapp/session", { init_data: tg.initData })).token;
      if (appId && /^[A-Za-z0-9_]{1,32}$/.test(appId)) {
        showConsent(await call("GET", `/miniapp/api/consents/${encodeURIComponent(appId)}`));
      }
      await listConsents();
      $("content").hidden = false;
      status("");
    } catch (error) {
      status(error.message, true);
    }
  }

  $("allow").addEventListener("click", () => change("PUT"));
  $("revoke").addEventListener("click", () => change("DELETE"));
  main();
})();
