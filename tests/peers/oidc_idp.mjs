// The identity provider of tests/integration/test_operator_sso.py: panva/oidc-provider 9, in
// memory, authorization code + PKCE for one confidential client (ES256 id_tokens). The test
// signs a person in by POSTing the interaction form (login = account id, amr = comma list);
// accounts come from $ACCOUNTS (JSON: {id: {email, email_verified, groups}}). Clients whose id
// ends in "-short" get id_tokens that live 5 s (the expiry test). Prints "ready" when listening.
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || "{}");
const redirect = process.env.REDIRECT_URI;
const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const jwk = { ...privateKey.export({ format: "jwk" }), alg: "ES256", use: "sig", kid: "idp-1" };
const client = (id) => ({
  client_id: id,
  client_secret: process.env.CLIENT_SECRET,
  grant_types: ["authorization_code"],
  response_types: ["code"],
  redirect_uris: [redirect],
  token_endpoint_auth_method: "client_secret_basic",
  id_token_signed_response_alg: "ES256",
});

const provider = new Provider(issuer, {
  clients: [client(process.env.CLIENT_ID), client(`${process.env.CLIENT_ID}-short`)],
  jwks: { keys: [jwk] },
  cookies: { keys: ["test-idp-cookie-key"] },
  claims: { openid: ["sub", "amr"], email: ["email", "email_verified"], groups: ["groups"] },
  scopes: ["openid", "email", "profile", "groups"],
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  ttl: { IdToken: (ctx, token, c) => (c.clientId.endsWith("-short") ? 5 : 600) },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, id) => (accounts[id] ? {
    accountId: id,
    claims: () => ({ sub: id, ...accounts[id] }),
  } : undefined),
});
provider.on("server_error", (ctx, err) => console.error("server_error", err));

async function form(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === "GET") {
    ctx.type = "text/plain";
    ctx.body = `interaction ${details.uid} ${details.prompt.name}`;
    return undefined;
  }
  const fields = await form(ctx.req);
  const accountId = fields.get("login");
  if (!accounts[accountId]) {
    ctx.status = 303;
    return ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, {
      error: "access_denied", error_description: "unknown account" }));
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const amr = (fields.get("amr") || "pwd").split(",");
  ctx.status = 303;
  return ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId, amr }, consent: { grantId } }, { mergeWithLastSubmission: false }));
});

provider.listen(port, "127.0.0.1", () => console.log("ready"));
