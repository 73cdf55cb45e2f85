// panva's openid-client (its own discovery, PKCE, state, iss, nonce and ID token validation) against `authstore serve`: OAuth code + PKCE with refresh and revocation, OpenID Connect sign-in with an ID token and userinfo, and discovery through both metadata documents. Run by scripts/oidc-interop, one process per server configuration.
//
// Environment (all set by scripts/oidc-interop):
//   OIDC_INTEROP_RUN             a name for the run, printed on every line
//   OIDC_INTEROP_ISSUER          the issuer (http://127.0.0.1:PORT or http://127.0.0.1:PORT/tenant)
//   OIDC_INTEROP_ID_TOKEN_ALG    the ID-token alg of the confidential client ([[clients]] id_token_alg) and of the client
//                                registered here (id_token_signed_response_alg): RS256, ES256 or EdDSA; the public client
//                                states none and gets the OpenID Connect default, RS256
//   OIDC_INTEROP_STEPS           comma-separated steps to run (default: all)
//   OIDC_INTEROP_USERNAME, OIDC_INTEROP_PASSWORD, OIDC_INTEROP_SUBJECT   the user and its id (the tokens' sub)
//   OIDC_INTEROP_PUBLIC_ID       a public client (PKCE only)
//   OIDC_INTEROP_CONFIDENTIAL_ID, OIDC_INTEROP_CONFIDENTIAL_SECRET   a confidential client (client_secret_basic)
//   OIDC_INTEROP_REDIRECT_URI    both clients' redirect URI (nothing listens there: the redirect is read, not followed)

import { createHash } from 'node:crypto';

import * as client from 'openid-client';

import { Browser, requiredEnv } from '../../../authstore-axum/tests/mcp-interop/browser.mjs';

const env = (name) => requiredEnv('oidc-interop client', name);

const run = env('OIDC_INTEROP_RUN');
const issuer = env('OIDC_INTEROP_ISSUER');
const idTokenAlg = env('OIDC_INTEROP_ID_TOKEN_ALG');
const username = env('OIDC_INTEROP_USERNAME');
const subject = env('OIDC_INTEROP_SUBJECT');
const publicId = env('OIDC_INTEROP_PUBLIC_ID');
const confidentialId = env('OIDC_INTEROP_CONFIDENTIAL_ID');
const confidentialSecret = env('OIDC_INTEROP_CONFIDENTIAL_SECRET');
const redirectUri = env('OIDC_INTEROP_REDIRECT_URI');
const browser = new Browser({ username, password: env('OIDC_INTEROP_PASSWORD') });
const issuerUrl = new URL(issuer);
const issuerPath = issuerUrl.pathname.replace(/\/$/, '');

class StepFailure extends Error {}

/** Fails the current step with `message` unless `condition` holds. */
function expect(condition, message) {
  if (!condition) {
    throw new StepFailure(typeof message === 'function' ? message() : message);
  }
}

/** Every HTTP exchange openid-client makes, for failure messages. */
const exchanges = [];
async function recordingFetch(url, init) {
  const entry = { method: init?.method ?? 'GET', url: String(url), status: undefined };
  exchanges.push(entry);
  const response = await fetch(url, init);
  entry.status = response.status;
  return response;
}

/** openid-client's options: plain http on loopback (the test server), and the recording fetch. */
function options(extra = {}) {
  return { execute: [client.allowInsecureRequests], [client.customFetch]: recordingFetch, timeout: 15, ...extra };
}

let failed = 0;
const selected = process.env.OIDC_INTEROP_STEPS ? new Set(process.env.OIDC_INTEROP_STEPS.split(',')) : undefined;

