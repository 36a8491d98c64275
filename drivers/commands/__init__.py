"""One module per `swarmscope` command group; each exposes ``register(subparsers)``."""
