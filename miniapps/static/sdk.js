// Townsquare SDK for builders' Mini Apps: the member's identity as a token signed by the
// gateway, for the app's own backend to verify with the gateway's JWKS (no call to us needed).
//
//   <script src="https://telegram.org/js/telegram-web-app.js"></script>
//   <script src="https://<gateway>/sdk.js"></script>
//   const session = await Townsquare.session("app_0123456789abcdef");
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

  async function session(appId) {
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