/** Runs one named step; prints `ok [run] name: detail` or `FAIL [run] name: why` (and the HTTP exchanges of the step). */
async function step(name, key, fn) {
  if (selected && !selected.has(key)) {
    return;
  }
  const mark = exchanges.length;
  try {
    const detail = await fn();
    console.log(`ok   [${run}] ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    failed += 1;
    const why = error instanceof StepFailure ? error.message : describeError(error);
    console.log(`FAIL [${run}] ${name}: ${why}`);
    const seen = exchanges.slice(mark).map((e) => `    ${e.method} ${e.url} → ${e.status}`);
    if (seen.length > 0) {
      console.log(`  HTTP exchanges of this step:\n${seen.join('\n')}`);
    }
  }
}

/** An openid-client error with its OAuth error code, status and cause, on one line. */
function describeError(error) {
  const parts = [`${error?.name ?? 'Error'}: ${error?.message ?? error}`];
  if (error?.code) parts.push(`code=${error.code}`);
  if (error?.error) parts.push(`error=${error.error}`);
  if (error?.error_description) parts.push(`error_description=${error.error_description}`);
  if (error?.status) parts.push(`status=${error.status}`);
  if (error?.cause instanceof Error) {
    parts.push(`cause: ${describeError(error.cause)}`);
  } else if (error?.cause !== undefined) {
    let cause;
    try {
      cause = JSON.stringify(error.cause, (k, v) => (k === 'access_token' || k === 'refresh_token' ? '…' : v));
    } catch {
      cause = String(error.cause);
    }
    parts.push(`cause=${cause?.slice(0, 600)}`);
  }
  return parts.join('; ');
}

/** OIDC Core §3.1.3.6: the left half of the hash of the access token, for the ID token's alg (EdDSA with Ed25519: SHA-512). */
function atHash(accessToken, alg) {
  const hash = { RS256: 'sha256', ES256: 'sha256', PS256: 'sha256', EdDSA: 'sha512', Ed25519: 'sha512' }[alg];
  expect(hash, `no at_hash rule for alg ${alg}`);
  const digest = createHash(hash).update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** The JOSE header of a compact JWS. */
function joseHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
}

/** Discovers with openid-client as `clientId`; `algorithm` is 'oidc' (openid-configuration) or 'oauth2' (RFC 8414). */
function discover(clientId, clientMetadata, auth, algorithm, server = issuerUrl) {
  return client.discovery(server, clientId, clientMetadata, auth, options({ algorithm }));
}

// The public client states no ID-token alg: openid-client then expects RS256, the OpenID Connect default.
const publicMetadata = { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' };
const confidentialMetadata = { redirect_uris: [redirectUri], id_token_signed_response_alg: idTokenAlg };

/** The authorization URL for `config` with PKCE S256 and a state (and `extra`); returns the URL and the checks the answer needs. */
async function authorizationRequest(config, scope, extra = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  return { url, checks: { pkceCodeVerifier, expectedState: state } };
}

/** Signs in and consents in the pages for `url`; returns the redirect to the client (code, state, iss). */
async function signIn(url) {
  const redirect = await browser.authorize(url.href, redirectUri);
  expect(!redirect.searchParams.has('error'), () => `the authorization server answered ${redirect.searchParams.get('error')}: ${redirect.searchParams.get('error_description') ?? ''}`);
  return redirect;
}

/** Expects `promise` to fail with the OAuth error `code`; returns the error. */
async function expectOAuthError(promise, code, what) {
  const outcome = await promise.then(() => undefined, (e) => e);
  expect(outcome, `${what} succeeded`);
  expect(outcome.error === code, () => `${what}: expected error ${code}, got ${describeError(outcome)}`);
  return outcome;
}

const state = {};

// --- discovery -----------------------------------------------------------------

await step('discovery through openid-configuration (OpenID Connect Discovery 1.0)', 'discovery', async () => {
  const config = await discover(publicId, publicMetadata, client.None(), 'oidc');
  const meta = config.serverMetadata();
  const wellKnown = `${issuerUrl.origin}${issuerPath}/.well-known/openid-configuration`;
  expect(exchanges.some((e) => e.url === wellKnown && e.status === 200), () => `openid-client did not read ${wellKnown}`);
  expect(meta.issuer === issuer, () => `issuer ${meta.issuer}, expected ${issuer}`);
  for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'revocation_endpoint']) {
    expect(meta[endpoint]?.startsWith(`${issuer}/`), () => `${endpoint} ${meta[endpoint]} is not under the issuer ${issuer}`);
  }
  expect(meta.response_types_supported?.includes('code'), 'response_types_supported lacks code');
  expect(meta.subject_types_supported?.length > 0, 'no subject_types_supported (required by OpenID Discovery)');
  expect(meta.id_token_signing_alg_values_supported?.includes(idTokenAlg), () => `id_token_signing_alg_values_supported ${meta.id_token_signing_alg_values_supported} lacks ${idTokenAlg}`);
  expect(meta.id_token_signing_alg_values_supported?.includes('RS256'), 'id_token_signing_alg_values_supported lacks RS256 (OpenID Discovery: MUST include RS256)');
  expect(meta.scopes_supported?.includes('openid'), 'scopes_supported lacks openid');
  expect(meta.code_challenge_methods_supported?.includes('S256'), 'code_challenge_methods_supported lacks S256');
  state.oidcMeta = meta;
  return `${wellKnown}: issuer ${meta.issuer}, id_token_signing_alg_values_supported ${meta.id_token_signing_alg_values_supported.join(' ')}, subject_types ${meta.subject_types_supported.join(' ')}`;
});

await step('discovery through oauth-authorization-server (RFC 8414)', 'discovery', async () => {
  const config = await discover(publicId, publicMetadata, client.None(), 'oauth2');
  const meta = config.serverMetadata();
  const wellKnown = `${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerPath}`;
  expect(exchanges.some((e) => e.url === wellKnown && e.status === 200), () => `openid-client did not read ${wellKnown}`);
  expect(meta.issuer === issuer, () => `issuer ${meta.issuer}, expected ${issuer}`);
  if (state.oidcMeta) {
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'revocation_endpoint', 'userinfo_endpoint']) {
      expect(meta[key] === state.oidcMeta[key], () => `${key}: ${meta[key]} here, ${state.oidcMeta[key]} in openid-configuration`);
    }
  }
  return `${wellKnown}: issuer ${meta.issuer}, same endpoints as openid-configuration`;
});

if (issuerPath) {
  await step('discovery through the path-inserted openid-configuration (RFC 8414 §5 form)', 'discovery', async () => {
    // MCP clients also try /.well-known/openid-configuration/{path}; openid-client reads a full .well-known URL as given.
    const wellKnown = new URL(`${issuerUrl.origin}/.well-known/openid-configuration${issuerPath}`);
    const config = await discover(publicId, publicMetadata, client.None(), 'oidc', wellKnown);
    const meta = config.serverMetadata();
    // openid-client does not compare the issuer of a document fetched by its full URL: compared here.
    expect(meta.issuer === issuer, () => `issuer ${meta.issuer}, expected ${issuer}`);
    expect(meta.authorization_endpoint === state.oidcMeta?.authorization_endpoint, () => `authorization_endpoint ${meta.authorization_endpoint}`);
    return `${wellKnown}: issuer ${meta.issuer}`;
  });
}

// --- OAuth: code + PKCE, refresh, revocation (public client) ------------------------

await step('OAuth code + PKCE (public client, no openid scope)', 'oauth', async () => {
  const config = await discover(publicId, publicMetadata, client.None(), 'oauth2');
  const { url, checks } = await authorizationRequest(config, 'read offline_access');
  expect(url.href.startsWith(`${issuer}/authorize?`), () => `the authorization URL is ${url.href}`);
  const redirect = await signIn(url);
  expect(redirect.searchParams.get('iss') === issuer, () => `the redirect's iss is ${redirect.searchParams.get('iss')} (RFC 9207)`);
  const tokens = await client.authorizationCodeGrant(config, redirect, checks);
  expect(tokens.token_type?.toLowerCase() === 'bearer', () => `token_type ${tokens.token_type}`);
  expect(tokens.access_token && tokens.refresh_token, 'no access or no refresh token');
  expect(tokens.id_token === undefined, 'an ID token without the openid scope');
  expect(tokens.expiresIn() > 0, () => `expires_in ${tokens.expires_in}`);
  state.oauth = { config, tokens };
  return `${browser.trail.join(', ')}; access token (scope "${tokens.scope}", ${tokens.expires_in} s) and refresh token`;
});

await step('OAuth refresh rotates the refresh token; a retry within refresh_grace is idempotent', 'oauth', async () => {
  expect(state.oauth, 'no tokens from the step before');
  const { config, tokens } = state.oauth;
  const next = await client.refreshTokenGrant(config, tokens.refresh_token);
  expect(next.access_token && next.access_token !== tokens.access_token, 'no new access token');
  expect(next.refresh_token && next.refresh_token !== tokens.refresh_token, 'the refresh token did not rotate');
  // Within [tokens] refresh_grace (10 s by default) a retry of the rotated-out token is idempotent: the same answer, nothing rotates.
  const retry = await client.refreshTokenGrant(config, tokens.refresh_token);
  expect(retry.access_token === next.access_token && retry.refresh_token === next.refresh_token, 'a retry within the grace window rotated again instead of returning the same tokens');
  state.oauth.tokens = next;
  return `new access token and refresh token (scope "${next.scope}"); a retry of the old one within the grace window returns the same tokens`;
});

await step('OAuth revocation (RFC 7009) of the refresh token', 'oauth', async () => {
  expect(state.oauth, 'no tokens from the step before');
  const { config, tokens } = state.oauth;
  await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: 'refresh_token' });
  await expectOAuthError(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant', 'refresh after revocation');
  await client.tokenRevocation(config, 'never-issued-token-0123456789012345678901234');
  return 'revoked; refresh refused with invalid_grant; an unknown token revokes with 200';
});

