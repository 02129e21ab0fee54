"""The one C extension (everything else is in pyproject.toml): a SQLite VFS shim that writes a commit's WAL frames
in one call (src/zcontacts/storage/wal_buffer.py). Optional: without a C compiler or SQLite's headers (Debian:
libsqlite3-dev) zcontacts installs and runs without it."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "zcontacts.storage._walbuffer",
            sources=["src/zcontacts/storage/_walbuffer.c"],
            libraries=["sqlite3"],
            optional=True,
        )
    ]
)
