// A small local stand-in for Telegram's telegram-web-app.js, used in the sandbox only.
// Like Telegram's, it reads the launch parameters from the URL fragment (#tgWebAppData=...),
// keeps them in sessionStorage for later pages of the same app, applies the theme as
// --tg-theme-* CSS variables, and talks to the host frame with postMessage.
"use strict";
(() => {
  const STORE = "__telegram__initParams";
  const read = () => {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.has("tgWebAppData")) {
      const params = Object.fromEntries(hash.entries());
      try { sessionStorage.setItem(STORE, JSON.stringify(params)); } catch (e) { /* private mode */ }
      return params;
    }
    try { return JSON.parse(sessionStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  };
  const params = read();
  const initData = params.tgWebAppData || "";
  const parseJson = (text) => { try { return JSON.parse(text); } catch (e) { return null; } };

  const unsafe = {};
  for (const [key, value] of new URLSearchParams(initData)) {
    unsafe[key] = ["user", "receiver", "chat"].includes(key) ? parseJson(value) : value;
  }
  if (unsafe.auth_date) unsafe.auth_date = Number(unsafe.auth_date);

  const handlers = new Map();
  const emit = (event, ...args) => (handlers.get(event) || []).forEach((fn) => {
    try { fn.apply(WebApp, args); } catch (e) { console.error(e); }
  });
  const post = (eventType, eventData = "") => {
    if (window.parent === window) return;
    window.parent.postMessage(JSON.stringify({ eventType, eventData }), "*");
  };

  const luminance = (hex) => {
    const m = /^#([0-9a-f]{6})$/i.exec(hex || "");
    if (!m) return 1;
    const n = parseInt(m[1], 16);
    return (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
  };
  const applyTheme = (theme) => {
    WebApp.themeParams = Object.freeze({ ...theme });
    WebApp.colorScheme = luminance(theme.bg_color) < 0.5 ? "dark" : "light";
    const root = document.documentElement.style;
    for (const [key, value] of Object.entries(theme)) {
      if (/^#[0-9a-f]{3,8}$/i.test(String(value))) {
        root.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
      }
    }
    root.setProperty("color-scheme", WebApp.colorScheme);
  };

  const button = (prefix) => {
    const self = {
      text: "CONTINUE", isVisible: false, isActive: true,
      setText(text) { self.text = String(text); sync(); return self; },
      show() { self.isVisible = true; sync(); return self; },
      hide() { self.isVisible = false; sync(); return self; },
      enable() { self.isActive = true; sync(); return self; },
      disable() { self.isActive = false; sync(); return self; },
      onClick(fn) { WebApp.onEvent(`${prefix}ButtonClicked`, fn); return self; },
      offClick(fn) { WebApp.offEvent(`${prefix}ButtonClicked`, fn); return self; },
    };
    const sync = () => post(prefix === "main" ? "web_app_setup_main_button" : "web_app_setup_back_button",
      prefix === "main" ? { is_visible: self.isVisible, is_active: self.isActive, text: self.text }
        : { is_visible: self.isVisible });
    return self;
  };

  const WebApp = {
    initData,
    initDataUnsafe: Object.freeze(unsafe),
    version: params.tgWebAppVersion || "7.0",
    platform: params.tgWebAppPlatform || "web",
    themeParams: {},
    colorScheme: "light",
    isExpanded: true,
    ready() { post("web_app_ready"); },
    expand() { post("web_app_expand"); },
    close() { post("web_app_close"); },
    openLink(url) {
      if (!/^https?:\/\//i.test(String(url))) throw new Error("WebAppTgUrlInvalid");
      post("web_app_open_link", { url: String(url) });
      window.open(String(url), "_blank", "noopener");
    },
    onEvent(event, fn) { handlers.set(event, [...(handlers.get(event) || []), fn]); },
    offEvent(event, fn) { handlers.set(event, (handlers.get(event) || []).filter((f) => f !== fn)); },
  };
  WebApp.MainButton = button("main");
  WebApp.BackButton = button("back");
  applyTheme(parseJson(params.tgWebAppThemeParams || "{}") || {});

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const data = typeof event.data === "string" ? parseJson(event.data) : event.data;
    if (!data || typeof data.eventType !== "string") return;
    if (data.eventType === "theme_changed" && data.eventData && data.eventData.theme_params) {
      applyTheme(data.eventData.theme_params);
      emit("themeChanged");
    } else if (data.eventType === "main_button_pressed") {
      emit("mainButtonClicked");
    } else if (data.eventType === "back_button_pressed") {
      emit("backButtonClicked");
    }
  });

  window.Telegram = Object.freeze({ WebApp });
})();
