-- Which version of the read-model tables (projections/sql) is live. No row:
-- version 1, as created by 0002. A start with another version rebuilds the
-- read models from the log in a scratch space and swaps them in.
CREATE TABLE read_model_schema
(
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version integer NOT NULL
);