// --- OpenID Connect (confidential client) ----------------------------------------------

await step(`OpenID sign-in: ID token (${idTokenAlg}) with nonce, at_hash, auth_time, validated by openid-client`, 'openid', async () => {
  const config = await discover(confidentialId, confidentialMetadata, client.ClientSecretBasic(confidentialSecret), 'oidc');
  const nonce = client.randomNonce();
  const maxAge = 600;
  const { url, checks } = await authorizationRequest(config, 'openid profile', { nonce, max_age: String(maxAge) });
  const redirect = await signIn(url);
  const tokens = await client.authorizationCodeGrant(config, redirect, { ...checks, expectedNonce: nonce, idTokenExpected: true, maxAge });
  const claims = tokens.claims();
  expect(claims, 'no ID token');
  const header = joseHeader(tokens.id_token);
  expect(header.alg === idTokenAlg, () => `the ID token is signed with ${header.alg}, expected ${idTokenAlg}`);
  expect(header.kid, 'the ID token header has no kid');
  expect(claims.iss === issuer, () => `iss ${claims.iss}`);
  expect(claims.sub === subject, () => `sub ${claims.sub}, expected ${subject}`);
  expect(claims.aud === confidentialId || (Array.isArray(claims.aud) && claims.aud.includes(confidentialId)), () => `aud ${claims.aud}`);
  expect(claims.nonce === nonce, 'nonce');
  expect(typeof claims.auth_time === 'number' && claims.auth_time <= claims.iat, () => `auth_time ${claims.auth_time}, iat ${claims.iat}`);
  expect(claims.at_hash === atHash(tokens.access_token, header.alg), () => `at_hash ${claims.at_hash}, expected ${atHash(tokens.access_token, header.alg)} (left half of ${header.alg === 'EdDSA' ? 'SHA-512' : 'SHA-256'} of the access token)`);
  const jwks = state.oidcMeta?.jwks_uri ?? config.serverMetadata().jwks_uri;
  const keys = (await (await recordingFetch(jwks)).json()).keys ?? [];
  const key = keys.find((k) => k.kid === header.kid);
  expect(key, () => `the JWK set at ${jwks} has no key ${header.kid}`);
  expect(!('d' in key) && !('p' in key), 'the JWK set publishes private key material');
  state.openid = { config, tokens, claims };
  return `kid ${header.kid} (${key.kty}${key.crv ? ` ${key.crv}` : ''}); sub ${claims.sub}, aud ${claims.aud}, nonce, auth_time, at_hash all hold; scope "${tokens.scope}"`;
});

