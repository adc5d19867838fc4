-- What was done to the member's start image before upload (centre-cropped / padded to the
-- video's aspect ratio), shown on the result card. NULL: no start image, or it already fit.

ALTER TABLE jobs ADD COLUMN start_image_note TEXT
    CHECK (start_image_note IS NULL OR length(start_image_note) BETWEEN 1 AND 200);
