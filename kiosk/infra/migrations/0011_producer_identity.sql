-- One producer, one identity (issue 14 item 2; docs/certificates.md §2): every identifier
-- resolves to the producer's key (producers.producer_id).
--
-- card_token: the producer card's QR carries this random token (AQP2:<token>), never the
-- sequential producer id: a card cannot be guessed from another. Existing producers get
-- a token now; their old AQP1 cards stop working and are printed again.
-- id_number: the 身份证号 (or 统一社会信用代码) when the producer gave it.
-- producer_phones: every phone a producer has used; a new phone bound keeps what was
-- attached to the old one (holds placed on "tel:<old phone>" still apply).

ALTER TABLE producers ADD COLUMN card_token TEXT;
ALTER TABLE producers ADD COLUMN id_number TEXT;
UPDATE producers SET card_token = upper(hex(randomblob(16))) WHERE card_token IS NULL;
CREATE UNIQUE INDEX producers_card_token ON producers (card_token)
    WHERE card_token IS NOT NULL;
CREATE UNIQUE INDEX producers_id_number ON producers (id_number)
    WHERE id_number IS NOT NULL;

CREATE TABLE producer_phones (
    phone       TEXT NOT NULL,
    producer_id TEXT NOT NULL REFERENCES producers (producer_id),
    bound_at    TEXT NOT NULL,
    PRIMARY KEY (phone, producer_id)
);
INSERT INTO producer_phones (phone, producer_id, bound_at)
    SELECT phone, producer_id, updated_at FROM producers;
