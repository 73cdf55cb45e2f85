// Check for oauth-bench.sh: drives oidc-provider's real authorization flow
// once (GET /auth -> dev sign-in page -> consent page -> redirect with a code,
// as a browser would, with a cookie jar), then compares that code with one
// minted by POST /bench/codes:
// - the stored AuthorizationCode payloads must have the same fields, except
//   the ones the real flow sets from its browser session (sessionUid, acr,
//   amr) that the token endpoint does not read for a code whose grant does
//   not expire with the session (scope offline_access);
// - both codes must redeem at /token (client_secret_basic + PKCE) into
//   responses with the same fields.
// Prints one line "REALFLOW ok ..." or exits non-zero.
//
// With the argument "openid" it does the same for an OpenID Connect sign-in
// (scope openid, a nonce) against a code minted with &openid=1: both codes
// must then expire with the session (no offline_access), carry the nonce
// and the session's uid, and redeem into responses with the same fields
// (an id_token among them).
//
//   node realflow.js http://127.0.0.1:PORT [openid]
import { randomBytes, createHash } from 'node:crypto';

const base = process.argv[2];
const openid = process.argv[3] === 'openid';
if (!base) {
  console.error('usage: node realflow.js BASE_URL');
  process.exit(2);
}

const jar = new Map();
function remember(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)
      || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()));
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}
async function go(url, form) {
  const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  const init = { redirect: 'manual', headers };
  if (form) {
    init.method = 'POST';
    headers['content-type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(form).toString();
  }
  const res = await fetch(new URL(url, base), init);
  remember(res);
  return res;
}
function fail(why) {
  console.error(`realflow: ${why}`);
  process.exit(1);
}

const clients = Object.fromEntries((await (await fetch(`${base}/bench/clients`)).text())
  .trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const basic = `Basic ${Buffer.from(`${clients.confidential_id}:${clients.confidential_secret}`).toString('base64')}`;

const verifier = randomBytes(32).toString('base64url');
const state = randomBytes(16).toString('base64url');
const authorize = new URL('/auth', base);
authorize.search = new URLSearchParams({
  client_id: clients.confidential_id,
  response_type: 'code',
  redirect_uri: clients.redirect_uri,
  scope: openid ? 'openid' : clients.scope,
  ...(openid ? { nonce: randomBytes(16).toString('base64url') } : {}),
  prompt: 'consent',
  state,
  code_challenge: createHash('sha256').update(verifier).digest('base64url'),
  code_challenge_method: 'S256',
}).toString();

let res = await go(authorize);
let code;
for (let step = 0; step < 12 && !code; step += 1) {
  if (res.status !== 303 && res.status !== 302) fail(`unexpected ${res.status} at step ${step}: ${await res.text()}`);
  const location = res.headers.get('location');
  if (location.startsWith(clients.redirect_uri)) {
    const params = new URL(location).searchParams;
    if (params.get('error')) fail(`authorization error ${params.get('error')}: ${params.get('error_description')}`);
    if (params.get('state') !== state) fail('state mismatch');
    code = params.get('code');
    break;
  }
  if (location.includes('/interaction/')) {
    const page = await go(location);
    const html = await page.text();
    const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!prompt || !action) fail(`no interaction form at ${location}`);
    const form = prompt === 'login' ? { prompt, login: 'u-bench', password: 'any' } : { prompt };
    res = await go(action.replace(/&#x2F;/g, '/').replace(/&amp;/g, '&'), form);
  } else {
    res = await go(location);
  }
}
if (!code) fail('no code after 12 redirects');

const payload = async (value) => {
  const r = await fetch(`${base}/bench/code?value=${encodeURIComponent(value)}`);
  if (r.status !== 200) fail(`/bench/code answered ${r.status}`);
  return r.json();
};
const [mintedCode, mintedVerifier] = (await (await fetch(`${base}/bench/codes?n=1&client=confidential${openid ? '&openid=1' : ''}`, { method: 'POST' })).text()).trim().split(' ');
const real = await payload(code);
const minted = await payload(mintedCode);
const sessionOnly = new Set(openid ? ['acr', 'amr', 'sid'] : ['sessionUid', 'acr', 'amr', 'sid']);
const onlyReal = Object.keys(real).filter((k) => !(k in minted));
const onlyMinted = Object.keys(minted).filter((k) => !(k in real));
if (onlyMinted.length) fail(`fields only in the minted code: ${onlyMinted}`);
if (onlyReal.some((k) => !sessionOnly.has(k))) fail(`fields only in the real code: ${onlyReal}`);
if (openid) {
  if (!real.expiresWithSession || !minted.expiresWithSession) fail('an OpenID code (no offline_access) does not expire with the session');
  if (!real.nonce || !minted.nonce) fail('an OpenID code has no nonce');
} else if (real.expiresWithSession || minted.expiresWithSession) {
  fail('a code expires with the session');
}
for (const k of ['clientId', 'redirectUri', 'scope', 'codeChallengeMethod', 'accountId']) {
  if (k !== 'accountId' && real[k] !== minted[k]) fail(`${k} differs: ${real[k]} vs ${minted[k]}`);
}

const exchange = async (c, v) => {
  const r = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: c, redirect_uri: clients.redirect_uri, code_verifier: v,
    }).toString(),
  });
  const body = await r.json();
  if (r.status !== 200 || !body.access_token) fail(`exchange answered ${r.status} ${JSON.stringify(body)}`);
  return Object.keys(body).sort().join(',');
};
const realFields = await exchange(code, verifier);
const mintedFields = await exchange(mintedCode, mintedVerifier);
if (realFields !== mintedFields) fail(`token responses differ: ${realFields} vs ${mintedFields}`);
if (openid && !realFields.split(',').includes('id_token')) fail(`no id_token: ${realFields}`);
console.log(`REALFLOW${openid ? ' (openid)' : ''} ok code_fields=${Object.keys(minted).sort().join(',')} real_flow_only=${onlyReal.sort().join(',') || 'none'} token_fields=${realFields}`);
