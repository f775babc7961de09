"""Several processes training one run: who is who, which rows each trains, and the few
collectives the loop needs. The processes are started by torchrun (launch.py); this module runs
inside each of them.

Same result as one process: every optimizer step trains one step group of `effective_batch`
rows (batch_size x grad_accum x processes), planned by batching.epoch_plan exactly as a
one-process run with that effective batch plans it. Rank r trains the rows group[r::size]
(strided, so the length-sorted groups give every rank similar lengths). Every rank knows the
whole group, so each divides its rows' loss sum by the label tokens of the WHOLE group; summing
the gradients across ranks then gives the one-process gradient of the group's token-mean loss
(not an average of per-rank means, which would weigh a short row on a rank with few tokens more).

- ddp: every rank holds the whole model; after the step's last micro-batch the trainable
  gradients are summed across ranks in one flat all-reduce. torch's DistributedDataParallel
  wrapper is not used: the label-only loss (loss.py) calls the decoder inside the model directly,
  which bypasses the wrapper's forward and with it its gradient hooks. Reducing once at the
  accumulation boundary is what DDP's no_sync() does.
- fsdp: torch's fully_shard (FSDP2) on every decoder layer and on the causal LM; it averages
  gradients across ranks, so each rank's loss is multiplied by the rank count (World.loss_scale)
  and the average is the sum above (a plain sum would need PREMUL_SUM, which gloo lacks).
  Forward and backward are collectives, so every rank runs the same number of micro-batches (a
  rank short of rows runs a zero-weight one). Checkpoints hold the FULL state (gathered,
  written by rank 0): the same files as a one-process run, so a run resumes with any process
  count, with or without fsdp. The cost: rank 0 holds the trainable weights and optimizer state
  in CPU RAM while it saves (a sharded torch.distributed.checkpoint would not; not done).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

from studio.core.config import RunConfig
from studio.core.errors import ConfigError

TIMEOUT_MIN = 30  # a collective waiting this long means a peer hangs: the run fails, not waits
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
# what a collective raises when a peer process has died (gloo, nccl) or hangs
PEER_GONE = ("connection closed by peer", "connection reset by peer", "broken pipe",
             "timed out", "communicator was aborted", "heartbeat")
LOST_PEER = "another process of the run stopped (killed or failed)"  # the launcher names it


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    strategy: str = "ddp"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def fsdp(self) -> bool:
        return self.active and self.strategy == "fsdp"

    @property
    def loss_scale(self) -> int:
        """fsdp averages gradients across ranks (a sum would need PREMUL_SUM, which gloo
        lacks): the loss is scaled by the rank count so that the average is the sum."""
        return self.size if self.fsdp else 1

    # --- which rows this rank trains ------------------------------------------------------
    def micro_batches(self, group: list, batch_size: int) -> list[tuple[list, float]]:
        """This rank's micro-batches of a step group, each with its weight (1.0, or 0.0 for
        the stand-in fsdp needs on a rank short of rows)."""
        mine = group[self.rank::self.size]
        mbs = [(mine[i:i + batch_size], 1.0) for i in range(0, len(mine), batch_size)]
        if self.fsdp:  # every rank must run as many forwards as rank 0, which has the most
            most = -(-len(group[0::self.size]) // batch_size)
            mbs += [([group[0]], 0.0)] * (most - len(mbs))
        return mbs

    def rows_of(self, group: list) -> list:
        return group[self.rank::self.size]

    # --- collectives (no-ops in one process) ------------------------------------------------
    def sum(self, value: float) -> float:
        if not self.active:
            return value
        import torch
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=_comm_device(self))
        dist.all_reduce(t)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on one (a stop request seen by one process)."""
        return self.sum(1.0 if flag else 0.0) > 0 if self.active else flag

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, obj: Any) -> list:
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out: list = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def sync_gradients(self, params: list) -> None:
        """ddp: sum the trainable gradients across ranks, one flat buffer (a rank that trained
        no row adds zeros). fsdp reduces inside backward."""
        if not self.active or self.fsdp:
            return
        import torch
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numel,)
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n


SINGLE = World()


def _comm_device(world: World) -> str:
    import torch.distributed as dist

    return f"cuda:{world.local_rank}" if dist.get_backend() == "nccl" else "cpu"


def in_torchrun() -> bool:
    return all(k in os.environ for k in ENV_KEYS)


