-- GB 11643 checks with an explicit reference date (IMMUTABLE) and one for today in China (STABLE).
-- The same rules as supervision/identity.py (id_problem, id_problems); tests/data/gb11643_vectors.csv
-- holds all three to them. The value is checked as stored: nothing is stripped or normalised.

CREATE OR REPLACE FUNCTION expro_id_problem(p_id text, p_on date) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    y int;
    m int;
    d int;
BEGIN
    IF p_id IS NULL OR p_id = '' THEN RETURN 'length'; END IF;
    IF p_id ~ '[^0-9Xx]' THEN RETURN 'characters'; END IF;
    IF length(p_id) <> 18 THEN RETURN 'length'; END IF;          -- 15-digit pre-1999 numbers included
    IF p_id !~ '^[0-9]{17}[0-9Xx]$' THEN RETURN 'characters'; END IF;
    y := substr(p_id, 7, 4)::int;
    m := substr(p_id, 11, 2)::int;
    d := substr(p_id, 13, 2)::int;
    -- a real date from 1900-01-01 (supervision.identity.EARLIEST_BIRTH) to the reference date
    IF y < 1900 OR m NOT BETWEEN 1 AND 12 OR d < 1
       OR d > extract(day FROM make_date(y, m, 1) + interval '1 month - 1 day') THEN
        RETURN 'birth_date';
    END IF;
    IF make_date(y, m, d) > p_on THEN RETURN 'birth_date'; END IF;
    IF expro_id_check_char(substr(p_id, 1, 17)) <> upper(substr(p_id, 18, 1)) THEN RETURN 'check_char'; END IF;
    RETURN NULL;
END $$;

-- today in China: stable (one value per statement), so never usable in an index or a generated column
CREATE OR REPLACE FUNCTION expro_id_problem(p_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT expro_id_problem(p_id, (now() AT TIME ZONE 'Asia/Shanghai')::date)
$$;

-- probable intended IDs: the 17-digit body with one digit changed or two adjacent digits swapped
-- (or unchanged), completed with its own check character; valid today (so STABLE, like expro_id_problem(text))
CREATE OR REPLACE FUNCTION expro_id_candidates(p_id text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH body AS (SELECT substr(upper(btrim(p_id)), 1, 17) AS b WHERE btrim(p_id) ~ '^[0-9]{17}[0-9Xx]?$'),
    variants AS (
        SELECT b AS v FROM body
        UNION
        SELECT overlay(b PLACING d FROM i FOR 1) FROM body, generate_series(1, 17) AS i,
               unnest(string_to_array('0,1,2,3,4,5,6,7,8,9', ',')) AS d
        UNION
        SELECT overlay(b PLACING substr(b, i + 1, 1) || substr(b, i, 1) FROM i FOR 2) FROM body, generate_series(1, 16) AS i
    )
    SELECT v || expro_id_check_char(v) AS c FROM variants
    WHERE v || expro_id_check_char(v) <> upper(btrim(p_id)) AND expro_id_problem(v || expro_id_check_char(v)) IS NULL
$$;
