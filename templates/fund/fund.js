"use strict";
// The funding page: prepare each chain's transactions on the gateway, have the manager's
// wallet sign and send them, then let the gateway check the chain and record the result.
// Text only ever goes through textContent: nothing from the network becomes markup.
(function () {
  const app = document.getElementById("app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  const headers = { "Content-Type": "application/json" };

  async function json(url, body) {
    const options = body === undefined ? {} : { method: "POST", headers, body: JSON.stringify(body) };
    const response = await fetch(url, options);
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || response.statusText);
    return answer;
  }

  function show(plan) {
    if (plan.evm) {
      $("evm").hidden = false;
      $("evm-root").textContent = plan.evm.root;
      $("evm-total").textContent = plan.evm.total;
      $("evm-token").textContent = plan.evm.token;
      $("evm-chain").textContent = plan.evm.chain_id;
      if (plan.evm.distributor) {
        $("evm-distributor").textContent = plan.evm.distributor;
        $("evm-fund").disabled = true;
      }
    }
    if (plan.solana) {
      $("solana").hidden = false;
      $("solana-authority").textContent = plan.solana.claim_authority;
      $("solana-total").textContent = plan.solana.total;
      $("solana-mint").textContent = plan.solana.mint;
      if (plan.solana.allowance) {
        $("solana-allowance").textContent = plan.solana.allowance;
        $("solana-fund").disabled = true;
      }
    }
    return plan;
  }

  let plan = null;
  json(app.dataset.planUrl).then((p) => { plan = show(p); }).catch((e) => status(e.message));

  const pad = (hex) => hex.padStart(64, "0");
  async function receipt(hash) {
    for (;;) {
      const found = await window.ethereum.request({ method: "eth_getTransactionReceipt", params: [hash] });
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  $("evm-fund").addEventListener("click", async () => {
    if (!window.ethereum) return status("No EVM wallet found in this browser.");
    try {
      const [from] = await window.ethereum.request({ method: "eth_requestAccounts" });
      const chainId = "0x" + Number(plan.evm.chain_id).toString(16);
      await window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] })
        .catch(() => undefined);
      const { data } = await json(app.dataset.evmPrepareUrl, { owner: from });
      status("Deploying the distributor…");
      const deployed = await receipt(await window.ethereum.request({
        method: "eth_sendTransaction", params: [{ from, data }],
      }));
      const distributor = deployed.contractAddress;
      status("Transferring " + plan.evm.total + " to " + distributor + "…");
      const transfer = "0xa9059cbb" + pad(distributor.slice(2).toLowerCase()) +
        pad(BigInt(plan.evm.total).toString(16));
      await receipt(await window.ethereum.request({
        method: "eth_sendTransaction", params: [{ from, to: plan.evm.token, data: transfer }],
      }));
      plan = show(await json(app.dataset.evmConfirmUrl, { distributor }));
      status("The distributor is funded.");
    } catch (error) {
      status(error.message || String(error));
    }
  });

  $("solana-fund").addEventListener("click", async () => {
    const provider = window.solana;
    if (!provider) return status("No Solana wallet found in this browser.");
    try {
      const { publicKey } = await provider.connect();
      const owner = publicKey.toString();
      const prepared = await json(app.dataset.solanaPrepareUrl, { owner });
      const bytes = Uint8Array.from(atob(prepared.tx), (c) => c.charCodeAt(0));
      status("Approving the claim authority…");
      await provider.signAndSendTransaction(bytes);
      plan = show(await json(app.dataset.solanaConfirmUrl, { owner }));
      status("The allowance is granted.");
    } catch (error) {
      status(error.message || String(error));
    }
  });
})();
