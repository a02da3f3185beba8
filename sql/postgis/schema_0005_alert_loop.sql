-- The alert loop: the verdict of verification survives rectification and closure; attachments by content hash.
ALTER TABLE alert ADD COLUMN verdict text CHECK (verdict IN ('confirmed', 'unfounded'));
ALTER TABLE alert ADD COLUMN closed_at timestamptz;

CREATE TABLE attachment (
    id          bigserial PRIMARY KEY,
    sha256      text NOT NULL UNIQUE,
    media_type  text NOT NULL,
    size_bytes  bigint NOT NULL,
    file_name   text NOT NULL,
    path        text NOT NULL,
    uploaded_by bigint REFERENCES app_user(id),
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
