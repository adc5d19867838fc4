-- Interactions the bot is acknowledging publicly ("thinking…") but has not yet turned into a
-- job. A run killed in between leaves a row here; the next run tells the member nothing was
-- charged instead of leaving the placeholder thinking forever. Written before the
-- acknowledgement is sent, so a kill while Discord is answering it is covered too.
CREATE TABLE open_acks (
    interaction_id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL,
    token          TEXT    NOT NULL,
    expires_at     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL
) STRICT;
