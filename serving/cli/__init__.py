"""The `sura` command line."""
