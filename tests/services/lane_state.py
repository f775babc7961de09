"""Functions tests run in the engine host to look at a lane's state. A module of its own, with
no Qt: the host imports it by name to run them."""


def loaded_models(ctx) -> int:
    """How many models the probes keep loaded in this lane (services/probe_host.py)."""
    return len(ctx.state.get("models", {}))
