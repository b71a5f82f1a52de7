"""Training script for the distributed test: `torchrun --nproc_per_node 2 dist_train.py OUT`
or plain `python dist_train.py OUT` (one process). Writes the final parameters and history."""

import sys

import torch
import torch.distributed as dist

import fem_prdp.mesh as M
from fem_prdp.fem import FunctionSpace
from fem_prdp.learn import EmulatorTask, FieldMLP, Trainer, random_fields, reference_trajectories
from fem_prdp.physics import HeatStepper
from fem_prdp.prdp import PRDPController


def main(out: str) -> None:
    import os

    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    wrapped = []  # DistributedDataParallel constructions (the trainer must use it under torchrun)
    ddp_init = torch.nn.parallel.DistributedDataParallel.__init__

    def counting_init(self, *args, **kwargs):
        wrapped.append(1)
        ddp_init(self, *args, **kwargs)

    torch.nn.parallel.DistributedDataParallel.__init__ = counting_init
    torch.use_deterministic_algorithms(True)
    V = FunctionSpace(M.uniform_interval(20), 1)
    stepper = HeatStepper(V, nu=1.0, dt=1e-3, dirichlet={"left": 0.0, "right": 0.0}, lumped=True)
    u0 = random_fields(V.dof_points, 40, seed=5)
    u0[:, V.boundary_dofs()] = 0.0
    data = reference_trajectories(stepper.step, u0, 2)
    torch.manual_seed(0)
    model = FieldMLP(V.n_dofs, width=16, depth=2, residual=True).double()
    trainer = Trainer(EmulatorTask(model, stepper), torch.optim.Adam(model.parameters(), lr=1e-3),
                      PRDPController(ema_window=2, error_window=1, plateau_threshold=0.99), data[:32], data[32:],
                      batch_size=8, checkpoint_dir=f"{out}/ckpt", progress=False)
    trainer.fit(4)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0:
        torch.save({"params": [p.detach() for p in model.parameters()], "history": trainer.history,
                    "iters": trainer.meter.total().iterations, "ddp": len(wrapped)}, f"{out}/result.pt")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
