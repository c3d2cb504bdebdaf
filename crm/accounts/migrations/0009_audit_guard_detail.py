"""Reinstall the audit functions: the append-only guard now also holds an entry's ip and its
detail, except the filter an export was asked with, which erasing a person may blank (it can be
the person's name or phone typed into the search box, crm.transfer.erasure)."""

from django.db import migrations

# Frozen: the SQL this migration runs, copied from crm.accounts.audit_sql, so that later edits of
# that module cannot change what this migration does.
FUNCTIONS_SQL = r"""
CREATE OR REPLACE FUNCTION crm_audit_redacted(row_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    -- Every value but the keys that tie rows together becomes "•erased".
    SELECT CASE WHEN row_data IS NULL THEN NULL ELSE (
        SELECT coalesce(jsonb_object_agg(
            key,
            CASE WHEN key IN ('id', 'customer_id') OR value = 'null'::jsonb THEN value
                 ELSE to_jsonb('•erased'::text) END
        ), '{}'::jsonb)
        FROM jsonb_each(row_data)
    ) END
$fn$;

CREATE OR REPLACE FUNCTION crm_audit_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    before_row jsonb;
    after_row jsonb;
    arg text;
BEGIN
    IF current_setting('crm.audit_bulk', true) = 'on' THEN
        -- A bulk import's transaction (crm.transfer.bulk.audit_quiet): the import job records
        -- every row it created or updated, with before-images, and one audit entry per job.
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN before_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN after_row := to_jsonb(NEW); END IF;
    FOREACH arg IN ARRAY coalesce(TG_ARGV, ARRAY[]::text[]) LOOP
        IF left(arg, 1) = '-' THEN
            -- Ignored column: a change to it alone is not worth an entry (last_login).
            before_row := before_row - substr(arg, 2);
            after_row := after_row - substr(arg, 2);
        ELSE
            -- Secret column: show that it changed, never its value.
            IF before_row ? arg THEN
                before_row := jsonb_set(
                    before_row, ARRAY[arg], to_jsonb('•' || left(md5(before_row->>arg), 8)));
            END IF;
            IF after_row ? arg THEN
                after_row := jsonb_set(
                    after_row, ARRAY[arg], to_jsonb('•' || left(md5(after_row->>arg), 8)));
            END IF;
        END IF;
    END LOOP;
    IF TG_OP = 'UPDATE' AND before_row = after_row THEN
        RETURN NULL;
    END IF;
    IF current_setting('crm.audit_erasing', true) = 'on' THEN
        -- Erasing a person: record which fields changed, not what they held.
        before_row := crm_audit_redacted(before_row);
        after_row := crm_audit_redacted(after_row);
    END IF;
    EXECUTE format(
        'INSERT INTO %I.accounts_auditentry'
        ' (at, actor_id, actor_label, action, table_name, record_id, before, after, ip, detail)'
        ' VALUES (now(), $1, $2, $3, $4, $5, $6, $7, $8, ''{}''::jsonb)',
        TG_TABLE_SCHEMA
    ) USING
        nullif(current_setting('crm.actor_id', true), '')::bigint,
        coalesce(nullif(current_setting('crm.actor_label', true), ''), 'system'),
        lower(TG_OP),
        TG_TABLE_NAME,
        coalesce(after_row->>'id', before_row->>'id', ''),
        before_row,
        after_row,
        nullif(current_setting('crm.actor_ip', true), '')::inet;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION crm_audit_detail_redaction(old_detail jsonb, new_detail jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $fn$
    -- An entry's detail may change, when a person is erased, in its "filter" key alone.
    SELECT CASE WHEN new_detail IS NOT DISTINCT FROM old_detail THEN true
                WHEN jsonb_typeof(old_detail) = 'object' AND jsonb_typeof(new_detail) = 'object'
                THEN (new_detail - 'filter') = (old_detail - 'filter')
                ELSE false END
$fn$;

CREATE OR REPLACE FUNCTION crm_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- The one change allowed: erasing a person redacts the values their entries hold, inside
    -- the erasing transaction, and touches nothing else of the entry (of its detail, only the
    -- filter an export was asked with, which may be the person's name or phone).
    IF TG_OP = 'UPDATE' AND current_setting('crm.audit_erasing', true) = 'on'
        AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action
        AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.actor_label = OLD.actor_label
        AND NEW.table_name = OLD.table_name AND NEW.record_id = OLD.record_id
        AND NEW.ip IS NOT DISTINCT FROM OLD.ip
        AND crm_audit_detail_redaction(OLD.detail, NEW.detail)
        AND NEW.before IS NOT DISTINCT FROM crm_audit_redacted(OLD.before)
        AND NEW.after IS NOT DISTINCT FROM crm_audit_redacted(OLD.after) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only' USING ERRCODE = 'insufficient_privilege';
END
$fn$;

DROP TRIGGER IF EXISTS crm_audit_append_only ON accounts_auditentry;
CREATE TRIGGER crm_audit_append_only BEFORE UPDATE OR DELETE ON accounts_auditentry
    FOR EACH ROW EXECUTE FUNCTION crm_audit_append_only();
DROP TRIGGER IF EXISTS crm_audit_no_truncate ON accounts_auditentry;
CREATE TRIGGER crm_audit_no_truncate BEFORE TRUNCATE ON accounts_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_dash_manage_segments")]

    operations = [migrations.RunSQL(FUNCTIONS_SQL, migrations.RunSQL.noop)]
