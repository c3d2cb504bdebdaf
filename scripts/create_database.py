"""Create the database named in DATABASE_URL when it does not exist yet."""

import os
import sys
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm")
name = urlsplit(url).path.lstrip("/")
if not name:
    sys.exit("DATABASE_URL names no database")
admin_url = urlsplit(url)._replace(path="/postgres").geturl()
with psycopg.connect(admin_url, autocommit=True) as conn:
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if not exists:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8'").format(sql.Identifier(name)))
        print(f"database {name} created")
