-- Owners and the assets they upload. BIGINT everywhere: the app reads ids and sizes as i64
-- through sqlx's Any driver, which does not widen INT4.
CREATE TABLE owners (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE
);

CREATE TABLE assets (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES owners (id)
);

CREATE INDEX assets_owner_id ON assets (owner_id);