def start(cfg: RunConfig) -> World:
    """This process's place in the run, with the process group joined. One process (no
    torchrun, processes: 1) is SINGLE. Refuses a config whose process count does not match
    how the processes were started."""
    if not in_torchrun():
        if cfg.processes > 1:
            raise ConfigError(f"processes: {cfg.processes} starts one process each through "
                              f"torchrun: python main.py train CONFIG --processes "
                              f"{cfg.processes}")
        return SINGLE
    size = int(os.environ["WORLD_SIZE"])
    if size != cfg.processes:
        raise ConfigError(f"processes: {cfg.processes} in the config, but {size} processes "
                          "were started")
    world = World(int(os.environ["RANK"]), size, int(os.environ["LOCAL_RANK"]),
                  cfg.distributed)
    if world.active:
        _join(world, cfg)
    return world


def check(cfg: RunConfig) -> None:
    """What several processes cannot do yet: refused before anything loads."""
    if cfg.processes == 1:
        return
    if cfg.is_preference or cfg.is_grpo:
        raise ConfigError(f"stage {cfg.stage} trains in one process for now; set processes: 1")
    if cfg.eval_data:
        raise ConfigError("eval_data is scored in one-process runs only; score the finished "
                          "run with python main.py eval, or set processes: 1")
    if cfg.distributed == "fsdp" and cfg.method_spec.quantized_base:
        raise ConfigError(f"{cfg.method} keeps a 4-bit base that fsdp cannot shard; use "
                          "distributed: ddp")


def _join(world: World, cfg: RunConfig) -> None:
    import torch
    import torch.distributed as dist

    from studio.core import device as policy

    kind = policy.resolve(cfg.device)
    if kind == "cuda":
        torch.cuda.set_device(world.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=TIMEOUT_MIN))


def finish(world: World) -> None:
    if world.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def device_of(world: World, device: Any) -> Any:
    """One GPU per process: cuda -> cuda:LOCAL_RANK."""
    if world.active and device.type == "cuda":
        import torch

        return torch.device("cuda", world.local_rank)
    return device


# --- fsdp ------------------------------------------------------------------------------------

def shard(s: Any) -> None:
    """fsdp: shard the set-up model (checkpoint already restored into it) and rebuild the
    optimizer on the sharded parameters, carrying over its state. The label-only loss reaches
    past the sharded modules' forward, so the model's own forward computes the loss."""
    if not s.world.fsdp:
        return
    from torch.distributed.fsdp import fully_shard

    from studio.core.train import optim
    from studio.core.train.loss import unwrap_causal_lm

    lm = unwrap_causal_lm(s.model)
    decoder = getattr(lm, lm.base_model_prefix, lm)
    layers = list(getattr(decoder, "layers", []))
    for layer in layers:
        fully_shard(layer)
    fully_shard(lm)
    saved = s.optimizer.state_dict()
    s.optimizer, s.optimizer_name = optim.build_optimizer(s.model, s.cfg, s.device.type)
    if saved["state"]:
        s.optimizer.load_state_dict(_sharded_state(saved, s.optimizer))
    s.fast_loss = False


def _sharded_state(saved: dict, optimizer: Any) -> dict:
    import torch
    from torch.distributed.tensor import distribute_tensor

    params = [p for g in optimizer.param_groups for p in g["params"]]
    for idx, st in saved["state"].items():
        p = params[idx]
        for k, v in st.items():
            if torch.is_tensor(v) and v.dim() > 0 and v.shape == p.shape:
                st[k] = distribute_tensor(v.to(p.device), p.device_mesh, p.placements)
    return saved


def full(t: Any) -> Any:
    """A plain tensor (a DTensor gathered: a collective, every rank calls it in turn)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def full_optimizer_state(optimizer: Any) -> dict:
    sd = optimizer.state_dict()  # its per-parameter dicts are the live state: copied here
    return {**sd, "state": {i: {k: full(v) for k, v in st.items()}
                            for i, st in sd["state"].items()}}


def full_model_state(s: Any) -> dict:
    """The whole model's state dict, gathered to CPU on rank 0 (empty elsewhere), keyed as
    `s.model.state_dict()` is (PEFT: base_model.model.<causal LM key>)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from studio.core.train.loss import unwrap_causal_lm

    lm = unwrap_causal_lm(s.model)
    sd = get_model_state_dict(lm, options=StateDictOptions(full_state_dict=True,
                                                           cpu_offload=True))
    prefix = "base_model.model." if lm is not s.model else ""
    return {prefix + k: v for k, v in sd.items()}


# --- when a process is lost ------------------------------------------------------------------

def failure_reason(e: BaseException, world: World, step: int, kept: str,
                   run_dir: Any) -> str:
    """One line for a collective that failed because another process of the run died (killed,
    crashed, out of memory on its device); "" for any other error."""
    if not world.active or not _lost_peer(e):
        return ""
    return (f"{LOST_PEER} during step {step + 1}; "
            f"{kept}; continue with: python main.py resume {run_dir} --processes "
            f"{world.size}")


def _lost_peer(e: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(w in text for w in PEER_GONE)
