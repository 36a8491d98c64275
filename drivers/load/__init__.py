"""Load drivers on Locust: the message client, users, locustfiles, hooks and the launcher.

Modules that import Locust (``users``, ``plugins``, ``locustfiles``, ``run_locust``'s main)
only ever run inside a Locust process started by ``launcher``; the ``swarmscope`` process
imports only the Locust-free ones (``launcher``, ``options``, ``shapes``, ``client``).
"""
