// A real OpenID Connect provider (panva/oidc-provider) for the test-suite, on 127.0.0.1 only.
//
//   node tests/oidc/server.mjs --port 9000 --config /tmp/oidc.json
//
// The config file names the clients ({client_id, client_secret, redirect_uris, id_token_signed_response_alg?})
// and the accounts (login name → claims, Zitadel-shaped: email, urn:zitadel:iam:org:id,
// urn:zitadel:iam:org:project:roles). Logins are scripted with devInteractions:
// POST /interaction/{uid} `prompt=login&login=<name>`, then `prompt=consent`.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values } = parseArgs({ options: { port: { type: 'string' }, config: { type: 'string' } } });
const port = Number(values.port);
const config = values.config ? JSON.parse(readFileSync(values.config, 'utf8')) : { clients: [], accounts: {} };
const issuer = `http://127.0.0.1:${port}`;

function signingKey(kid, type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig' };
}

const ZITADEL_ORG = 'urn:zitadel:iam:org:id';
const ZITADEL_ROLES = 'urn:zitadel:iam:org:project:roles';

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: {
    keys: [
      signingKey('test-rsa', 'rsa', { modulusLength: 2048 }),
      signingKey('test-ec', 'ec', { namedCurve: 'P-256' }),
    ],
  },
  cookies: { keys: ['alchemi-test-oidc-cookie-key'] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // Claims asked for by scope go into the ID token too, as Zitadel does.
  conformIdTokenClaims: false,
  scopes: ['openid', 'email', 'profile', 'urn:zitadel:iam:org:projects:roles', 'urn:zitadel:iam:user:resourceowner'],
  dynamicScopes: [/^urn:zitadel:iam:org:id:[A-Za-z0-9_-]+$/],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'roles'],  // a generic IdP's roles claim, for accounts with an OIDC provider of their own
    'urn:zitadel:iam:org:projects:roles': [ZITADEL_ROLES],
    'urn:zitadel:iam:user:resourceowner': [ZITADEL_ORG, 'urn:zitadel:iam:user:resourceowner:id'],
  },
  async findAccount(_ctx, id) {
    const claims = config.accounts[id];
    if (!claims) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...claims };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
