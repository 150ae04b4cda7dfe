// A real OpenID Connect provider (npm `oidc-provider` v9) for the test suite.
//
// Tests only: it runs on loopback, keeps everything in memory, uses the
// library's development interactions (any login/password is accepted, then a
// consent page with a "Continue" button) and a signing key generated at start.
//
// Environment:
//   OIDC_PORT      (required) TCP port to listen on (127.0.0.1 and ::1).
//   OIDC_ISSUER    issuer URL, default http://localhost:OIDC_PORT
//   OIDC_CLIENTS   JSON array of client metadata objects:
//                  [{"client_id": "...", "client_secret": "...",
//                    "redirect_uris": ["http://localhost:8000/oidc/callback/"]}]
//                  Any other client metadata given is passed through unchanged
//                  (e.g. post_logout_redirect_uris).
//   OIDC_ACCOUNTS  optional JSON object, login -> extra claims, e.g.
//                  {"alice@corp.example": {"name": "Alice",
//                   "identity_verified": true, "verification_level": "high"}}
//   OIDC_REQUIRE_PKCE  "0" to make PKCE optional (default: required).
//   OIDC_ID_TOKEN_TTL  seconds an ID token is valid (default 3600); tests of expired tokens use 1.
//
// Prints exactly one line "READY <issuer>" on stdout once listening; all
// diagnostics go to stderr. Exits 0 on SIGTERM/SIGINT.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n`);
  process.exit(2);
}

function parseJsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    return fail(`${name} is not valid JSON: ${err.message}`);
  }
}

const port = Number.parseInt(process.env.OIDC_PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  fail('OIDC_PORT must be set to a TCP port number');
}
const issuer = (process.env.OIDC_ISSUER || `http://localhost:${port}`).replace(/\/+$/, '');

const clientsInput = parseJsonEnv('OIDC_CLIENTS', []);
if (!Array.isArray(clientsInput)) fail('OIDC_CLIENTS must be a JSON array');
const clients = clientsInput.map((client, index) => {
  if (!client || typeof client !== 'object' || !client.client_id) {
    fail(`OIDC_CLIENTS[${index}] needs at least a client_id`);
  }
  return {
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // client_secret_post is what mozilla-django-oidc sends by default; the
    // provider accepts client_secret_basic for such a client as well (both
    // are "client secret" methods in oidc-provider's client authentication).
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
    ...client,
  };
});

const accounts = parseJsonEnv('OIDC_ACCOUNTS', {});
if (!accounts || typeof accounts !== 'object' || Array.isArray(accounts)) {
  fail('OIDC_ACCOUNTS must be a JSON object (login -> claims)');
}

// Claims per scope. With conformIdTokenClaims: false every claim of a granted
// scope is put in the ID token (and is available from userinfo).
const claims = {
  acr: null,
  auth_time: null,
  iss: null,
  sid: null,
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname',
    'preferred_username', 'profile', 'picture', 'website', 'gender',
    'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  verification: ['identity_verified', 'verification_level'],
};
// Extra claims from OIDC_ACCOUNTS that belong to no scope above (e.g. "groups")
// are released with the openid scope, i.e. always.
{
  const known = new Set(Object.entries(claims).flatMap(
    ([key, value]) => (Array.isArray(value) ? [key, ...value] : [key]),
  ));
  for (const extra of Object.values(accounts)) {
    for (const key of Object.keys(extra ?? {})) {
      if (!known.has(key)) {
        claims.openid.push(key);
        known.add(key);
      }
    }
  }
}

// Fresh RSA signing key for every run: nothing is stored on disk.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

const requirePkce = process.env.OIDC_REQUIRE_PKCE !== '0';

const configuration = {
  clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  claims,
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
  },
  pkce: {
    // oidc-provider v9 only supports the S256 code_challenge_method.
    required: () => requirePkce,
  },
  // Browsers in the tests may come from http://localhost:<other port>.
  clientBasedCORS: () => true,
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    ClientCredentials: 600,
    Grant: 3600,
    IdToken: Number.parseInt(process.env.OIDC_ID_TOKEN_TTL || '3600', 10),
    Interaction: 3600,
    RefreshToken: 86400,
    Session: 86400,
  },
  async findAccount(_ctx, sub) {
    const extra = accounts[sub] ?? {};
    return {
      accountId: sub,
      async claims() {
        return {
          email: sub,
          email_verified: true,
          name: sub,
          ...extra,
          sub,
        };
      },
    };
  },
};

let provider;
try {
  provider = new Provider(issuer, configuration);
} catch (err) {
  fail(`invalid configuration: ${err.stack ?? err}`);
}

// Static clients are only validated when first used: validate them now so a
// bad OIDC_CLIENTS fails at start, not in the middle of a browser test.
for (const { client_id: clientId } of clients) {
  try {
    await provider.Client.find(String(clientId));
  } catch (err) {
    fail(`invalid client ${clientId}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
  }
}

// The development login/consent pages @import a web font from the internet;
// tests have no internet access, so drop that import from the HTML.
provider.use(async (ctx, next) => {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);?/g, '');
  }
});

// Make failures visible in the test output (stderr).
for (const event of [
  'server_error', 'authorization.error', 'grant.error', 'userinfo.error',
  'end_session.error', 'jwks.error', 'discovery.error',
]) {
  provider.on(event, (ctx, err) => {
    const detail = err?.error_description ? ` (${err.error_description})` : '';
    process.stderr.write(`oidc test provider ${event}: ${err?.message ?? err}${detail}\n`);
  });
}

const callback = provider.callback();
const servers = [];

function listen(host) {
  return new Promise((resolve, reject) => {
    const server = createServer(callback);
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      servers.push(server);
      resolve(server);
    });
  });
}

// "localhost" may resolve to 127.0.0.1 or ::1: listen on both loopbacks.
await listen('127.0.0.1').catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
await listen('::1').catch((err) => {
  process.stderr.write(`oidc test provider: not listening on [::1]:${port} (${err.code ?? err.message})\n`);
});

process.stdout.write(`READY ${issuer}\n`);

function shutdown() {
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
