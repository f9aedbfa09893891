"""Child targets of the Listener/Client tests (spawned children import them by name)."""

import sys


def send_to_listener(modname, address, authkey, payload):
    """Connect to the listener at *address* and send *payload*; exit 3 if refused."""
    __import__(modname + ".connection")
    connection = sys.modules[modname + ".connection"]
    try:
        with connection.Client(address, authkey=authkey) as c:
            c.send(payload)
            c.recv()  # wait for the parent's acknowledgement
    except connection.AuthenticationError:
        sys.exit(3)
