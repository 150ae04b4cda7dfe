// Opens a sealed prompt-log entry in this browser with the organization's private key.
// HPKE (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, single-shot,
// with the vendored @hpke modules. The private key is read from the page and never sent anywhere;
// only "this entry was decrypted" is reported to the console, for the audit trail.
import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "../vendor/hpke/core/esm/mod.js";
import { Chacha20Poly1305 } from "../vendor/hpke/chacha20poly1305/esm/mod.js";

const ENC_BYTES = 32;
// PKCS#8 wrapping of an X25519 private key: this 16-byte header, then the 32-byte key.
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function fromBase64(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, ""));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function rawPrivateKey(text) {
  text = text.trim();
  if (text.includes("PUBLIC KEY")) throw new Error("That is the public key: the private key is needed to decrypt.");
  if (text.startsWith("-----BEGIN")) {
    if (!text.includes("-----BEGIN PRIVATE KEY-----")) throw new Error("Give an unencrypted PKCS#8 PEM (BEGIN PRIVATE KEY).");
    const der = fromBase64(text.replace(/-----[^-]+-----/g, ""));
    const header = Array.from(der.slice(0, PKCS8_X25519.length));
    if (der.length !== 48 || header.some((b, i) => b !== PKCS8_X25519[i])) throw new Error("This PEM is not an X25519 private key.");
    return der.slice(PKCS8_X25519.length);
  }
  const raw = fromBase64(text);
  if (raw.length !== 32) throw new Error("An X25519 private key is 32 bytes; this one is " + raw.length + ".");
  return raw;
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function item(list, text) {
  const li = document.createElement("li");
  li.textContent = text;
  list.appendChild(li);
}

function show(content) {
  const box = document.getElementById("decrypted");
  box.querySelector('[data-field="prompt"]').textContent = content.prompt;
  box.querySelector('[data-field="response"]').textContent = content.response || "(no response captured)";
  const topics = box.querySelector('[data-field="topics"]');
  topics.replaceChildren();
  for (const t of content.topics.topics) item(topics, t.name + " — " + t.confidence + ": " + t.reasons.join("; "));
  for (const t of (content.response_topics || { topics: [] }).topics) item(topics, "Response: " + t.name + " — " + t.confidence);
  if (!topics.children.length) item(topics, "none");
  const dlp = box.querySelector('[data-field="dlp"]');
  dlp.replaceChildren();
  for (const m of content.dlp_matches) item(dlp, m.entry + " in the " + m.in + ": …" + m.before + m.redacted + m.after + "…");
  if (!dlp.children.length) item(dlp, "none");
  box.hidden = false;
}

async function decrypt(sealedHex, uid, keyText) {
  const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
  const sealed = fromHex(sealedHex);
  const recipientKey = await suite.kem.deserializePrivateKey(rawPrivateKey(keyText).buffer);
  const info = new TextEncoder().encode("zero-trust-console prompt-log v1 " + uid);
  const plain = await suite.open({ recipientKey, enc: sealed.slice(0, ENC_BYTES).buffer, info: info.buffer },
    sealed.slice(ENC_BYTES).buffer);
  return JSON.parse(new TextDecoder().decode(plain));
}

const form = document.getElementById("decrypt-form");
const sealedBox = document.getElementById("sealed");
if (form && sealedBox) {
  const error = document.getElementById("decrypt-error");
  const keyField = document.getElementById("private-key");
  document.getElementById("private-key-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) keyField.value = await file.text();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const content = await decrypt(sealedBox.dataset.sealed, sealedBox.dataset.uid, keyField.value);
      show(content);
      keyField.value = "";
      await fetch(sealedBox.dataset.viewedUrl, { method: "POST", headers: { "X-CSRFToken": csrfToken() }, credentials: "same-origin" });
    } catch (exc) {
      const opened = exc && exc.name === "OpenError";
      error.textContent = opened ? "This key does not open the entry: it was sealed to the key " + sealedBox.dataset.fingerprint + "." : String(exc.message || exc);
      error.hidden = false;
    }
  });
  form.querySelector("button[type=submit]").disabled = false;
}
