"""SuraSmart's PostgreSQL storage (tables, repositories, migrations): built in the storage issue."""
