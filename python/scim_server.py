"""scim2-server, with its bearer token read from the environment instead of the command line.

Started by devstack/stack.ts. A token in argv is readable by every local user (ps, /proc/<pid>/cmdline);
the environment of a process is readable only by its owner. The token is handed to scim2-server's own
argument parser inside this process, so its behaviour is otherwise unchanged.
"""
import os
import sys

from scim2_server.testserver.cli import main

if __name__ == "__main__":
    token = os.environ.pop("SCIM2_SERVER_BEARER_TOKEN", None)
    if token:
        sys.argv += ["--bearer-token", token]
    sys.exit(main())
