"""SQLite state through peewee. Nothing above this package imports peewee."""
