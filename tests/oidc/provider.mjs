// A real OpenID provider (oidc-provider) for pgward's tests and demo.
//
//   node provider.mjs --port PORT [--ttl S] [--audience AUD] [--user NAME]
//                     [--secret SECRET] [--groups JSON]
// --groups: {"alice": ["analysts"], "pgward-agent": [...]} by sub or client
//
// Issuer http://127.0.0.1:PORT; discovery and JWKS as usual; JWT access
// tokens for the resource AUD (default urn:pgward). Clients:
//   pgward-agent      confidential, client_credentials (an agent)
//   pgward-login      public, device authorization grant (RFC 8628) + refresh
//   pgward-exchanger  confidential, token exchange (RFC 8693) + client_credentials
// Device requests are approved for --user (default alice) once the user code
// is confirmed at /device: /interaction/UID answers through the provider's
// interaction API with a login and a consent, no page to fill in.
// Test-only control endpoints (POST):
//   /test/rotate       new RS256 key, made the signing key; old keys stay published
//   /test/remove-old   drop every key but the signing key
// Prints "ready ISSUER" on stdout once listening. In memory only.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';
import * as jose from 'jose';

const { values: opt } = parseArgs({
  options: {
    port: { type: 'string' },
    ttl: { type: 'string', default: '300' },
    audience: { type: 'string', default: 'urn:pgward' },
    user: { type: 'string', default: 'alice' },
    secret: { type: 'string', default: 'pgward-test-secret' },
    groups: { type: 'string', default: '{}' },
  },
});
if (!opt.port) {
  process.stderr.write('provider: usage: node provider.mjs --port PORT [--ttl S] [--audience AUD] [--user NAME] [--secret S] [--groups JSON]\n');
  process.exit(100);
}
const ISSUER = `http://127.0.0.1:${opt.port}`;
const TTL = Number(opt.ttl);
const AUD = opt.audience;
const GROUPS = JSON.parse(opt.groups);
const SCOPE = 'openid offline_access pgward';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let keys = [];          // private JWKs, signing key first
let provider;

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `k${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`, alg: 'RS256', use: 'sig' };
}

function publicJwks() {
  return { keys: keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use })) };
}

const resourceServer = () => ({
  scope: 'pgward',
  audience: AUD,
  accessTokenFormat: 'jwt',
  accessTokenTTL: TTL,
  jwt: { sign: { alg: 'RS256' } },
});

// RFC 8693: the subject token is one of ours (verified against our keys);
// the new token is the subject's, acted for by the exchanging client.
async function tokenExchange(ctx) {
  const { subject_token: subjectToken, subject_token_type: subjectType, scope } = ctx.oidc.params;
  const { errors } = Provider;
  if (!subjectToken) throw new errors.InvalidRequest('missing subject_token');
  if (subjectType !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('unsupported subject_token_type');
  let claims;
  try {
    ({ payload: claims } = await jose.jwtVerify(subjectToken, jose.createLocalJWKSet(publicJwks()),
      { issuer: ISSUER, audience: AUD }));
  } catch (e) {
    throw new errors.InvalidGrant(`subject_token not accepted: ${e.code || e.message}`);
  }
  const client = ctx.oidc.client;
  const act = { sub: client.clientId };
  if (claims.act) act.act = claims.act;
  const token = new ctx.oidc.provider.AccessToken({
    accountId: claims.sub,
    client,
    gty: 'token_exchange',
    scope: scope || 'pgward',
    extra: { act },
  });
  token.resourceServer = new ctx.oidc.provider.ResourceServer(AUD, resourceServer());
  const value = await token.save();
  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: 'Bearer',
    expires_in: token.expiration,
    scope: token.scope,
  };
}

function makeProvider() {
  const p = new Provider(ISSUER, {
    clients: [
      { client_id: 'pgward-agent', client_secret: opt.secret, grant_types: ['client_credentials'],
        redirect_uris: [], response_types: [] },
      { client_id: 'pgward-login', token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        redirect_uris: [], response_types: [] },
      { client_id: 'pgward-exchanger', client_secret: opt.secret,
        grant_types: [TOKEN_EXCHANGE, 'client_credentials'], redirect_uris: [], response_types: [] },
    ],
    jwks: { keys },
    scopes: SCOPE.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUD,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== AUD) throw new Provider.errors.InvalidTarget();
          return resourceServer();
        },
      },
    },
    ttl: { AccessToken: TTL, ClientCredentials: TTL, DeviceCode: 600, RefreshToken: 86400,
      Grant: 86400, Interaction: 600, Session: 86400, IdToken: TTL },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // extraTokenClaims replaces token.extra: keep what token exchange put there.
    extraTokenClaims: async (ctx, token) => {
      const groups = GROUPS[token.accountId || token.clientId];
      return groups ? { ...token.extra, groups } : token.extra;
    },
    findAccount: async (ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, preferred_username: id }) }),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
  });
  p.registerGrantType(TOKEN_EXCHANGE, tokenExchange,
    ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'scope', 'audience', 'resource']);
  return p;
}

// The person's step, through the provider's interaction API.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    return provider.interactionFinished(req, res, { login: { accountId: opt.user } },
      { mergeWithLastSubmission: false });
  }
  const grant = details.grantId ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  grant.addOIDCScope(SCOPE);
  grant.addResourceScope(AUD, 'pgward');
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function control(path, res) {
  if (path === '/test/rotate') {
    keys = [newKey(), ...keys];
  } else if (path === '/test/remove-old') {
    keys = keys.slice(0, 1);
  } else {
    return false;
  }
  provider = makeProvider();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ signing: keys[0].kid, kids: keys.map((k) => k.kid) }));
  return true;
}

keys = [newKey()];
provider = makeProvider();

const server = http.createServer((req, res) => {
  const path = new URL(req.url, ISSUER).pathname;
  if (req.method === 'POST' && path.startsWith('/test/') && control(path, res)) return;
  if (path.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => {
      process.stderr.write(`provider: interaction failed: ${e.message}\n`);
      res.statusCode = 500;
      res.end();
    });
    return;
  }
  provider.callback()(req, res);
});
server.listen(Number(opt.port), '127.0.0.1', () => process.stdout.write(`ready ${ISSUER}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
