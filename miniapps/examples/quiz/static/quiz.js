// The daily quiz page: Townsquare's SDK for the member's token, our own backend for the rest.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const appId = document.body.dataset.appId;
  const tg = window.Telegram && window.Telegram.WebApp;

  async function json(method, path, body) {
    const response = await fetch(path, {
      method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
    });
    return response.json();
  }

  async function main() {
    if (tg) { tg.ready(); tg.expand(); }
    let session;
    try {
      session = await window.Townsquare.session(appId);
    } catch (error) {
      $("question").textContent = error.message;
      return;
    }
    $("who").textContent = `Hello, ${session.first_name}`;
    const question = await json("GET", "/api/question");
    $("question").textContent = question.text;
    const buttons = question.choices.map((text, choice) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = text;
      button.dataset.testid = "quiz-choice";
      button.addEventListener("click", async () => {
        buttons.forEach((b) => { b.disabled = true; });
        const result = await json("POST", "/api/answer", { token: session.token, question_id: question.id, choice });
        if (!result.correct) $("result").textContent = "Not quite. Come back tomorrow for another question.";
        else if (result.status === "credited") $("result").textContent = `Correct! +${result.points} points`;
        else if (result.error) $("result").textContent = `Correct, but Townsquare refused (${result.error}).`;
        else $("result").textContent = `Correct! (${result.reason || "no points this time"})`;
      });
      return button;
    });
    $("choices").replaceChildren(...buttons);
  }

  main();
})();
