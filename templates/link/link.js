"use strict";

// Wallet linking page: the server issues the exact message; the wallet signs it unchanged.
// EVM wallets through EIP-1193 (window.ethereum); Solana wallets through the Wallet Standard
// or Phantom's window.solana; any wallet by pasting the signature made on another device.
(() => {
  const app = document.getElementById("app");
  if (!app) return;
  const family = app.dataset.family;
  const chainId = app.dataset.chainId;
  const urls = { challenge: app.dataset.challengeUrl, verify: app.dataset.verifyUrl };
  const $ = (id) => document.getElementById(id);
  const standardWallets = [];
  const announcedProviders = []; // EIP-6963: { info: { name, uuid }, provider }
  let busy = false;
  let issued = null; // { address, message } of the last challenge

  function setStatus(text, kind) {
    const node = $("status");
    node.textContent = text || "";
    node.dataset.kind = kind || "info";
    node.hidden = !text;
  }

  function setBusy(value) {
    busy = value;
    for (const button of document.querySelectorAll("button")) button.disabled = value;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function toBytes(value) {
    if (value instanceof Uint8Array) return value;
    if (Array.isArray(value) || ArrayBuffer.isView(value)) return Uint8Array.from(value);
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (value && value.data) return Uint8Array.from(value.data);
    throw new Error("The wallet returned a signature in an unknown format.");
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const detail = data && (data.message || (Array.isArray(data.detail) && data.detail[0] && data.detail[0].msg));
      const error = new Error(detail || `The server refused the request (${response.status}).`);
      error.code = data && data.error;
      throw error;
    }
    return data;
  }

  function explain(error) {
    if (error && (error.code === 4001 || error.code === "ACTION_REJECTED")) {
      return "You declined the request in your wallet.";
    }
    const text = (error && error.message) || String(error);
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function showMessage(message, manual) {
    $("message").textContent = message;
    $("message-section").hidden = false;
    $("paste").hidden = !manual;
  }

  async function challenge(address) {
    const data = await post(urls.challenge, { family, address });
    issued = { address, message: data.message };
    return data.message;
  }

  async function finish(address, message, signature) {
    setStatus("Checking the signature…");
    const data = await post(urls.verify, { family, address, message, signature });
    for (const id of ["connect-section", "message-section"]) $(id).hidden = true;
    $("manual").closest(".section").hidden = true;
    $("done-address").textContent = data.short_address;
    $("done").hidden = false;
    setStatus("", "ok");
  }

  async function run(task) {
    if (busy) return;
    setBusy(true);
    setStatus("");
    try {
      await task();
    } catch (error) {
      setStatus(explain(error), "error");
    } finally {
      setBusy(false);
    }
  }

  // EVM: EIP-1193.
  async function linkEthereum(provider) {
    setStatus("Waiting for your wallet to share an account…");
    const accounts = await provider.request({ method: "eth_requestAccounts" });
    if (!accounts || !accounts.length) throw new Error("The wallet shared no account.");
    const address = String(accounts[0]);
    let walletChain = null;
    try { walletChain = await provider.request({ method: "eth_chainId" }); } catch (_) { walletChain = null; }
    const note = $("chain-note");
    note.hidden = !(walletChain && parseInt(walletChain, 16) !== Number(chainId));
    note.textContent = note.hidden ? "" :
      `Your wallet is on chain ${parseInt(walletChain, 16)}; the message names chain ${chainId}. ` +
      "An ordinary account can sign anyway; a contract wallet must be deployed on that chain.";
    const message = await challenge(address);
    showMessage(message, false);
    setStatus("Confirm the signature request in your wallet…");
    const data = "0x" + hex(new TextEncoder().encode(message));
    const signature = await provider.request({ method: "personal_sign", params: [data, address] });
    await finish(address, message, String(signature));
  }

  // Solana: a Wallet Standard wallet, or Phantom's injected provider.
  async function linkStandard(wallet) {
    setStatus(`Waiting for ${wallet.name} to connect…`);
    const { accounts } = await wallet.features["standard:connect"].connect();
    const account = (accounts || []).find((a) => (a.chains || []).some((c) => c.startsWith("solana:"))) || (accounts || [])[0];
    if (!account) throw new Error("The wallet shared no account.");
    const message = await challenge(account.address);
    showMessage(message, false);
    setStatus("Confirm the signature request in your wallet…");
    const [output] = await wallet.features["solana:signMessage"].signMessage({
      account, message: new TextEncoder().encode(message),
    });
    await finish(account.address, message, "0x" + hex(toBytes(output.signature)));
  }

  async function linkPhantom(provider) {
    setStatus("Waiting for your wallet to connect…");
    const answer = await provider.connect();
    const key = (answer && answer.publicKey) || provider.publicKey;
    if (!key) throw new Error("The wallet shared no account.");
    const address = key.toBase58 ? key.toBase58() : String(key);
    const message = await challenge(address);
    showMessage(message, false);
    setStatus("Confirm the signature request in your wallet…");
    const signed = await provider.signMessage(new TextEncoder().encode(message), "utf8");
    await finish(address, message, "0x" + hex(toBytes(signed && signed.signature ? signed.signature : signed)));
  }

  function button(label, testId, action) {
    const node = document.createElement("button");
    node.type = "button";
    node.textContent = label;
    node.dataset.testid = testId;
    node.addEventListener("click", () => run(action));
    return node;
  }

  function renderWallets() {
    const box = $("wallet-buttons");
    box.replaceChildren();
    if (family === "evm") {
      for (const { info, provider } of announcedProviders) {
        box.append(button(`Connect ${info.name}`, "connect-eip6963", () => linkEthereum(provider)));
      }
      const injected = window.ethereum;
      if (!announcedProviders.length && injected && typeof injected.request === "function") {
        box.append(button("Connect your wallet", "connect-evm", () => linkEthereum(injected)));
      }
    }
    if (family === "solana") {
      for (const wallet of standardWallets) {
        box.append(button(`Connect ${wallet.name}`, "connect-standard", () => linkStandard(wallet)));
      }
      const phantom = (window.phantom && window.phantom.solana) || window.solana;
      if (!standardWallets.length && phantom && typeof phantom.signMessage === "function") {
        box.append(button("Connect your wallet", "connect-solana", () => linkPhantom(phantom)));
      }
    }
    $("no-wallet").hidden = box.children.length > 0;
  }

  // The Wallet Standard handshake: wallets loaded before us answer app-ready, later ones
  // announce themselves with register-wallet.
  const registry = {
    register(...wallets) {
      for (const wallet of wallets) {
        const features = wallet && wallet.features;
        if (features && features["standard:connect"] && features["solana:signMessage"] && !standardWallets.includes(wallet)) {
          standardWallets.push(wallet);
        }
      }
      renderWallets();
      return () => {};
    },
  };
  window.addEventListener("wallet-standard:register-wallet", (event) => {
    if (typeof event.detail === "function") event.detail(registry);
  });
  // EIP-6963: every EVM wallet extension announces itself, so several can coexist.
  window.addEventListener("eip6963:announceProvider", (event) => {
    const detail = event.detail;
    if (!detail || !detail.info || !detail.provider || typeof detail.provider.request !== "function") return;
    if (announcedProviders.some((known) => known.info.uuid === detail.info.uuid)) return;
    announcedProviders.push({ info: { name: String(detail.info.name || "wallet"), uuid: detail.info.uuid }, provider: detail.provider });
    renderWallets();
  });
  if (family === "evm") window.dispatchEvent(new Event("eip6963:requestProvider"));
  if (family === "solana") {
    try {
      window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: registry }));
    } catch (_) { /* a broken wallet must not break the page */ }
  }

  $("manual-get").addEventListener("click", () => run(async () => {
    const address = $("manual-address").value.trim();
    if (!address) throw new Error("Enter the address of the wallet you will sign with.");
    showMessage(await challenge(address), true);
    setStatus("Sign the message exactly as shown, then paste the signature.");
  }));

  $("verify").addEventListener("click", () => run(async () => {
    const signature = $("signature").value.trim();
    if (!issued) throw new Error("Ask for the message first.");
    if (!signature) throw new Error("Paste the signature first.");
    await finish(issued.address, issued.message, signature);
  }));

  $("copy").addEventListener("click", async () => {
    const text = $("message").textContent;
    try {
      await navigator.clipboard.writeText(text);
      setStatus("Message copied.", "ok");
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents($("message"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      setStatus("Press Ctrl+C (or ⌘C) to copy the selected message.");
    }
  });

  renderWallets();
  // Extensions may inject their provider just after the page loads.
  window.addEventListener("load", renderWallets);
  window.addEventListener("ethereum#initialized", renderWallets, { once: true });
})();
