// A small web application that signs people in through the console with OpenID Connect, as a
// SaaS application would: authorization code + PKCE (S256) + state + nonce with openid-client,
// then the ID token verified once more against the provider's JWKS with jose.
//
// Environment: RP_PORT, RP_ISSUER (the console), RP_CLIENT_ID, RP_CLIENT_SECRET.
// Pages: /login starts a sign-in; /callback finishes it and shows the verified claims as JSON in
// <pre id="claims">, or the error the provider sent in <p id="error">.
import http from "node:http";
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";

const port = Number(process.env.RP_PORT);
const issuer = process.env.RP_ISSUER;
const clientId = process.env.RP_CLIENT_ID;
const base = `http://localhost:${port}`;
const redirectUri = `${base}/callback`;

const config = await client.discovery(new URL(issuer), clientId, process.env.RP_CLIENT_SECRET,
  client.ClientSecretBasic(process.env.RP_CLIENT_SECRET), { execute: [client.allowInsecureRequests] });
const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
const pending = new Map(); // state -> { verifier, nonce }

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

function page(res, status, body) {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><title>Relying party</title>${body}`);
}

async function login(res) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  pending.set(state, { verifier, nonce });
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: "openid email profile groups", state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  res.writeHead(302, { location: url.href });
  res.end();
}

async function callback(req, res) {
  const current = new URL(req.url, base);
  const state = current.searchParams.get("state");
  if (current.searchParams.get("error")) {
    return page(res, 200, `<p id="error">${escape(current.searchParams.get("error"))}</p>`
      + `<p id="error-description">${escape(current.searchParams.get("error_description") || "")}</p>`
      + `<p id="state-known">${pending.has(state)}</p>`);
  }
  const expected = pending.get(state);
  if (!expected) return page(res, 400, `<p id="error">unknown state</p>`);
  pending.delete(state);
  const tokens = await client.authorizationCodeGrant(config, current, {
    pkceCodeVerifier: expected.verifier, expectedState: state, expectedNonce: expected.nonce,
  });
  const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: clientId });
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, payload.sub);
  page(res, 200, `<pre id="claims">${escape(JSON.stringify(payload))}</pre>`
    + `<pre id="header">${escape(JSON.stringify(protectedHeader))}</pre>`
    + `<pre id="userinfo">${escape(JSON.stringify(userinfo))}</pre>`);
}

http.createServer((req, res) => {
  const path = new URL(req.url, base).pathname;
  const handler = path === "/login" ? login(res) : path === "/callback" ? callback(req, res)
    : Promise.resolve(page(res, 404, "not found"));
  handler.catch((error) => page(res, 500, `<p id="error">${escape(error.name)}: ${escape(error.message)}</p>`));
}).listen(port, "127.0.0.1", () => console.log(`READY ${base}`));
