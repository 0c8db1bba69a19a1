"""Make a password hash for AUTH_USERS: ``python -m app.server.auth USER``.

Prints ``USER:HASH``; store it as a secret (never the password itself).
"""

from __future__ import annotations

import getpass
import sys

from werkzeug.security import generate_password_hash


def main(argv: list[str]) -> int:
    """Ask for a password twice and print the AUTH_USERS line for it."""
    if len(argv) != 1 or ":" in argv[0]:
        print("usage: python -m app.server.auth USER", file=sys.stderr)
        return 2
    password = getpass.getpass("Password: ")
    if len(password) < 12:
        print("Use at least 12 characters.", file=sys.stderr)
        return 1
    if getpass.getpass("Again: ") != password:
        print("The passwords differ.", file=sys.stderr)
        return 1
    print(f"{argv[0]}:{generate_password_hash(password)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
