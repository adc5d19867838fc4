-- Reserved: issue 13's migration 0015 belongs to another part (credit packs). This no-op keeps
-- the numbers gapless on the strikes branch; the merge replaces it with the real 0015.
SELECT 1;
