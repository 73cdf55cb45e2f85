// node-oidc-provider peer for benches/peers/oauth-bench.sh.
//
//   PORT=3000 node server.js
//
// - oidc-provider (version pinned in package.json) with its own in-memory
//   adapter (lib/adapters/memory_adapter.js). The library's default instance
//   of that adapter keeps at most 1,000 entries (a two-generation LRU), far
//   fewer than a pre-minted batch of codes, so the same adapter class is given
//   the library's own LRU with a larger size (LRU_SIZE, default 5,000,000).
//   Nothing else about the adapter changes.
// - Two static clients, as authstore's token_bench_server registers:
//   a confidential one (client_secret_basic) and a public one
//   (token_endpoint_auth_method=none), both for the code flow with refresh
//   tokens, scope offline_access (and openid, for the ID token case),
//   redirect URI https://client.example/callback.
//   oidc-provider keeps a static client's secret in plaintext and compares it
//   with crypto.timingSafeEqual (lib/models/client.js compareClientSecret).
// - PKCE required for every client; S256 is the only method oidc-provider 9
//   supports.
// - Introspection enabled (POST /token/introspection); opaque access tokens
//   (the default format), 256 bits of randomness (the default).
// - ID tokens signed with RS256 (oidc-provider's default algorithm) by a
//   2048-bit RSA key generated at start (instead of the library's built-in
//   development key).
// - Authorization codes live CODE_TTL seconds (default 600 instead of the
//   library's 60) so that a batch minted before a timed run outlives it.
//
// BENCH ONLY routes (as in authstore's example; not part of any product):
// - GET  /bench/clients: key=value lines (client ids, the secret, redirect URI).
// - POST /bench/codes?n=N&client=confidential|public: mints N codes and
//   answers "code verifier" lines. Each code is made as the authorization
//   endpoint makes one after sign-in and consent (lib/helpers/
//   process_response_types.js codeHandler): a Grant with the OIDC scope
//   offline_access is saved for the account, then an AuthorizationCode bound
//   to the client, redirect URI, S256 challenge, scope and grant is saved,
//   through the provider's own models and adapter.
//   With &openid=1 the code is an OpenID Connect one, as after a sign-in with
//   scope openid and a nonce: the Grant holds the OIDC scope openid, and since
//   oidc-provider binds a code without offline_access to the browser session
//   that produced it (its default expiresWithSession), a Session (the user's
//   sign-in at auth_time, holding the grant) is saved first and the code
//   carries its uid, the nonce and auth_time; /token then checks that
//   session, as for a real code, and returns an RS256 ID token.
// - GET  /bench/code?value=CODE: the stored payload of a code (to compare a
//   minted code with one from the real interaction flow, see realflow.js).
import { randomBytes, createHash, generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const PORT = Number(process.env.PORT || 3000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const CODE_TTL = Number(process.env.CODE_TTL || 600);
const LRU_SIZE = Number(process.env.LRU_SIZE || 5_000_000);
const REDIRECT_URI = 'https://client.example/callback';
const SCOPE = 'offline_access';
const SUBJECT = 'u-bench';
const MAX_BATCH = 2_000_000;

const b64url = (buf) => buf.toString('base64url');
const CONFIDENTIAL_ID = 'bench-confidential';
const CONFIDENTIAL_SECRET = b64url(randomBytes(32));
const PUBLIC_ID = 'bench-public';

const storage = new LRU({ maxSize: LRU_SIZE });
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: b64url(randomBytes(8)),
  alg: 'RS256',
  use: 'sig',
};

const provider = new Provider(ISSUER, {
  adapter: (model) => new MemoryAdapter(model, storage, 0),
  clients: [
    {
      client_id: CONFIDENTIAL_ID,
      client_secret: CONFIDENTIAL_SECRET,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: `openid ${SCOPE}`,
    },
    {
      client_id: PUBLIC_ID,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
      scope: `openid ${SCOPE}`,
    },
  ],
  scopes: ['openid', SCOPE],
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  features: {
    introspection: { enabled: true },
    // The dev sign-in/consent pages (on by default) let realflow.js drive the
    // real interaction flow once, as a check of the minted codes.
    devInteractions: { enabled: true },
  },
  ttl: {
    AuthorizationCode: CODE_TTL,
    AccessToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    IdToken: 3600,
  },
  cookies: { keys: [b64url(randomBytes(32))] },
  // Any subject is an account, as authstore does not look users up at /token.
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
});

function text(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'text/plain';
  ctx.body = body;
}

async function mint(client) {
  const verifier = b64url(randomBytes(32));
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const grant = new provider.Grant({ accountId: SUBJECT, clientId: client.clientId });
  grant.addOIDCScope(SCOPE);
  const grantId = await grant.save();
  const code = new provider.AuthorizationCode({
    accountId: SUBJECT,
    authTime: Math.floor(Date.now() / 1000),
    client,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    grantId,
    redirectUri: REDIRECT_URI,
    scope: SCOPE,
  });
  return `${await code.save()} ${verifier}\n`;
}

// An OpenID Connect code (scope openid, a nonce), bound to a saved session as the authorization endpoint binds it.
async function mintOpenId(client) {
  const verifier = b64url(randomBytes(32));
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authTime = Math.floor(Date.now() / 1000);
  const grant = new provider.Grant({ accountId: SUBJECT, clientId: client.clientId });
  grant.addOIDCScope('openid');
  const grantId = await grant.save();
  const session = new provider.Session({ accountId: SUBJECT, loginTs: authTime });
  session.grantIdFor(client.clientId, grantId);
  await session.save(14 * 24 * 3600);
  const code = new provider.AuthorizationCode({
    accountId: SUBJECT,
    authTime,
    client,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    expiresWithSession: true,
    grantId,
    nonce: b64url(randomBytes(16)),
    redirectUri: REDIRECT_URI,
    scope: 'openid',
    sessionUid: session.uid,
  });
  return `${await code.save()} ${verifier}\n`;
}

// BENCH ONLY: the /bench/* routes above.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/bench/')) {
    await next();
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/bench/clients') {
    text(ctx, 200, [
      `confidential_id=${CONFIDENTIAL_ID}`,
      `confidential_secret=${CONFIDENTIAL_SECRET}`,
      `public_id=${PUBLIC_ID}`,
      `redirect_uri=${REDIRECT_URI}`,
      `scope=${SCOPE}`,
      '',
    ].join('\n'));
    return;
  }
  // POST /bench/codes?n=N&client=confidential|public[&openid=1]
  if (ctx.method === 'POST' && ctx.path === '/bench/codes') {
    const n = Number(ctx.query.n);
    const id = { confidential: CONFIDENTIAL_ID, public: PUBLIC_ID }[ctx.query.client];
    if (!Number.isInteger(n) || n < 1 || n > MAX_BATCH || !id) {
      text(ctx, 400, `n must be 1 to ${MAX_BATCH}, client confidential or public\n`);
      return;
    }
    const client = await provider.Client.find(id);
    const make = ctx.query.openid === '1' ? mintOpenId : mint;
    const lines = [];
    for (let i = 0; i < n; i += 1) {
      lines.push(await make(client));
    }
    text(ctx, 200, lines.join(''));
    return;
  }
  if (ctx.method === 'GET' && ctx.path === '/bench/code') {
    const code = await provider.AuthorizationCode.find(String(ctx.query.value));
    if (!code) {
      text(ctx, 404, 'no such code\n');
      return;
    }
    ctx.body = { ...code };
    return;
  }
  text(ctx, 404, 'not found\n');
});

provider.listen(PORT, '127.0.0.1', () => {
  console.error(`oidc-provider peer: ${ISSUER} (code TTL ${CODE_TTL} s, memory adapter LRU ${LRU_SIZE})`);
});