await step('userinfo with the OpenID access token', 'openid', async () => {
  expect(state.openid, 'no tokens from the step before');
  const { config, tokens, claims } = state.openid;
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  expect(info.sub === subject, () => `userinfo sub ${info.sub}`);
  const extra = Object.keys(info).filter((k) => k !== 'sub');
  return `sub ${info.sub}${extra.length ? `, ${extra.map((k) => `${k}=${JSON.stringify(info[k])}`).join(', ')}` : ''}`;
});

await step('refresh of the OpenID grant (a new ID token, if any, is validated by openid-client)', 'openid', async () => {
  expect(state.openid, 'no tokens from the step before');
  const { config, tokens, claims } = state.openid;
  expect(tokens.refresh_token, 'the OpenID grant has no refresh token');
  const next = await client.refreshTokenGrant(config, tokens.refresh_token);
  expect(next.access_token && next.access_token !== tokens.access_token, 'no new access token');
  const again = next.claims();
  if (again) {
    expect(again.sub === claims.sub && again.aud === claims.aud, () => `the refreshed ID token names sub ${again.sub}, aud ${again.aud}`);
  }
  const info = await client.fetchUserInfo(config, next.access_token, claims.sub);
  expect(info.sub === subject, 'userinfo after refresh');
  return `new access token${again ? ', a new ID token (validated)' : ''}; userinfo answers for it`;
});

