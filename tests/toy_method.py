"""A throwaway method for tests: LoRA on the query and value projections only, reading lora_r
and lora_alpha (the toy_method fixture). Module-level, so the engine host can register it too:
the window's process and the host each consult their own registry."""

from studio.core.methods import builders, counts, registry

NAME = "lora_qv"


def build(model, cfg, total_steps, meta):
    return builders.lora(model, cfg.replace(target_modules="q_proj,v_proj"), total_steps, meta)


def count(cfg, dims):
    return counts.lora(cfg.replace(target_modules="q_proj,v_proj"), dims)


def register() -> registry.Method:
    return registry.register(registry.Method(
        NAME, "LoRA (q, v)", "LoRA on the query and value projections only.", build,
        registry.MemoryModel(count, activation_factor=0.9), 3e-4, ("lora_r", "lora_alpha")))


def register_in_host(ctx) -> None:
    registry.unregister(NAME)  # a host that outlived an earlier test's registration
    register()


def unregister_in_host(ctx) -> None:
    registry.unregister(NAME)
