"""The Ray Serve shell and the `sura` command line."""
