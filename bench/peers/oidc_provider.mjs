// The peer of bench/oauth_token.py: panva/oidc-provider 9 in one Node process, in-memory,
// one confidential client, client_credentials with client_secret_basic, EdDSA (Ed25519) JWT
// access tokens. bench/oauth_token.py installs oidc-provider@9 into a temporary folder with
// npm and runs this file from there (NODE_PATH is not used by ESM: it is copied next to
// node_modules). Listens on 127.0.0.1:$PORT and prints "ready" once it does.
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const resource = "https://idproof-api.example";
const { privateKey } = generateKeyPairSync("ed25519");
const jwk = { ...privateKey.export({ format: "jwk" }), alg: "EdDSA", use: "sig", kid: "k1" };

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID || "bench",
    client_secret: process.env.CLIENT_SECRET || "bench-secret",
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: "EdDSA",
  }],
  jwks: { keys: [jwk] },
  enabledJWA: { authorizationSigningAlgValues: ["EdDSA"] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "identity.verify",
        audience: "idproof-api",
        accessTokenTTL: 600,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "EdDSA" } },
      }),
    },
  },
});
provider.proxy = false;
// Quiet: no per-request logging; errors only.
provider.on("server_error", (ctx, err) => console.error("server_error", err));

provider.listen(port, "127.0.0.1", () => {
  console.log("ready");
});
