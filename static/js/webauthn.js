// WebAuthn ceremonies for enrolment and step-up. The browser's own JSON helpers do the
// base64url work (PublicKeyCredential.parse*OptionsFromJSON, credential.toJSON()).
(function () {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {error: "The console did not answer."}; });
    if (!response.ok || data.error) throw new Error(data.error || "The console refused the request.");
    return data;
  }

  function report(el, message) {
    const box = document.querySelector(el.dataset.status || "#webauthn-status");
    if (box) { box.textContent = message; box.hidden = false; }
  }

  function unsupported() {
    return !window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON;
  }

  async function register(button) {
    if (unsupported()) return report(button, "This browser cannot use security keys or biometrics.");
    const kind = button.dataset.webauthnRegister;
    const nameInput = document.querySelector(button.dataset.nameInput || "#webauthn-name");
    try {
      button.disabled = true;
      const options = await post(button.dataset.optionsUrl, {kind: kind});
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
      const credential = await navigator.credentials.create({publicKey: publicKey});
      const done = await post(button.dataset.completeUrl, {
        kind: kind, name: nameInput ? nameInput.value : "", credential: credential.toJSON(),
      });
      window.location.assign(done.next);
    } catch (error) {
      report(button, error.name === "NotAllowedError" ? "The authenticator did not confirm (cancelled or timed out)." : error.message);
      button.disabled = false;
    }
  }

  async function verify(button) {
    if (unsupported()) return report(button, "This browser cannot use security keys or biometrics.");
    try {
      button.disabled = true;
      const options = await post(button.dataset.optionsUrl, {methods: button.dataset.methods || ""});
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
      const credential = await navigator.credentials.get({publicKey: publicKey});
      const done = await post(button.dataset.completeUrl, {credential: credential.toJSON(), next: button.dataset.next || ""});
      window.location.assign(done.next);
    } catch (error) {
      report(button, error.name === "NotAllowedError" ? "The authenticator did not confirm (cancelled or timed out)." : error.message);
      button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    const reg = event.target.closest("[data-webauthn-register]");
    if (reg) { event.preventDefault(); register(reg); return; }
    const ver = event.target.closest("[data-webauthn-verify]");
    if (ver) { event.preventDefault(); verify(ver); }
  });
})();
