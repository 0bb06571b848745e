import pytest

from service import db, migrate


def test_query_blocks_are_loaded_by_name(tmp_path):
    (tmp_path / "a.sql").write_text(
        "-- file comment\n-- name: one\nSELECT 1;\n\n-- name: two\nSELECT $1::int;\n"
    )
    queries = db.load_queries(tmp_path)
    assert dict(queries) == {"one": "SELECT 1", "two": "SELECT $1::int"}
    with pytest.raises(TypeError):
        queries["three"] = "SELECT 3"  # read-only


def test_a_name_defined_twice_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("-- name: one\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: one\nSELECT 2;\n")
    with pytest.raises(db.QueryFileError, match="defined twice"):
        db.load_queries(tmp_path)


def test_sql_before_the_first_header_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("SELECT 0;\n-- name: one\nSELECT 1;\n")
    with pytest.raises(db.QueryFileError, match="before the first"):
        db.load_queries(tmp_path)


def test_migration_files_must_be_numbered_snake_case(tmp_path):
    (tmp_path / "0001_Create Things.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="NNNN_snake_case"):
        migrate.discover(tmp_path)


def test_the_shipped_migrations_are_ordered_and_unique():
    migrations = migrate.discover(db.sql_dir() / "migrations")
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions))
    assert versions[0] == 1
