// A real OpenID provider for the D-TA's tests: npm oidc-provider (certified) on loopback.
//
//   node devnet/oidc/server.mjs CONFIG.json
//
// CONFIG (written by host/dta/services/oidc_provider.py) names the port, the issuer, the clients,
// the test users, the resource servers (D-TAs: JWT access tokens with their URI as `aud`), a state
// directory and an admin token. Signing keys are ES256 keys made here with `jose` and kept, with
// their private parts, in STATE_DIR/keys.json (0600): the tests read it to sign tokens that carry
// bad claims with a key the verifier trusts.
//
// People log in through this file's own minimal pages (no browser needed, plain HTML forms):
//   GET  /interaction/:uid          a login form (login, password) or a consent form
//   POST /interaction/:uid/login    checks the password against CONFIG.users
//   POST /interaction/:uid/confirm  grants what the client asked for
//   POST /interaction/:uid/abort    the user refuses (access_denied)
// The device flow's own pages (oidc-provider's /device forms) are kept as they are.
//
// Test hooks, only with `Authorization: Bearer <admin token>`:
//   GET  /_dta_test/stats          {"jwks_requests": n, "discovery_requests": n, "kids": [...]}
//   POST /_dta_test/rotate         a new signing key first, the old one kept: JWKS [new, old]
//   POST /_dta_test/retire         drop every key but the newest: JWKS [new]
//   POST /_dta_test/token_errors   body {"errors": ["slow_down", ...]}: the next device-code
//                                  polls at /token answer these RFC 8628 errors, in order
// Rotation rebuilds the Provider with the new JWKS and swaps it in; clients and users stay.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { Provider } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const keysPath = path.join(config.state_dir, 'keys.json');
const stats = { jwks_requests: 0, discovery_requests: 0 };
const pendingTokenErrors = [];
// Request bodies the hooks and login pages read are small forms; anything larger is refused.
const MAX_FORM_BYTES = 16 * 1024;

async function newSigningKey() {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = 'ES256';
  jwk.use = 'sig';
  return jwk;
}

