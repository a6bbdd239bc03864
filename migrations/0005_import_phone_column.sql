-- Where an import's phone column was: its name as the file's header wrote it and its place among
-- the file's columns (0-based). `imports.columns` names every other column; with these two, an
-- export can give the file's own columns back in their own order (`export --columns original`,
-- a recall list that imports straight into a new campaign). NULL for imports made before.
ALTER TABLE imports ADD COLUMN phone_column TEXT;
ALTER TABLE imports ADD COLUMN phone_position INTEGER;
