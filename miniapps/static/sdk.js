// Townsquare SDK for builders' Mini Apps: the member's identity as a token signed by the
// gateway, for the app's own backend to verify with the gateway's JWKS (no call to us needed).
//
//   <script src="https://telegram.org/js/telegram-web-app.js"></script>
//   <script src="https://<gateway>/sdk.js"></script>
//   const session = await Townsquare.session("app_0123456789abcdef");
//   // Opened from a group's app catalogue, the token arrives in the URL fragment; launched
//   // by Telegram directly, the SDK exchanges Telegram's initData for it.
//   // session.token -> your backend; session.member_id, session.chat_id, session.first_name
"use strict";
(() => {
  const script = document.currentScript;
  const gateway = script ? new URL(script.src).origin : location.origin;

  class TownsquareError extends Error {
    constructor(reason, status) {
      super(`Townsquare refused (${reason})`);
      this.reason = reason;
      this.status = status;
    }
  }

  const STORE = "__townsquare__session";

  // Opened from a group's app catalogue: the token came in the URL fragment. Kept for the
  // app's later pages, and only while it is addressed to this app and not expired.
  function handedOver(appId) {
    let data = new URLSearchParams(location.hash.slice(1)).get("townsquareSession");
    try {
      if (data) sessionStorage.setItem(STORE, data);
      else data = sessionStorage.getItem(STORE);
    } catch (e) { /* storage may be off */ }
    if (!data) return null;
    try {
      const parsed = JSON.parse(data);
      const claims = JSON.parse(atob(parsed.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return claims.aud === appId && claims.exp * 1000 > Date.now() ? parsed : null;
    } catch (e) {
      return null;
    }
  }

  async function session(appId) {
    const given = handedOver(appId);
    if (given) return given;
    const tg = window.Telegram && window.Telegram.WebApp;
    if (!tg || !tg.initData) throw new TownsquareError("no_init_data", 0);
    const response = await fetch(`${gateway}/miniapp/session`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ init_data: tg.initData, app_id: appId }),
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new TownsquareError((data && data.reason) || "error", response.status);
    return data;
  }

  // The page on which the member allows (or no longer allows) this app to read their wallets.
  const consentUrl = (appId) => `${gateway}/miniapp/consent?app=${encodeURIComponent(appId)}`;

  window.Townsquare = Object.freeze({ gateway, session, consentUrl, TownsquareError });
})();