function saveKeys(keys) {
  const tmp = `${keysPath}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify({ keys }), { mode: 0o600 });
  fs.renameSync(tmp, keysPath);
}

async function loadKeys() {
  if (fs.existsSync(keysPath)) return JSON.parse(fs.readFileSync(keysPath, 'utf8')).keys;
  const keys = [await newSigningKey()];
  saveKeys(keys);
  return keys;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`
    + `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

async function readBody(req) {
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readForm(req) {
  return new URLSearchParams(await readBody(req));
}

function findAccount(_ctx, sub) {
  const user = config.users[sub];
  if (!user) return undefined;
  return { accountId: sub, claims: () => ({ sub, ...user.claims }) };
}

function resourceServer(_ctx, indicator) {
  const rs = config.resources[indicator];
  if (!rs) throw new Error(`unknown resource ${indicator}`);
  return {
    scope: rs.scope,
    audience: indicator,
    accessTokenTTL: config.ttl.AccessToken,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };
}

function deviceInputPage(ctx, form, _out, err) {
  ctx.body = page('Enter the code', `${err ? '<p>That code did not work.</p>' : ''}${form}`
    + '<button type="submit" form="op.deviceInputForm">Continue</button>');
}

function deviceConfirmPage(ctx, form, client, _info, userCode) {
  ctx.body = page('Confirm device', `<p>${escapeHtml(client.clientId)} shows `
    + `<code>${escapeHtml(userCode)}</code></p>${form}`
    + '<button type="submit" form="op.deviceConfirmForm">Continue</button>'
    + '<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>');
}

function deviceSuccessPage(ctx) {
  ctx.body = page('Signed in', '<p>You can close this page.</p>');
}

function providerConfig(keys) {
  return {
    clients: config.clients,
    jwks: { keys },
    findAccount,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    cookies: { keys: [config.cookie_key] },
    ttl: config.ttl,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: deviceInputPage,
        userCodeConfirmSource: deviceConfirmPage,
        successSource: deviceSuccessPage,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: resourceServer,
      },
      revocation: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
    },
  };
}

async function showInteraction(provider, ctx, uid) {
  const { prompt } = await provider.interactionDetails(ctx.req, ctx.res);
  const action = `/interaction/${uid}`;
  ctx.type = 'html';
  if (prompt.name === 'login') {
    ctx.body = page('Sign in', `<form method="post" action="${action}/login">`
      + '<input type="text" name="login"><input type="password" name="password">'
      + '<button type="submit">Sign in</button></form>'
      + `<form method="post" action="${action}/abort"><button type="submit">Cancel</button></form>`);
  } else {
    ctx.body = page('Allow access', `<form method="post" action="${action}/confirm">`
      + '<button type="submit">Allow</button></form>'
      + `<form method="post" action="${action}/abort"><button type="submit">Deny</button></form>`);
  }
}

async function finishLogin(provider, ctx) {
  const form = await readForm(ctx.req);
  const login = form.get('login') || '';
  const user = config.users[login];
  const given = Buffer.from(form.get('password') || '');
  const expected = Buffer.from(user ? user.password : '');
  if (!user || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    ctx.status = 403;
    ctx.type = 'html';
    ctx.body = page('Sign in failed', '<p>Wrong login or password.</p>');
    return;
  }
  return provider.interactionResult(ctx.req, ctx.res, { login: { accountId: login } },
    { mergeWithLastSubmission: false });
}

async function finishConsent(provider, ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
}

async function interactionRoutes(provider, ctx, next) {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, step] = match;
  if (ctx.method === 'GET' && !step) return showInteraction(provider, ctx, uid);
  if (ctx.method !== 'POST' || !step) return next();
  let returnTo;
  if (step === 'login') returnTo = await finishLogin(provider, ctx);
  else if (step === 'confirm') returnTo = await finishConsent(provider, ctx);
  else {
    returnTo = await provider.interactionResult(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'the user refused',
    }, { mergeWithLastSubmission: false });
  }
  if (returnTo) {
    ctx.status = 303;
    ctx.redirect(returnTo);
  }
}

// The armed RFC 8628 errors answer device-code polls before oidc-provider sees them. The form is
// parsed here and handed on as request.body (oidc-provider accepts an already-parsed body).
async function tokenErrorHook(ctx, next) {
  if (ctx.method !== 'POST' || ctx.path !== '/token' || pendingTokenErrors.length === 0) {
    return next();
  }
  const form = await readForm(ctx.req);
  ctx.request.body = Object.fromEntries(form);
  if (form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:device_code') {
    ctx.status = 400;
    ctx.body = { error: pendingTokenErrors.shift(), error_description: 'armed by the test' };
    return undefined;
  }
  return next();
}

function buildProvider(keys) {
  const provider = new Provider(config.issuer, providerConfig(keys));
  provider.use(tokenErrorHook);
  provider.use((ctx, next) => interactionRoutes(provider, ctx, next));
  return provider.callback();
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function authorised(req) {
  const given = Buffer.from(req.headers.authorization || '');
  const expected = Buffer.from(`Bearer ${config.admin_token}`);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

let keys = await loadKeys();
let handler = buildProvider(keys);

async function testHook(req, res, route) {
  if (!authorised(req)) return json(res, 401, { error: 'admin token required' });
  if (route === 'stats' && req.method === 'GET') {
    return json(res, 200, { ...stats, kids: keys.map((k) => k.kid) });
  }
  if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
  if (route === 'rotate') keys = [await newSigningKey(), ...keys];
  else if (route === 'retire') keys = keys.slice(0, 1);
  else if (route === 'token_errors') {
    const { errors } = JSON.parse(await readBody(req));
    pendingTokenErrors.push(...errors.map(String));
  } else return json(res, 404, { error: 'unknown test hook' });
  if (route !== 'token_errors') {
    saveKeys(keys);
    handler = buildProvider(keys);
  }
  return json(res, 200, { kids: keys.map((k) => k.kid), token_errors: pendingTokenErrors });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, config.issuer);
  if (url.pathname.startsWith('/_dta_test/')) {
    testHook(req, res, url.pathname.slice('/_dta_test/'.length)).catch((err) => {
      json(res, 500, { error: String(err) });
    });
    return;
  }
  if (url.pathname === '/jwks') stats.jwks_requests += 1;
  if (url.pathname === '/.well-known/openid-configuration') stats.discovery_requests += 1;
  handler(req, res);
});

server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider ready on ${config.issuer}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
