// Signing in with a passkey or security key on the sign-in page: through the browser's passkey
// autofill on the e-mail field (conditional mediation, started when the page loads) or with the
// "Sign in with a passkey or security key" button. The console picks the person from the
// passkey the authenticator offers; no e-mail or password is typed.
(function () {
  "use strict";

  let pending = null; // the AbortController of the autofill request waiting in the background

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(url, body, signal) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", signal: signal || undefined,
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {error: "The console did not answer."}; });
    if (!response.ok || data.error) throw new Error(data.error || "The console refused the request.");
    return data;
  }

  function report(message) {
    const box = document.getElementById("passkey-status");
    if (box) { box.textContent = message; box.hidden = !message; }
  }

  function supported() {
    return window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON;
  }

  async function signIn(button, mediation, signal) {
    const options = await post(button.dataset.optionsUrl, {}, signal);
    const request = {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)};
    if (mediation) { request.mediation = mediation; request.signal = signal; }
    const credential = await navigator.credentials.get(request);
    if (!credential) return;
    report("");
    const done = await post(button.dataset.completeUrl, {credential: credential.toJSON(), next: button.dataset.next || ""});
    window.location.assign(done.next);
  }

  function explain(error) {
    if (error.name === "AbortError") return "";
    if (error.name === "NotAllowedError") return "The authenticator did not confirm (cancelled, timed out, or it holds no passkey for this console).";
    return error.message;
  }

  async function autofill(button) {
    if (!supported() || !PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    pending = new AbortController();
    try {
      await signIn(button, "conditional", pending.signal);
    } catch (error) {
      const message = explain(error);
      if (message) { report(message); autofill(button); }
    }
  }

  async function withButton(button) {
    if (!supported()) return report("This browser cannot use passkeys or security keys.");
    if (pending) { pending.abort(); pending = null; }
    button.disabled = true;
    try {
      await signIn(button, null, null);
    } catch (error) {
      report(explain(error));
      button.disabled = false;
      autofill(button);
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-passkey-sign-in]");
    if (button) { event.preventDefault(); withButton(button); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    const button = document.querySelector("[data-passkey-sign-in]");
    if (button) autofill(button);
  });
})();
