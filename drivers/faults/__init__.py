"""Faults injected into cluster nodes that undo themselves on the node, even if the controller dies.

Every fault (partition, bandwidth cap, delay/jitter/loss, CPU/memory stress, engine stop,
"poweroff") is applied over SSH by one shell script that first writes the fault's revert
script and arms a detached timer ON THE TARGET, then applies the fault. The timer runs the
revert after the fault's duration whatever happens to the controller or the SSH link; an
early revert cancels the timer; reverting twice is harmless. Each active fault is a small
set of files in a state directory on the target, so `swarmscope fault list` and
`swarmscope fault revert --all` work from a new controller after a crash.

Modules: ``model`` (the fault record and ids), ``kinds`` (what each fault does, as shell,
with ``shell``'s building blocks), ``protocol`` (the arm-timer-then-apply and revert
scripts), ``transport`` (SSH with sudo, and the lab's console), ``injector`` (apply, list,
revert), ``recorder`` (faults.json and the pushed ``swarmscope_fault_*`` series),
``thermal`` (temperature and throttling samples), ``observe`` (node events, replacement
tasks, mesh snapshots, the agent's series: what a fault does to the cluster) and
``heartbeat`` (Swarm's dispatcher heartbeat, which sets how fast a loss is detected).
"""
