-- Identity functions for the registry cross-checks (same rules as supervision/identity.py).

CREATE OR REPLACE FUNCTION expro_id_check_char(p_first17 text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substr('10X98765432',
                  (sum(substr(p_first17, i, 1)::int * ((1::bigint << (18 - i)) % 11)) % 11)::int + 1, 1)
    FROM generate_series(1, 17) AS i
$$;

CREATE OR REPLACE FUNCTION expro_id_problem(p_id text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := btrim(p_id);
    birth text;
    born date;
BEGIN
    IF length(v) NOT IN (15, 18) THEN RETURN 'length'; END IF;
    IF (length(v) = 18 AND v !~ '^[0-9]{17}[0-9Xx]$') OR (length(v) = 15 AND v !~ '^[0-9]{15}$') THEN
        RETURN 'characters';
    END IF;
    birth := CASE WHEN length(v) = 18 THEN substr(v, 7, 8) ELSE '19' || substr(v, 7, 6) END;
    IF substr(birth, 5, 2) NOT BETWEEN '01' AND '12' OR substr(birth, 7, 2) NOT BETWEEN '01' AND '31' THEN
        RETURN 'birth_date';
    END IF;
    IF substr(birth, 1, 4)::int < 1880 OR substr(birth, 7, 2)::int > extract(day FROM
           make_date(substr(birth, 1, 4)::int, substr(birth, 5, 2)::int, 1) + interval '1 month - 1 day') THEN
        RETURN 'birth_date';
    END IF;
    born := make_date(substr(birth, 1, 4)::int, substr(birth, 5, 2)::int, substr(birth, 7, 2)::int);
    IF born > current_date THEN
        RETURN 'birth_date';
    END IF;
    IF length(v) = 18 AND expro_id_check_char(substr(v, 1, 17)) <> upper(substr(v, 18, 1)) THEN
        RETURN 'check_char';
    END IF;
    RETURN NULL;
END $$;

-- NFKC (full-width forms, ideographic space -> space), no whitespace, one kind of middle dot
CREATE OR REPLACE FUNCTION expro_norm_name(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(regexp_replace(normalize(COALESCE(p_name, ''), NFKC), '[[:space:]]+', '', 'g'),
                     '・•‧∙･', '·····')
$$;

-- the registry as seen by one project: its own extracts and the city-wide ones, latest extract first
CREATE OR REPLACE FUNCTION expro_registry_extracts(p_project bigint) RETURNS TABLE (extract_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT id FROM registry_extract WHERE project_id = p_project OR project_id IS NULL
$$;

-- probable intended IDs: the 17-digit body with one digit changed or two adjacent digits swapped
-- (or unchanged), completed with its own check character; birth date must be valid
CREATE OR REPLACE FUNCTION expro_id_candidates(p_id text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
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
