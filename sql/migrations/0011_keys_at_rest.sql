-- v3.2 keys and secrets at rest (docs/how-to/secrets.md): a copy of the database
-- alone signs no token and forges no webhook.
--
-- SQL never sees SECRET_KEY, so it cannot seal anything. After the SQL
-- migrations, under the same migration lock, the migrate command's Python
-- step (service/sealing.py) creates the first signing key and seals what this
-- migration leaves plain: the webhooks' signing keys and the stored answers
-- that hold a webhook secret. It is idempotent and runs on every `migrate`.

-- Access tokens are JWTs signed with Ed25519 keys. public_jwk is the public
-- half as served at /.well-known/jwks.json (kid: its RFC 7638 thumbprint);
-- private_key is the private half sealed with SECRET_KEY. The newest key (the
-- highest id) signs; every key here verifies; deleting a key refuses its
-- tokens, and the newest can never be deleted, so there is always one.
CREATE TABLE signing_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid         text NOT NULL UNIQUE CHECK (kid ~ '^[A-Za-z0-9_-]{1,64}$'),
    public_jwk  jsonb NOT NULL,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The HMAC key that signed every v3.1 token: whoever read it (a backup, a read
-- replica) could mint tokens for any tenant. v3.1 tokens answer 401 from now
-- on; clients get a new token as OAuth clients do.
DROP TABLE service_keys;

-- A webhook's signing key, sealed (the sender opens it to sign). The plain
-- column is renamed so that no query reads it by mistake; the Python step
-- seals each value into signing_secret and clears it. Exactly one is set.
ALTER TABLE webhooks RENAME COLUMN signing_key TO plain_signing_key;
ALTER TABLE webhooks ALTER COLUMN plain_signing_key DROP NOT NULL;
ALTER TABLE webhooks ADD COLUMN signing_secret bytea;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_signing_key_once
    CHECK ((plain_signing_key IS NULL) <> (signing_secret IS NULL));
