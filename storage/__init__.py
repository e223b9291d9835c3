"""SuraSmart's PostgreSQL storage: tables, repositories, migrations and the embedded server."""
