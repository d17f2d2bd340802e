-- An app that keeps its users' credits in its own PostgreSQL (a Supabase
-- project, say), and the three functions easel calls for it with
-- credits.mode: external (docs/credits.md#external). tests/e2e/
-- test_credits_external.sh runs easel against exactly this schema.
--
-- What easel asks of the functions: each is idempotent on `key` (one
-- reservation of one job, "<job id>/<reservation>"), because easel may call
-- it again after a crash; reserve answers true when the credits are held
-- (or were already, under this key) and false when the owner cannot cover
-- them; a refund of a key never reserved, or already settled, changes
-- nothing.
CREATE SCHEMA app;

-- the app's balances, one row per owner ("b2c:u-7", "b2b:store-42")
CREATE TABLE app.profiles (
  owner   text PRIMARY KEY,
  credits bigint NOT NULL CHECK (credits >= 0)
);

-- one row per reservation: what easel's key holds, and how it ended
CREATE TABLE app.credit_holds (
  key        text PRIMARY KEY,
  owner      text NOT NULL REFERENCES app.profiles (owner),
  amount     bigint NOT NULL CHECK (amount > 0),
  state      text NOT NULL CHECK (state IN ('held', 'consumed', 'refunded')),
  reason     text,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz
);

CREATE FUNCTION app.reserve_credits(p_owner text, p_amount bigint, p_key text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  -- the same reservation asked again (easel restarted): the answer stands
  PERFORM 1 FROM app.credit_holds WHERE key = p_key;
  IF FOUND THEN
    RETURN true;
  END IF;
  UPDATE app.profiles SET credits = credits - p_amount
   WHERE owner = p_owner AND credits >= p_amount;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO app.credit_holds (key, owner, amount, state)
  VALUES (p_key, p_owner, p_amount, 'held');
  RETURN true;
END $$;

CREATE FUNCTION app.consume_credits(p_key text)
RETURNS void LANGUAGE sql AS $$
  UPDATE app.credit_holds SET state = 'consumed', settled_at = now()
   WHERE key = p_key AND state = 'held';
$$;

CREATE FUNCTION app.refund_credits(p_key text, p_reason text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  o text;
  a bigint;
BEGIN
  UPDATE app.credit_holds SET state = 'refunded', reason = p_reason, settled_at = now()
   WHERE key = p_key AND state = 'held'
  RETURNING owner, amount INTO o, a;
  IF FOUND THEN
    UPDATE app.profiles SET credits = credits + a WHERE owner = o;
  END IF;
END $$;
