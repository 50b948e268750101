-- The archive. Dates are ISO 8601 strings in UTC, so text order is time order.

CREATE TABLE IF NOT EXISTS section (
    id      INTEGER PRIMARY KEY,
    slug    TEXT NOT NULL UNIQUE,
    name    TEXT NOT NULL UNIQUE,
    article_count INTEGER NOT NULL DEFAULT 0   -- kept by store.save
);

CREATE TABLE IF NOT EXISTS article (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    section_id  INTEGER NOT NULL REFERENCES section (id),
    headline    TEXT NOT NULL,
    standfirst  TEXT,
    byline      TEXT,
    body_html   TEXT NOT NULL,      -- sanitised on import
    body_text   TEXT NOT NULL,      -- body_html as plain text, for search and snippets
    excerpt     TEXT NOT NULL,      -- for listings, so they never read the body
    published   TEXT NOT NULL,
    updated     TEXT,               -- set when a re-import changes the article
    tags        TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
    source_url  TEXT,
    word_count  INTEGER NOT NULL,
    checksum    TEXT NOT NULL,      -- of the imported record: unchanged re-imports skip it
    index_pending INTEGER NOT NULL DEFAULT 1  -- 1 until the search index holds this version
);

-- Section listings and previous/next walk this index; the home page walks the next.
CREATE INDEX IF NOT EXISTS article_by_section
    ON article (section_id, published, id);
CREATE INDEX IF NOT EXISTS article_by_date
    ON article (published, id);
CREATE INDEX IF NOT EXISTS article_pending
    ON article (index_pending) WHERE index_pending;

CREATE TABLE IF NOT EXISTS article_tag (
    tag         TEXT NOT NULL,
    article_id  TEXT NOT NULL REFERENCES article (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, article_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS article_tag_by_article ON article_tag (article_id);

-- When the archive last changed, for Last-Modified and conditional requests.
CREATE TABLE IF NOT EXISTS archive_meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);

-- The latest change number of each cache tag (see store.py): a cached page read at
-- change N is stale once any tag it read has a higher number. Written in the same
-- transaction as the change, so every process serving pages sees it at once.
CREATE TABLE IF NOT EXISTS cache_tag (
    tag     TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS cache_tag_by_seq ON cache_tag (seq);
