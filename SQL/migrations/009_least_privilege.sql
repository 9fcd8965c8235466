-- pgworker migration 009: roles with a written contract (docs/security.md).
--
-- Creates the group roles pgworker grants its rights to, and moves roles that the old
-- grant_app / grant_worker had granted rights to straight on pgworker's objects into the
-- matching group, revoking those direct rights (the old grant_worker gave EXECUTE on every
-- function and writes on every table; the old grant_app gave UPDATE on pgworker.jobs). What each
-- group may do is defined in SQL/privileges/grants.sql, applied on every migrate.
--
-- Roles belong to the whole cluster, so these exist once for all databases of a cluster; each
-- database grants them rights on its own pgworker schema only. Creating them needs a superuser
-- or a role with CREATEROLE; where the migrating role has neither, create them once beforehand
-- (the error says how).

DO $roles$
DECLARE
    name text;
    missing text[] := '{}';
BEGIN
    FOREACH name IN ARRAY ARRAY['pgworker_app', 'pgworker_worker', 'pgworker_admin', 'pgworker_stager', 'pgworker_enqueuer'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = name) THEN
            missing := missing || name;
        END IF;
    END LOOP;
    IF cardinality(missing) = 0 THEN
        RETURN;
    END IF;
    IF NOT (SELECT r.rolsuper OR r.rolcreaterole FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION 'pgworker: the roles % do not exist and % may not create them', missing, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('As a superuser, run once: %s GRANT pgworker_stager, pgworker_enqueuer TO %I;',
                                (SELECT string_agg(format('CREATE ROLE %I NOLOGIN;', m), ' ') FROM unnest(missing) m),
                                current_user);
    END IF;
    FOREACH name IN ARRAY missing LOOP
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', name);
    END LOOP;
END
$roles$;

-- An admin may do what an app and a worker may.
DO $admin$
BEGIN
    IF NOT pg_catalog.pg_has_role('pgworker_admin', 'pgworker_app', 'MEMBER')
       OR NOT pg_catalog.pg_has_role('pgworker_admin', 'pgworker_worker', 'MEMBER') THEN
        GRANT pgworker_app, pgworker_worker TO pgworker_admin;
    END IF;
END
$admin$;

-- trigger_row_json takes the table, to tell built-in column types from user-defined ones.
DROP FUNCTION IF EXISTS pgworker.trigger_row_json(text, text[]);

-- The owner of the schema (whoever runs migrate) hands definer functions to the two owner roles,
-- which needs membership unless it is a superuser.
DO $membership$
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        IF NOT pg_catalog.pg_has_role(current_user, 'pgworker_stager', 'MEMBER')
           OR NOT pg_catalog.pg_has_role(current_user, 'pgworker_enqueuer', 'MEMBER') THEN
            EXECUTE format('GRANT pgworker_stager, pgworker_enqueuer TO %I', current_user);
        END IF;
    END IF;
END
$membership$;

-- Roles with rights granted straight on pgworker's tables by the old grant functions: a role
-- that could write pgworker.workers was a worker, one that could insert jobs an app. Each joins
-- its group and loses the direct rights.
DO $legacy$
DECLARE
    grantee oid;
    is_worker boolean;
BEGIN
    FOR grantee IN
        SELECT DISTINCT acl.grantee
        FROM pg_catalog.pg_class c
        CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS acl
        WHERE c.relnamespace = 'pgworker'::regnamespace
          AND acl.grantee <> 0
          AND acl.grantee <> c.relowner
          AND acl.grantee NOT IN (SELECT r.oid FROM pg_catalog.pg_roles r
                                  WHERE r.rolname IN ('pgworker_app', 'pgworker_worker', 'pgworker_admin',
                                                      'pgworker_stager', 'pgworker_enqueuer'))
    LOOP
        is_worker := pg_catalog.has_table_privilege(grantee, 'pgworker.workers', 'INSERT');
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA pgworker FROM %s', grantee::regrole);
        EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgworker FROM %s', grantee::regrole);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgworker FROM %s', grantee::regrole);
        EXECUTE format('REVOKE ALL ON SCHEMA pgworker FROM %s', grantee::regrole);
        EXECUTE format('GRANT %I TO %s', CASE WHEN is_worker THEN 'pgworker_worker' ELSE 'pgworker_app' END, grantee::regrole);
    END LOOP;
END
$legacy$;
