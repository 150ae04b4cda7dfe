// A DEVELOPMENT identity-verification provider for the console's embedded default.
//
// It speaks real OpenID Connect (npm `oidc-provider`: discovery, authorization code flow with
// PKCE, RS256 ID tokens from its own key, JWKS) so the whole onboarding flow can be tried without
// a vendor account. It verifies NOTHING: its page lets the tester choose what the "verification"
// says (verified or not, which assurance level). It refuses to start with CONSOLE_ENV=production,
// and its discovery document says `"x_development_only": true`, which the console refuses unless
// DEV_VERIFICATION_PROVIDER is on (never in production).
//
// Environment:
//   DEV_IDV_PORT           TCP port (default 8001), on loopback only.
//   DEV_IDV_ISSUER         issuer URL (default http://localhost:DEV_IDV_PORT)
//   DEV_IDV_CLIENT_ID      the console's client id (default console-dev)
//   DEV_IDV_CLIENT_SECRET  its secret (required)
//   DEV_IDV_REDIRECT_URIS  comma-separated redirect URIs of the console's callback
//
// Prints "READY <issuer>" on stdout once listening.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`development verification provider: ${message}\n`);
  process.exit(2);
}

if ((process.env.CONSOLE_ENV || '').toLowerCase() === 'production') {
  fail('refusing to start: CONSOLE_ENV=production. This provider accepts anyone; connect a real vendor.');
}

const port = Number.parseInt(process.env.DEV_IDV_PORT || '8001', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail('DEV_IDV_PORT must be a TCP port number');
const issuer = (process.env.DEV_IDV_ISSUER || `http://localhost:${port}`).replace(/\/+$/, '');
const clientId = process.env.DEV_IDV_CLIENT_ID || 'console-dev';
const clientSecret = process.env.DEV_IDV_CLIENT_SECRET || fail('DEV_IDV_CLIENT_SECRET must be set');
const redirectUris = (process.env.DEV_IDV_REDIRECT_URIS || '').split(',').map((u) => u.trim()).filter(Boolean);
if (!redirectUris.length) fail('DEV_IDV_REDIRECT_URIS must name the console callback URL(s)');

const LEVELS = ['low', 'medium', 'high'];
// What the tester chose for each "verified" person, by account id (kept in memory).
const people = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    verification: ['identity_verified', 'verification_level', 'txn'],
  },
  scopes: ['openid', 'email', 'profile', 'verification'],
  conformIdTokenClaims: false,
  discovery: { x_development_only: true, service_documentation: undefined },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  ttl: { AuthorizationCode: 300, IdToken: 600, AccessToken: 600, Interaction: 1800, Session: 1800, Grant: 1800 },
  async findAccount(_ctx, sub) {
    const person = people.get(sub);
    if (!person) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: person.email,
          email_verified: true,
          name: person.name,
          identity_verified: person.verified,
          verification_level: person.level,
          txn: person.txn,
        };
      },
    };
  },
});

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function page(title, body) {
  // No script and no external resource: everything inline-free except one <style>.
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;background:#fff7e6;margin:0;padding:2rem}
main{max-width:560px;margin:auto;background:#fff;border:3px dashed #c77700;border-radius:10px;padding:1.5rem}
.banner{background:#c77700;color:#fff;font-weight:700;padding:.5rem .8rem;border-radius:6px;margin-bottom:1rem}
label{display:block;margin:.8rem 0 .3rem;font-weight:600}input,select{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}
button{font:inherit;margin-top:1.2rem;padding:.6rem 1rem;background:#1d4ed8;color:#fff;border:0;border-radius:6px;width:100%}
.muted{color:#555;font-size:.9rem}</style></head><body><main>
<div class="banner" role="note">DEVELOPMENT ONLY — this provider verifies nothing</div>${body}</main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
}

async function interaction(req, res) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, page('Expired', `<h1>This verification expired</h1><p>${esc(err.message)}</p>
      <p class="muted">Go back to the console and start again.</p>`));
  }
  const { uid, params } = details;
  if (req.method === 'POST') {
    const form = await readForm(req);
    const email = (form.get('email') || '').trim().toLowerCase();
    const level = LEVELS.includes(form.get('level')) ? form.get('level') : 'low';
    const accountId = `dev-${randomUUID()}`;
    people.set(accountId, {
      email, name: (form.get('name') || email).trim(), verified: form.get('outcome') === 'verified',
      level, txn: `dev-txn-${randomUUID()}`,
    });
    const grant = new provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope || 'openid'));
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, {
      login: { accountId, amr: ['face', 'hwk'] }, consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }
  const hint = params.login_hint || '';
  return send(res, 200, page('Development identity verification', `
    <h1>Identity verification (simulated)</h1>
    <p class="muted">A real provider would check a government ID and a selfie here. Choose what this
    simulated verification reports back to the console.</p>
    <form method="post" action="/interaction/${esc(uid)}">
      <label for="email">E-mail being verified</label>
      <input id="email" name="email" type="email" value="${esc(hint)}" required>
      <label for="name">Name on the ID</label>
      <input id="name" name="name" type="text" value="">
      <label for="outcome">Outcome</label>
      <select id="outcome" name="outcome"><option value="verified">Verified</option>
        <option value="not_verified">Not verified (document rejected)</option></select>
      <label for="level">Assurance level</label>
      <select id="level" name="level"><option>high</option><option>medium</option><option>low</option></select>
      <button type="submit">Finish the verification</button>
    </form>`));
}

const callback = provider.callback();
const server = createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      process.stderr.write(`development verification provider: ${err.stack ?? err}\n`);
      if (!res.headersSent) send(res, 500, page('Error', '<h1>Something went wrong</h1>'));
    });
    return;
  }
  callback(req, res);
});
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  // "localhost" may resolve to ::1 in the browser: answer there too when the machine has it.
  const v6 = createServer(server.listeners('request')[0]);
  v6.on('error', () => {});
  v6.listen(port, '::1');
  process.stdout.write(`READY ${issuer}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