await step('prompt=login asks for the password again; a wrong nonce is refused by openid-client', 'openid', async () => {
  const config = await discover(confidentialId, confidentialMetadata, client.ClientSecretBasic(confidentialSecret), 'oidc');
  const nonce = client.randomNonce();
  const { url, checks } = await authorizationRequest(config, 'openid', { nonce, prompt: 'login' });
  const redirect = await signIn(url);
  expect(browser.trail.some((t) => t.startsWith('POST') && t.includes('/login')), () => `no sign-in with prompt=login (already signed in): ${browser.trail.join(', ')}`);
  const outcome = await client.authorizationCodeGrant(config, redirect, { ...checks, expectedNonce: client.randomNonce(), idTokenExpected: true }).then(() => undefined, (e) => e);
  expect(outcome?.code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED', () => `an ID token with another nonce: expected a nonce mismatch, got ${outcome ? describeError(outcome) : 'success'}`);
  return `${browser.trail.join(', ')}; ID token with the sent nonce refused when another was expected`;
});

await step('prompt=none: login_required without a session, consent_required without a remembered consent (openid-client reads the error)', 'openid', async () => {
  const config = await discover(confidentialId, confidentialMetadata, client.ClientSecretBasic(confidentialSecret), 'oidc');
  const outcomes = [];
  for (const [who, agent, expected] of [['no session', new Browser({ username, password: 'unused' }), 'login_required'], ['signed in', browser, 'consent_required']]) {
    const { url, checks } = await authorizationRequest(config, 'openid', { nonce: client.randomNonce(), prompt: 'none' });
    const page = await agent.request(url.href);
    expect(page.status >= 300 && page.status < 400 && page.location?.href.startsWith(redirectUri), () => `${who}: prompt=none answered ${page.status} ${page.location ?? ''} instead of redirecting to the client`);
    const outcome = await client.authorizationCodeGrant(config, page.location, checks).then(() => undefined, (e) => e);
    expect(outcome instanceof client.AuthorizationResponseError && outcome.error === expected, () => `${who}: expected ${expected}, got ${outcome ? describeError(outcome) : 'a code'}`);
    outcomes.push(`${who} → ${outcome.error}`);
  }
  return `${outcomes.join(', ')}; state and iss checked by openid-client`;
});

/** An OpenID sign-in of `config` with a nonce, validated by openid-client; returns the ID token's header and claims. */
async function openidSignIn(config) {
  const nonce = client.randomNonce();
  const { url, checks } = await authorizationRequest(config, 'openid', { nonce });
  const tokens = await client.authorizationCodeGrant(config, await signIn(url), { ...checks, expectedNonce: nonce, idTokenExpected: true });
  const claims = tokens.claims();
  expect(claims, 'no ID token');
  const header = joseHeader(tokens.id_token);
  expect(claims.at_hash === atHash(tokens.access_token, header.alg), () => `at_hash ${claims.at_hash} does not match ${header.alg}`);
  return { header, claims };
}

await step('a client that states no ID-token alg gets RS256 (the OpenID Connect default), validated by openid-client', 'openid', async () => {
  const config = await discover(publicId, publicMetadata, client.None(), 'oidc');
  const { header, claims } = await openidSignIn(config);
  expect(header.alg === 'RS256', () => `the ID token is signed with ${header.alg}, expected RS256`);
  expect(claims.aud === publicId, () => `aud ${claims.aud}`);
  return `${publicId}: ID token signed with ${header.alg}`;
});

await step(`dynamic registration with id_token_signed_response_alg ${idTokenAlg}; its ID tokens use it, validated by openid-client`, 'openid', async () => {
  const metadata = { client_name: `openid-client ${run}`, redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', scope: 'openid profile', id_token_signed_response_alg: idTokenAlg };
  const config = await client.dynamicClientRegistration(issuerUrl, metadata, client.None(), options({ algorithm: 'oidc' }));
  const registered = config.clientMetadata();
  expect(registered.id_token_signed_response_alg === idTokenAlg, () => `the registration response names id_token_signed_response_alg ${registered.id_token_signed_response_alg}, expected ${idTokenAlg}`);
  const { header, claims } = await openidSignIn(config);
  expect(header.alg === idTokenAlg, () => `the ID token is signed with ${header.alg}, expected ${idTokenAlg}`);
  expect(claims.aud === registered.client_id, () => `aud ${claims.aud}`);
  const refused = await recordingFetch(config.serverMetadata().registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...metadata, id_token_signed_response_alg: 'HS256' }),
  });
  const error = await refused.json();
  expect(refused.status === 400 && error.error === 'invalid_client_metadata', () => `registering id_token_signed_response_alg HS256 answered ${refused.status} ${JSON.stringify(error)}`);
  return `client ${registered.client_id.slice(0, 8)}…: ID token signed with ${header.alg}; HS256 refused with ${error.error}`;
});

// OpenID Connect Core §5.3: userinfo answers for OpenID access tokens (scope openid) only.
await step('userinfo refuses an access token without the openid scope', 'oauth', async () => {
  const config = await discover(publicId, publicMetadata, client.None(), 'oauth2');
  const { url, checks } = await authorizationRequest(config, 'read');
  const tokens = await client.authorizationCodeGrant(config, await signIn(url), checks);
  const endpoint = state.oidcMeta?.userinfo_endpoint ?? `${issuer}/userinfo`;
  const res = await recordingFetch(endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const challenge = res.headers.get('www-authenticate') ?? '';
  expect(res.status === 403 || res.status === 401, () => `userinfo with a token for scope "read" answered ${res.status}`);
  expect(/^Bearer\b/.test(challenge), () => `no Bearer challenge: ${challenge}`);
  return `${res.status} ${challenge}`;
});

if (failed > 0) {
  console.log(`oidc-interop [${run}]: ${failed} step(s) failed`);
  process.exit(1);
}
console.log(`oidc-interop [${run}]: all steps passed`);
