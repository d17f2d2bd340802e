-- The seed try-on app's own tables: one for consumers (b2c), one for
-- stores (b2b), each row a generation session the app created before it
-- queued the job, and whose status its realtime updates show. easel keeps
-- them in step with the job through the registry's records
-- (docs/records.md); tests/e2e/test_records.sh runs against this schema.
CREATE TABLE generation_sessions (
  id            text PRIMARY KEY,
  user_id       text NOT NULL,
  status        text NOT NULL DEFAULT 'pending',
  result_url    text,
  error_message text,
  job_id        uuid,
  started_at    timestamptz,
  completed_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE store_generation_sessions (
  id            text PRIMARY KEY,
  store_id      text NOT NULL,
  status        text NOT NULL DEFAULT 'pending',
  image_url     text,
  thumbnail_url text,
  failure       text,
  finished_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now()
);
