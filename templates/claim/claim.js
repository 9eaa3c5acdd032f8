"use strict";
// The claim page: look up the connected wallet's proof, then claim from that wallet.
// Text only ever goes through textContent: nothing from the network becomes markup.
(function () {
  const app = document.getElementById("app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  let current = null;

  async function json(url, options) {
    const response = await fetch(url, options);
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    return body;
  }

  function show(claim) {
    current = claim;
    $("account").textContent = claim.account;
    $("amount").textContent = claim.amount;
    $("index").textContent = String(claim.index);
    const list = $("proof");
    list.replaceChildren(...claim.proof.map((node) => {
      const item = document.createElement("li");
      item.textContent = node;
      return item;
    }));
    $("claim").hidden = false;
  }

  async function lookup(account, family) {
    try {
      show({ ...(await json(app.dataset.proofUrl + encodeURIComponent(account))), family });
      status("");
    } catch (error) {
      status(error.message);
    }
  }

  async function confirm(account, txHash) {
    const body = JSON.stringify({ account, tx_hash: txHash });
    const headers = { "Content-Type": "application/json" };
    const done = await json(app.dataset.confirmUrl, { method: "POST", headers, body });
    status("Claim " + done.status + ": " + txHash);
  }

  $("evm-connect").addEventListener("click", async () => {
    if (!window.ethereum) return status("No EVM wallet found in this browser.");
    const [account] = await window.ethereum.request({ method: "eth_requestAccounts" });
    await lookup(account, "evm");
  });

  $("solana-connect").addEventListener("click", async () => {
    const provider = window.solana;
    if (!provider) return status("No Solana wallet found in this browser.");
    const { publicKey } = await provider.connect();
    await lookup(publicKey.toString(), "solana");
  });

  $("claim-button").addEventListener("click", async () => {
    if (!current) return;
    try {
      if (current.chain === "evm") {
        const chainId = "0x" + Number(current.chain_id).toString(16);
        await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] })
          .catch((error) => {
            // 4902: the wallet does not know the chain; the sandbox's can be added.
            if (error.code !== 4902 || !app.dataset.evmRpcUrl) return undefined;
            return window.ethereum.request({
              method: "wallet_addEthereumChain",
              params: [{ chainId, chainName: "Townsquare sandbox", rpcUrls: [app.dataset.evmRpcUrl],
                         nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }],
            }).catch(() => undefined);
          });
        const txHash = await window.ethereum.request({
          method: "eth_sendTransaction",
          params: [{ from: current.account, to: current.distributor, data: current.calldata }],
        });
        status("Sent " + txHash + "; waiting for the chain…");
        await confirm(current.account, txHash);
      } else {
        const headers = { "Content-Type": "application/json" };
        const body = JSON.stringify({ owner: current.account });
        const prepared = await json(app.dataset.prepareUrl, { method: "POST", headers, body });
        // Wallets such as Phantom take the serialized transaction and sign as fee payer.
        const bytes = Uint8Array.from(atob(prepared.tx), (c) => c.charCodeAt(0));
        const { signature } = await window.solana.signAndSendTransaction(bytes);
        status("Sent " + signature + "; waiting for the chain…");
        await confirm(current.account, signature);
      }
    } catch (error) {
      status(error.message || String(error));
    }
  });
})();
